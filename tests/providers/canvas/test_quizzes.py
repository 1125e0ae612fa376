"""Canvas classic quizzes and their results, synced through the engine."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from integrations import errors
from integrations.models import SyncRun, SyncStatus
from integrations.sync.engine import execute_run
from integrations.sync.runs import enqueue_sync, reap_expired_runs, run_sync_now
from portal.assessment.models import (
    PublishState,
    Quiz,
    QuizOrigin,
    QuizResult,
    ResultState,
)
from portal.events.models import Event
from tests.fakes.faulty import server_error
from tests.providers.canvas.helpers import make_canvas_integration

pytestmark = pytest.mark.django_db

SUBMISSIONS = r"/api/v1/courses/\d+/quizzes/\d+/submissions"
PREREQUISITES = ["courses", "enrollments", "quizzes"]


@pytest.fixture
def quizzes(canvas):
    """Give course 101 a quiz with four learners' submissions, and two more."""
    canvas.add_quiz(101, id=7001, title="Cells", points_possible=10.0, time_limit=20)
    canvas.add_quiz(101, id=7002, title="Draft", published=False)
    canvas.add_quiz(102, id=7003, title="Genes", points_possible=5.0)
    canvas.add_quiz_submission(7001, 501, id=8001, score=8.0)
    canvas.add_quiz_submission(7001, 502, id=8002, score=6.5, attempt=2)
    canvas.add_quiz_submission(7001, 503, id=8003, state="pending_review", score=4.0)
    # A Canvas user the portal never synced (no enrollment here, no identity).
    canvas.add_quiz_submission(7001, 999, id=8004, score=9.0)
    canvas.add_quiz_submission(7003, 501, id=8005, state="untaken", score=None)
    return canvas


@pytest.fixture
def integration(db, canvas, quizzes):
    """Return a Canvas integration with quizzes on, two items a page."""
    return make_canvas_integration(
        canvas, account_id=1, per_page=2, sync_quizzes=True, concurrency=1
    )


def by_stream(runs):
    return {run.stream: run for run in runs}


def results() -> dict[str, tuple]:
    return {
        row.external_id: (row.learner.username, row.score, row.max_score, row.state)
        for row in QuizResult.objects.select_related("learner")
    }


def completed_events() -> list[int]:
    return sorted(
        event.payload["quiz_result_id"]
        for event in Event.objects.filter(kind="quiz.completed")
    )


def test_quiz_streams_are_opt_in(db, canvas, provider):
    off = make_canvas_integration(canvas, "canvas-off", account_id=1)

    names = [stream.name for stream in provider.streams(off)]

    assert names == ["courses", "assignments", "enrollments", "progress"]
    with pytest.raises(errors.ConfigurationError, match="no stream 'quiz_results'"):
        run_sync_now(off, streams=["quiz_results"])


def test_quizzes_and_results_sync_with_every_page_followed(integration, canvas):
    runs = by_stream(run_sync_now(integration))

    assert list(runs)[-2:] == ["quizzes", "quiz_results"]
    assert {run.status for run in runs.values()} == {SyncStatus.SUCCEEDED}
    quizzes = {quiz.external_id: quiz for quiz in Quiz.objects.all()}
    assert sorted(quizzes) == ["7001", "7002", "7003"]
    cells = quizzes["7001"]
    assert cells.origin == QuizOrigin.LMS
    assert cells.publish_state == PublishState.PUBLISHED
    assert quizzes["7002"].publish_state == PublishState.DRAFT
    assert (cells.points_possible, cells.time_limit_minutes) == (Decimal("10.00"), 20)
    assert cells.course.external_id == "101"
    assert cells.url.endswith("/courses/101/quizzes/7001")
    # Four submissions at two a page: the Link header's next page was read.
    assert canvas.count("/api/v1/courses/101/quizzes/7001/submissions") == 2
    assert results() == {
        "8001": ("ada@example.edu", Decimal("8.00"), Decimal("10.00"), "complete"),
        "8002": ("grace@example.edu", Decimal("6.50"), Decimal("10.00"), "complete"),
        # Alan's enrollment carries no email: the portal named the user.
        "8003": (
            "canvas-test-503",
            Decimal("4.00"),
            Decimal("10.00"),
            "pending_review",
        ),
    }
    assert QuizResult.objects.get(external_id="8002").attempt == 2


