"""Fixtures of the assessment tests: a quiz platform fake, a course, a quiz."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from integrations.models import Credential, Integration
from portal.assessment.models import Question, QuestionKind, Quiz
from portal.learning.models import Course, Enrollment, LearnerIdentity
from tests.fakes.quiz_platform import QuizPlatformFake

TOKEN = "quiz-token"


@pytest.fixture(autouse=True)
def _loopback_http(loopback_http) -> None:
    """Let the integrations reach the loopback fake."""


@pytest.fixture
def fake() -> Iterator[QuizPlatformFake]:
    """Run the quiz platform fake."""
    with QuizPlatformFake(token=TOKEN) as server:
        yield server


@pytest.fixture
def platform(db, fake: QuizPlatformFake) -> Integration:
    """Return a quiz platform integration pointed at the fake."""
    integration = Integration.objects.create(
        name="quizzes", provider="quiz_platform", base_url=fake.base_url, settings={}
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


@pytest.fixture
def lms(db) -> Integration:
    """Return the LMS integration the course came from."""
    return Integration.objects.create(
        name="lms", provider="rest", base_url="https://lms.example.edu", settings={}
    )


@pytest.fixture
def course(lms: Integration) -> Course:
    """Return a course."""
    return Course.objects.create(integration=lms, external_id="c1", title="Biology")


def enrolled(course: Course, name: str, enrollment_id: str):
    """Return a new user enrolled in ``course``."""
    user = get_user_model().objects.create_user(name, f"{name}@example.edu", "pw")
    Enrollment.objects.create(
        integration=course.integration,
        external_id=enrollment_id,
        course=course,
        learner=user,
    )
    return user


@pytest.fixture
def learner(course: Course):
    """Return a learner enrolled in the course."""
    return enrolled(course, "ada", "e1")


@pytest.fixture
def other_learner(course: Course):
    """Return a second learner enrolled in the course."""
    return enrolled(course, "bob", "e2")


@pytest.fixture
def link_learners(platform: Integration, learner, other_learner) -> None:
    """Link the learners to their ids at the quiz platform."""
    for remote_id, user in (("u-ada", learner), ("u-bob", other_learner)):
        LearnerIdentity.objects.create(
            user=user, integration=platform, remote_user_id=remote_id
        )


@pytest.fixture
def quiz(course: Course) -> Quiz:
    """Return a valid quiz with one question of each kind."""
    quiz = Quiz.objects.create(course=course, title="Cells", time_limit_minutes=10)
    Question.objects.create(
        quiz=quiz,
        position=1,
        kind=QuestionKind.MULTIPLE_CHOICE,
        prompt="Which holds the DNA?",
        points=Decimal("2"),
        choices=[
            {"text": "Nucleus", "correct": True},
            {"text": "Membrane", "correct": False},
        ],
    )
    Question.objects.create(
        quiz=quiz,
        position=2,
        kind=QuestionKind.TRUE_FALSE,
        prompt="Cells divide.",
        correct_answer=True,
    )
    Question.objects.create(
        quiz=quiz,
        position=3,
        kind=QuestionKind.SHORT_ANSWER,
        prompt="Name the powerhouse of the cell.",
        accepted_answers=["mitochondria", "mitochondrion"],
    )
    return quiz
