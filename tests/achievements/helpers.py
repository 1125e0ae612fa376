"""Helpers of the achievement tests: definitions, learners, progress rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model

from integrations.models import Integration
from portal.achievements.models import Achievement, Criterion, EarnedAchievement
from portal.events.models import Event
from portal.learning.models import Course, Progress


def make_achievement(slug: str, criterion: str, **values: Any) -> Achievement:
    """Create an achievement, checked as the admin checks it."""
    achievement = Achievement(
        slug=slug, name=values.pop("name", slug.replace("-", " ").title())
    )
    achievement.criterion = criterion
    for key, value in values.items():
        setattr(achievement, key, value)
    achievement.full_clean()
    achievement.save()
    return achievement


def first_course(**values: Any) -> Achievement:
    """Create "completed a course" (any course unless ``course`` is given)."""
    slug = values.pop("slug", "first-course")
    return make_achievement(slug, Criterion.COURSE_COMPLETED, **values)


def make_learner(name: str):
    """Create a learner."""
    return get_user_model().objects.create_user(name, f"{name}@example.edu", "pw")


def make_course(integration: Integration, external_id: str) -> Course:
    """Create a synced course."""
    return Course.objects.create(
        integration=integration,
        external_id=external_id,
        title=f"Course {external_id}",
        content_hash="h",
    )


def make_progress(course: Course, learner: Any, percent: str = "10", **values: Any):
    """Create synced progress (no events: as if stored before achievements)."""
    return Progress.objects.create(
        integration=course.integration,
        course=course,
        learner=learner,
        external_id=f"p-{course.external_id}-{learner.pk}",
        percent=Decimal(percent),
        content_hash="h",
        **values,
    )


def earned_events() -> list[Event]:
    """Return the achievement.earned events, oldest first."""
    return list(Event.objects.filter(kind="achievement.earned").order_by("id"))


def holders(achievement: Achievement) -> set[int]:
    """Return the ids of the learners who earned ``achievement``."""
    return set(
        EarnedAchievement.objects.filter(achievement=achievement).values_list(
            "learner_id", flat=True
        )
    )