def test_a_learner_without_identity_is_skipped_and_counted(integration, canvas):
    runs = by_stream(run_sync_now(integration))

    run = runs["quiz_results"]
    assert (run.created, run.failed) == (3, 1)
    (failure,) = run.failures
    assert failure["external_id"] == "8004"
    assert "learner '999' has no portal identity" in failure["reason"]
    assert not get_user_model().objects.filter(username__contains="999").exists()


def test_a_resync_changes_nothing_and_emits_nothing(integration, canvas):
    run_sync_now(integration)
    first = completed_events()

    runs = by_stream(run_sync_now(integration, streams=["quiz_results"]))

    run = runs["quiz_results"]
    assert (run.created, run.updated, run.unchanged) == (0, 0, 3)
    assert completed_events() == first
    assert len(first) == 2  # the pending review is no completion yet


def test_a_finished_review_completes_once_and_a_regrade_updates(integration, canvas):
    run_sync_now(integration)
    canvas.update_quiz_submission(
        7001, 8003, workflow_state="complete", kept_score=7.0, score=7.0
    )

    run_sync_now(integration, streams=["quiz_results"])
    canvas.update_quiz_submission(7001, 8003, kept_score=7.5, score=7.5)
    run_sync_now(integration, streams=["quiz_results"])

    row = QuizResult.objects.get(external_id="8003")
    assert (row.state, row.score) == (ResultState.COMPLETE, Decimal("7.50"))
    assert completed_events().count(row.pk) == 1
    (event,) = Event.objects.filter(
        kind="quiz.completed", subject=f"quiz_result:{row.pk}"
    )
    assert event.payload["origin"] == "lms"
    assert event.payload["progress_id"] is None
    assert event.payload["integration"] == integration.name


def test_quiz_results_stream_alone_from_the_command(integration, canvas):
    run_sync_now(integration, streams=PREREQUISITES)

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.stream, run.status, run.created) == ("quiz_results", "succeeded", 3)


def test_an_invalid_token_fails_the_run_as_an_auth_failure(integration, canvas):
    run_sync_now(integration, streams=PREREQUISITES)
    canvas.token = "another-token"

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.status, run.error_code) == (SyncStatus.FAILED, "authentication_failed")
    integration.refresh_from_db()
    assert integration.health_status == "unhealthy"


def test_a_token_that_may_not_view_grades_fails_the_run_clearly(integration, canvas):
    run_sync_now(integration, streams=PREREQUISITES)
    canvas.unauthorized.append(re.compile(SUBMISSIONS))

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.status, run.error_code) == (SyncStatus.FAILED, "permission_denied")


@pytest.mark.parametrize("status", [429, 403])
def test_throttling_is_waited_out(integration, canvas, status):
    run_sync_now(integration, streams=PREREQUISITES)
    canvas.throttle_next(2, status=status, retry_after=0.01)

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.status, run.created) == (SyncStatus.SUCCEEDED, 3)


def test_a_failed_run_resumes_at_the_page_it_stopped(integration, canvas):
    run_sync_now(integration, streams=PREREQUISITES)
    canvas.inject(server_error(503), times=10, path=SUBMISSIONS, links_only=True)

    (failed,) = run_sync_now(integration, streams=["quiz_results"])
    assert failed.status == SyncStatus.FAILED
    assert failed.cursor["url"]
    canvas.clear_faults()
    before = len(canvas.requests)

    (resumed,) = run_sync_now(integration, streams=["quiz_results"])

    assert resumed.resumed_from_id == failed.pk
    assert resumed.status == SyncStatus.SUCCEEDED
    first = canvas.requests[before]
    assert first.path.endswith("/quizzes/7001/submissions") and first.arg("page")
    assert len(results()) == 3
    assert len(completed_events()) == 2


class Crash(BaseException):
    """The worker dies: nothing of the engine's handles it."""


