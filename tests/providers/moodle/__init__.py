"""Tests of the Moodle provider and its fake Moodle."""
