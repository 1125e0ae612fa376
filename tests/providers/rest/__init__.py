"""Tests of the generic REST provider and its fake JSON API."""