def test_a_run_killed_mid_stream_resumes_to_the_same_rows(
    integration, canvas, settings
):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1
    run_sync_now(integration, streams=PREREQUISITES)
    (run,) = enqueue_sync(integration, streams=["quiz_results"])

    def die_after_the_first_page(progress: SyncRun) -> None:
        if progress.pages == 1 and progress.status == SyncStatus.RUNNING:
            raise Crash

    with pytest.raises(Crash):
        execute_run(run.pk, owner="worker-1", progress=die_after_the_first_page)
    run.refresh_from_db()
    assert run.status == SyncStatus.RUNNING and run.cursor is not None
    assert len(results()) == 2
    SyncRun.objects.filter(pk=run.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    (resumed,) = reap_expired_runs(integration)
    execute_run(resumed.pk, owner="worker-2")

    resumed.refresh_from_db()
    assert (resumed.status, resumed.cursor) == (SyncStatus.SUCCEEDED, None)
    assert len(results()) == 3
    assert len(completed_events()) == 2


def test_a_quiz_deleted_in_canvas_is_marked_deleted_and_hidden(integration, canvas):
    run_sync_now(integration)
    canvas.delete_quiz(7001)

    run_sync_now(integration, streams=["quizzes", "quiz_results"])

    assert Quiz.objects.get(external_id="7001").deleted_at is not None
    assert QuizResult.objects.filter(quiz__external_id="7001").count() == 3
    staff = get_user_model().objects.create_user("staff", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    quizzes = client.get("/api/v1/quizzes/?origin=lms").json()["results"]
    assert sorted(quiz["external_id"] for quiz in quizzes) == ["7002", "7003"]
    assert client.get("/api/v1/quiz-results/").json()["results"] == []


def test_learners_see_their_own_results_and_the_published_quizzes(integration, canvas):
    run_sync_now(integration)
    ada = QuizResult.objects.get(external_id="8001").learner
    client = APIClient()
    client.force_authenticate(ada)

    quizzes = client.get("/api/v1/quizzes/").json()["results"]
    mine = client.get("/api/v1/quiz-results/").json()["results"]

    # Ada is in courses 101 and 102: the published quizzes of both.
    assert sorted(quiz["external_id"] for quiz in quizzes) == ["7001", "7003"]
    cells = next(quiz for quiz in quizzes if quiz["external_id"] == "7001")
    assert (cells["origin"], cells["max_score"], cells["questions"]) == (
        "lms",
        10.0,
        [],
    )
    assert "access_code" not in cells
    assert [(row["external_id"], row["score"]) for row in mine] == [("8001", 8.0)]
    assert mine[0]["integration"] == integration.name
    assert mine[0]["state"] == "complete"
    other = QuizResult.objects.get(external_id="8002").pk
    assert client.get(f"/api/v1/quiz-results/{other}/").status_code == 404


def test_a_connection_test_previews_the_quiz_streams_without_writing(
    integration, canvas
):
    from integrations.health import test_connection

    run_sync_now(integration)
    canvas.update_quiz(7001, title="Cells, revised")
    canvas.update_quiz_submission(7001, 8001, kept_score=9.0, score=9.0)

    report = test_connection(integration, pages=5)

    assert report.ok
    previews = {preview.stream: preview for preview in report.streams}
    quizzes, results = previews["quizzes"], previews["quiz_results"]
    assert (quizzes.error, quizzes.would_update, quizzes.unchanged) == ("", 1, 2)
    assert (quizzes.complete, quizzes.would_delete) == (True, 0)
    # 8001 rescored; 8004's learner has no identity, so it is never stored.
    assert (results.error, results.would_update, results.unchanged) == ("", 1, 2)
    assert (results.would_create, results.would_delete) == (1, 0)
    assert Quiz.objects.get(external_id="7001").title == "Cells"
    assert QuizResult.objects.get(external_id="8001").score == Decimal("8.00")


def test_quiz_results_read_several_quizzes_at_once(db, canvas, quizzes):
    integration = make_canvas_integration(
        canvas, "canvas-parallel", account_id=1, per_page=2, sync_quizzes=True
    )

    runs = by_stream(run_sync_now(integration))

    assert runs["quiz_results"].status == SyncStatus.SUCCEEDED
    assert sorted(results()) == ["8001", "8002", "8003"]


def ada_sees() -> list[tuple[str, float]]:
    ada = get_user_model().objects.get(username="ada@example.edu")
    client = APIClient()
    client.force_authenticate(ada)
    rows = client.get("/api/v1/quiz-results/").json()["results"]
    return [(row["external_id"], row["score"]) for row in rows]


def test_an_unposted_score_is_hidden_until_canvas_posts_it(integration, canvas):
    # A manual post policy: Canvas graded Ada's quiz but has not posted it.
    canvas.post_quiz_grade(7001, 8001, posted_at=None)

    runs = by_stream(run_sync_now(integration))

    assert "8001" not in results()
    assert ada_sees() == []
    grace = QuizResult.objects.get(external_id="8002").pk
    assert completed_events() == [grace]  # 8003 is still in review
    run = runs["quiz_results"]
    # Not a failure (8004's missing learner is the one): a result the learner
    # cannot see yet is skipped, as an untaken one is.
    assert (run.created, run.failed) == (2, 1)

    canvas.post_quiz_grade(7001, 8001)
    run_sync_now(integration, streams=["quiz_results"])
    run_sync_now(integration, streams=["quiz_results"])

    assert ada_sees() == [("8001", 8.0)]
    posted = QuizResult.objects.get(external_id="8001")
    assert completed_events().count(posted.pk) == 1


def test_the_posted_state_follows_the_pages_at_no_extra_request(integration, canvas):
    # 8003 is on the second page (two a page): its Submission comes with it.
    canvas.update_quiz_submission(7001, 8003, workflow_state="complete")
    canvas.post_quiz_grade(7001, 8003, posted_at=None)
    run_sync_now(integration, streams=PREREQUISITES)
    before = len(canvas.requests)

    run_sync_now(integration, streams=["quiz_results"])

    assert sorted(results()) == ["8001", "8002"]
    listed = [
        request
        for request in canvas.requests[before:]
        if request.path == "/api/v1/courses/101/quizzes/7001/submissions"
    ]
    assert len(listed) == 2 and listed[1].arg("page")
    assert all(request.query["include[]"] == ["submission"] for request in listed)
    # 7001's two pages and one each for 7002 and 7003: nothing else.
    assert [
        re.fullmatch(SUBMISSIONS, r.path) is not None for r in canvas.requests[before:]
    ] == [True] * 4


def test_a_regrade_while_hidden_waits_for_the_next_post(integration, canvas):
    run_sync_now(integration)
    canvas.post_quiz_grade(7001, 8001, posted_at=None)  # "Hide grades"
    canvas.update_quiz_submission(7001, 8001, kept_score=9.5, score=9.5)

    run_sync_now(integration, streams=["quiz_results"])
    hidden = ada_sees()
    canvas.post_quiz_grade(7001, 8001)
    run_sync_now(integration, streams=["quiz_results"])

    # While hidden the learner keeps the score Canvas last showed her.
    assert hidden == [("8001", 8.0)]
    assert ada_sees() == [("8001", 9.5)]
    row = QuizResult.objects.get(external_id="8001")
    assert completed_events().count(row.pk) == 1


def test_an_ungraded_quiz_has_no_post_policy_and_is_stored(integration, canvas):
    practice = canvas.add_quiz(101, id=7004, title="Warm-up", quiz_type="practice_quiz")
    taken = canvas.add_quiz_submission(7004, 501, id=8006, score=3.0, posted_at=None)
    assert (practice["assignment_id"], taken["submission_id"]) == (None, None)

    run_sync_now(integration)

    assert ("8006", 3.0) in ada_sees()


def test_a_result_without_its_submission_fails_closed(integration, canvas):
    quiz_submission = canvas.quiz_submissions[7001].by_id[8001]
    del canvas.quiz_grades[quiz_submission["submission_id"]]

    runs = by_stream(run_sync_now(integration))

    assert "8001" not in results()
    reasons = {
        item["external_id"]: item["reason"] for item in runs["quiz_results"].failures
    }
    assert "whether its score is posted is unknown" in reasons["8001"]
