"""Syncing results: paged, idempotent, resumable, into progress and events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations import errors
from portal.assessment.models import QuizResult
from portal.assessment.publish import publish_quiz
from portal.assessment.results import sync_quiz_results
from portal.events.models import Event
from portal.learning.models import Progress
from tests.fakes.quiz_platform import RESULTS
from tests.fakes.server import Reply


def submission(number: int, learner: str = "u-ada", score: int = 3) -> dict:
    return {
        "id": f"r{number}",
        "learner": {"id": learner, "email": f"{learner}@example.edu"},
        "score": score,
        "max_score": 4,
        "answers": [{"question": 1, "answer": "Nucleus", "correct": True}],
        "submitted_at": f"2026-03-0{number}T10:00:00Z",
    }


@pytest.fixture
def published(fake, platform, quiz, link_learners):
    publish_quiz(quiz, platform)
    quiz.refresh_from_db()
    return quiz


def test_results_become_rows_across_pages(fake, platform, published, learner):
    for number, who in enumerate(["u-ada", "u-bob", "u-ada"], start=1):
        fake.add_result(published.external_id, **submission(number, who))

    summary = sync_quiz_results(platform)

    assert summary.created == 3
    assert fake.count(f"/quizzes/{published.external_id}/results") == 2
    row = QuizResult.objects.get(external_id="r1")
    assert (row.learner, row.score, row.max_score) == (
        learner,
        Decimal("3.00"),
        Decimal("4.00"),
    )
    assert row.answers[0]["answer"] == "Nucleus"
    assert row.submitted_at.isoformat() == "2026-03-01T10:00:00+00:00"
    published.refresh_from_db()
    assert published.results_cursor is None


def test_a_second_sync_changes_nothing_and_emits_nothing(fake, platform, published):
    fake.add_result(published.external_id, **submission(1))
    sync_quiz_results(platform)

    summary = sync_quiz_results(platform)

    assert (summary.created, summary.unchanged) == (0, 1)
    assert QuizResult.objects.count() == 1
    assert Event.objects.filter(kind="quiz.completed").count() == 1


def test_a_rescored_result_is_updated(fake, platform, published):
    fake.add_result(published.external_id, **submission(1, score=2))
    sync_quiz_results(platform)
    fake.results[published.external_id][0]["score"] = 4

    summary = sync_quiz_results(platform)

    assert summary.updated == 1
    assert QuizResult.objects.get().score == Decimal("4.00")


def test_a_new_result_updates_progress_and_emits_quiz_completed(
    fake, platform, published, learner, course
):
    fake.add_result(published.external_id, **submission(1))

    sync_quiz_results(platform)

    progress = Progress.objects.get(learner=learner, course=course)
    assert progress.percent == Decimal("100.00")
    assert progress.external_id.startswith("portal:")
    (event,) = Event.objects.filter(kind="quiz.completed")
    assert event.payload["learner_id"] == learner.pk
    assert event.payload["score"] == "3.00"
    assert event.payload["progress_id"] == progress.pk
    (completed,) = Event.objects.filter(kind="course.completed")
    assert completed.payload["source"] == "quiz"
    (updated,) = Event.objects.filter(kind="progress.updated")
    assert (updated.payload["source"], updated.payload["percent"]) == ("quiz", "100.00")
    assert updated.id < completed.id


def test_a_sync_that_fails_mid_way_resumes_after_the_stored_page(
    fake, platform, published
):
    for number in range(1, 5):
        fake.add_result(published.external_id, **submission(number))
    real = fake._results
    calls = []
    failing = {"left": 3}  # the first try and both retries

    def second_page_fails(request):
        calls.append(request.arg("page"))
        if request.arg("page") == "2" and failing["left"] > 0:
            failing["left"] -= 1
            return Reply.json({"error": {"code": "unavailable"}}, 503)
        return real(request)

    fake.route("GET", RESULTS, second_page_fails)
    with pytest.raises(errors.TransientError):
        sync_quiz_results(platform)
    assert QuizResult.objects.count() == 2
    published.refresh_from_db()
    assert published.results_cursor is not None
    calls.clear()

    sync_quiz_results(platform)

    assert calls[0] == "2"
    assert QuizResult.objects.count() == 4
    assert Event.objects.filter(kind="quiz.completed").count() == 4


def test_page_number_pagination_is_followed(fake, platform, published):
    fake.pagination = "page"
    platform.settings = {"pagination": "page", "page_size": 2}
    platform.save()
    for number in range(1, 4):
        fake.add_result(published.external_id, **submission(number))

    assert sync_quiz_results(platform).created == 3


def test_a_bad_result_is_reported_and_the_rest_stored(fake, platform, published):
    fake.add_result(published.external_id, **submission(1))
    fake.add_result(published.external_id, id="r2", learner={"id": "u-bob"})

    summary = sync_quiz_results(platform)

    assert summary.created == 1
    assert summary.failures == [
        {
            "external_id": "r2",
            "reason": "submitted_at: expected an ISO 8601 time with a zone",
        }
    ]
