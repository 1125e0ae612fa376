"""Fixtures of the achievement tests: an LMS, two courses, two learners."""

from __future__ import annotations

import pytest

from integrations.models import Integration
from portal.learning.models import Course
from tests.achievements.helpers import make_course, make_learner


@pytest.fixture
def lms(db) -> Integration:
    """Return the LMS integration the courses come from."""
    return Integration.objects.create(name="lms", provider="rest")


@pytest.fixture
def biology(lms) -> Course:
    """Return a course."""
    return make_course(lms, "c1")


@pytest.fixture
def chemistry(lms) -> Course:
    """Return a second course."""
    return make_course(lms, "c2")


@pytest.fixture
def ada(db):
    """Return a learner."""
    return make_learner("ada")


@pytest.fixture
def bob(db):
    """Return a second learner."""
    return make_learner("bob")
