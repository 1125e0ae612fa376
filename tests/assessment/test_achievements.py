"""Quiz results synced from the platform earn quiz-score achievements."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.achievements.models import Criterion, EarnedAchievement
from portal.assessment.publish import publish_quiz
from portal.assessment.results import sync_quiz_results
from portal.events.models import Event
from tests.achievements.helpers import holders, make_achievement
from tests.assessment.test_results import submission
from tests.events.sinks import dispatch_all


@pytest.fixture
def published(fake, platform, quiz, link_learners):
    publish_quiz(quiz, platform)
    quiz.refresh_from_db()
    return quiz


def test_a_result_at_or_above_the_percentage_earns_it(
    fake, platform, published, learner, other_learner, course
):
    good = make_achievement(
        "three-quarters", Criterion.QUIZ_SCORE, min_percent=Decimal(75), quiz=published
    )
    perfect = make_achievement("perfect", Criterion.QUIZ_SCORE, min_percent=100)
    fake.add_result(published.external_id, **submission(1, "u-ada", score=3))
    fake.add_result(published.external_id, **submission(2, "u-bob", score=2))

    sync_quiz_results(platform)
    dispatch_all()

    assert holders(good) == {learner.pk}
    assert holders(perfect) == set()
    earned = EarnedAchievement.objects.get()
    result = earned.source_event
    assert result.kind == "quiz.completed"
    assert earned.source_record == f"quiz_result:{result.payload['quiz_result_id']}"
    assert earned.course == course
    assert earned.integration == platform
    (event,) = Event.objects.filter(kind="achievement.earned")
    assert event.payload["integration"] == "quizzes"
    assert event.payload["course_id"] == course.pk


def test_the_progress_a_quiz_brings_can_earn_a_percentage(
    fake, platform, published, learner
):
    halfway = make_achievement("halfway", Criterion.PROGRESS_PERCENT, min_percent=50)
    fake.add_result(published.external_id, **submission(1, "u-ada", score=1))

    sync_quiz_results(platform)
    dispatch_all()
    sync_quiz_results(platform)
    dispatch_all()

    assert holders(halfway) == {learner.pk}
    assert Event.objects.filter(kind="achievement.earned").count() == 1
