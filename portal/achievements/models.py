"""Achievements school admins define, and the ones learners earned.

An achievement's criterion is one of a small set the portal can evaluate
from its own data (progress, completions, quiz results); criteria.py checks
and evaluates them. Awards are written by awarding.py in the transaction of
the change that earned them, together with their ``achievement.earned``
event.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Criterion(models.TextChoices):
    """What a learner has to do to earn an achievement."""

    COURSE_COMPLETED = "course_completed", "Completed a course"
    COURSES_COMPLETED = "courses_completed", "Completed a number of courses"
    QUIZ_SCORE = "quiz_score", "Scored at least a percentage on a quiz"
    PROGRESS_PERCENT = (
        "progress_percent",
        "Reached a percentage of progress in a course",
    )


class Achievement(models.Model):
    """An achievement learners can earn, once each."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(
        max_length=100,
        unique=True,
        help_text="A stable, URL-safe id, e.g. first-course.",
    )
    description = models.TextField(blank=True)
    enabled = models.BooleanField(
        default=True,
        db_index=True,
        help_text="Only enabled achievements are awarded and shown to learners.",
    )
    criterion = models.CharField(max_length=30, choices=Criterion.choices)
    course = models.ForeignKey(
        "learning.Course",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Completed a course, Reached a percentage: only this course "
        "(empty: any course).",
    )
    quiz = models.ForeignKey(
        "assessment.Quiz",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Scored on a quiz: only this quiz (empty: any quiz).",
    )
    min_courses = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Completed a number of courses: how many.",
    )
    min_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
        help_text="Scored on a quiz, Reached a percentage: the least percentage, "
        "more than 0 and at most 100.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Check the criterion's settings; each error names its field."""
        from portal.achievements.criteria import criterion_problems

        problems = criterion_problems(self)
        if problems:
            raise ValidationError(problems)


class EarnedAchievement(models.Model):
    """An achievement a learner earned, and what earned it.

    Unique per (achievement, learner): every achievement is earned once, so
    evaluating again, or awarding retroactively, never awards twice.
    """

    achievement = models.ForeignKey(
        Achievement, on_delete=models.CASCADE, related_name="earned"
    )
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="achievements"
    )
    earned_at = models.DateTimeField(db_index=True)
    course = models.ForeignKey(
        "learning.Course",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The course the earning record is about, if any.",
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The integration the earning record came from, if any.",
    )
    source = models.CharField(
        max_length=50,
        help_text="What earned it: an event kind (course.completed, quiz.completed, "
        "progress.updated), 'sync' (synced progress) or 'retroactive'.",
    )
    source_record = models.CharField(
        max_length=100,
        blank=True,
        help_text="The record that earned it, e.g. progress:12 or quiz_result:5.",
    )
    source_event = models.ForeignKey(
        "events.Event",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The event that earned it, when one did.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-earned_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["achievement", "learner"], name="unique_achievement_per_learner"
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} earned {self.achievement}"
