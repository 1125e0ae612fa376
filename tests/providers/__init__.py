"""Tests of the providers, one package per provider."""
