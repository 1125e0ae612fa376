"""Quizzes, their questions, and learners' results.

A quiz belongs to a course. Most are written in the portal; publishing sends
them to a quiz platform integration (portal/assessment/publish.py), and the
platform's results come back as QuizResult rows (results.py). Others are a
Canvas or Moodle course's own quizzes (origin ``lms``), synced read-only with
their results by the LMS integration's ``quizzes`` and ``quiz_results``
streams (portal/assessment/sync.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class PublishState(models.TextChoices):
    """Where a quiz stands on its way to the quiz platform."""

    DRAFT = "draft", "Draft"
    PUBLISHING = "publishing", "Publishing: the request may have reached the platform"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed: the platform refused it"


class QuizOrigin(models.TextChoices):
    """Where a quiz is written."""

    PORTAL = "portal", "Written in the portal"
    LMS = "lms", "Synced from an LMS (read-only)"


class Quiz(models.Model):
    """A quiz of a course: written in the portal, or synced from an LMS."""

    course = models.ForeignKey(
        "learning.Course", on_delete=models.CASCADE, related_name="quizzes"
    )
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    time_limit_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Empty: no time limit.",
    )
    version = models.PositiveIntegerField(
        default=1,
        help_text="Part of the publish idempotency key; raise it to publish anew.",
    )
    publish_state = models.CharField(
        max_length=12, choices=PublishState.choices, default=PublishState.DRAFT
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The quiz platform the quiz is published to.",
    )
    external_id = models.CharField(
        max_length=255, blank=True, help_text="The quiz's id at the platform."
    )
    published_version = models.PositiveIntegerField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    publish_error = models.TextField(blank=True)
    results_cursor = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="Where the results sync resumes; empty: from the first page.",
    )
    origin = models.CharField(
        max_length=10,
        choices=QuizOrigin.choices,
        default=QuizOrigin.PORTAL,
        editable=False,
        help_text="lms: a Canvas or Moodle quiz, owned by its integration.",
    )
    points_possible = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        editable=False,
        help_text="LMS quizzes: the points the LMS gives the quiz.",
    )
    due_at = models.DateTimeField(null=True, blank=True, editable=False)
    url = models.CharField(
        max_length=500, blank=True, editable=False, help_text="LMS quizzes: its page."
    )
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    seen_in_pass = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="LMS quizzes: when a complete sync no longer saw it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "quizzes"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=Q(origin="lms"),
                name="unique_lms_quiz",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def reference(self) -> str:
        """Return the client reference and idempotency key of this version."""
        return f"portal-quiz-{self.pk}-v{self.version}"

    def max_score(self) -> Decimal:
        """Return the sum of the questions' points."""
        return sum((q.points for q in self.questions.all()), Decimal(0))

    @property
    def is_from_lms(self) -> bool:
        """Tell whether the quiz is an LMS's own, synced read-only."""
        return self.origin == QuizOrigin.LMS

    def check_publishable(self) -> None:
        """Raise ValidationError naming why the quiz cannot be published."""
        if self.is_from_lms:
            raise ValidationError(
                {
                    "origin": "this quiz is synced from an LMS and lives there; "
                    "only quizzes written in the portal are published"
                }
            )
        questions = list(self.questions.all())
        if not questions:
            raise ValidationError(
                {"questions": "a quiz needs at least one question to be published"}
            )
        problems = {}
        for question in questions:
            try:
                question.full_clean()
            except ValidationError as error:
                problems[f"questions[{question.position}]"] = [
                    f"{field}: {message}"
                    for field, messages in error.message_dict.items()
                    for message in messages
                ]
        if problems:
            raise ValidationError(problems)


class QuestionKind(models.TextChoices):
    """The kinds of question a quiz can have."""

    MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
    TRUE_FALSE = "true_false", "True or false"
    SHORT_ANSWER = "short_answer", "Short answer"


class Question(models.Model):
    """One question of a quiz.

    ``choices`` (multiple choice) is a list of ``{"text", "correct"}``;
    ``correct_answer`` (true/false) is the right answer; ``accepted_answers``
    (short answer) lists the answers that count as right.
    """

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=QuestionKind.choices)
    prompt = models.TextField()
    points = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    choices = models.JSONField(default=list, blank=True)
    correct_answer = models.BooleanField(null=True, blank=True)
    accepted_answers = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["quiz_id", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(points__gt=0), name="question_points_positive"
            )
        ]

    def __str__(self) -> str:
        return self.prompt[:80]

    def clean(self) -> None:
        """Check the answer fields the question's kind needs, naming the problem."""
        errors: dict[str, str] = {}
        if not self.prompt or not self.prompt.strip():
            errors["prompt"] = "a question needs a prompt"
        if self.points is not None and self.points <= 0:
            errors["points"] = "points must be more than 0"
        if self.kind == QuestionKind.MULTIPLE_CHOICE:
            problem = _choices_problem(self.choices)
            if problem:
                errors["choices"] = problem
        elif self.choices:
            errors["choices"] = "only multiple-choice questions have choices"
        if self.kind == QuestionKind.TRUE_FALSE and self.correct_answer is None:
            errors["correct_answer"] = (
                "a true/false question needs its correct answer, true or false"
            )
        if self.kind == QuestionKind.SHORT_ANSWER:
            problem = _accepted_problem(self.accepted_answers)
            if problem:
                errors["accepted_answers"] = problem
        elif self.accepted_answers:
            errors["accepted_answers"] = "only short-answer questions accept answers"
        if errors:
            raise ValidationError(errors)


def _choices_problem(choices: Any) -> str:
    needs = (
        "a multiple-choice question needs at least two choices and one marked correct"
    )
    if not isinstance(choices, list) or len(choices) < 2:
        return needs
    for index, choice in enumerate(choices):
        if not isinstance(choice, dict) or set(choice) - {"text", "correct"}:
            return f"choice {index} must be {{'text': ..., 'correct': true|false}}"
        if not isinstance(choice.get("text"), str) or not choice["text"].strip():
            return f"choice {index} has no text"
        if not isinstance(choice.get("correct", False), bool):
            return f"choice {index}: 'correct' must be true or false"
    if not any(choice.get("correct") for choice in choices):
        return needs
    return ""


def _accepted_problem(answers: Any) -> str:
    if not isinstance(answers, list) or not answers:
        return "a short-answer question needs at least one accepted answer"
    if not all(isinstance(answer, str) and answer.strip() for answer in answers):
        return "accepted answers must be non-empty texts"
    return ""


class ResultState(models.TextChoices):
    """Whether a result's score is final."""

    COMPLETE = "complete", "Complete"
    PENDING_REVIEW = "pending_review", "Pending review: a grader has questions left"


class QuizResult(models.Model):
    """A learner's submission of a quiz, as the quiz platform or the LMS scored it."""

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="results")
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_results"
    )
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    external_id = models.CharField(max_length=255)
    score = models.DecimalField(max_digits=10, decimal_places=2)
    max_score = models.DecimalField(max_digits=10, decimal_places=2)
    answers = models.JSONField(default=list, blank=True)
    submitted_at = models.DateTimeField()
    state = models.CharField(
        max_length=20, choices=ResultState.choices, default=ResultState.COMPLETE
    )
    attempt = models.PositiveIntegerField(
        null=True, blank=True, help_text="The LMS's attempt number, where it has one."
    )
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    announced_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When quiz.completed was emitted for this result (once).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["quiz", "learner", "external_id"],
                name="unique_quiz_result",
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} {self.score}/{self.max_score} in {self.quiz}"
