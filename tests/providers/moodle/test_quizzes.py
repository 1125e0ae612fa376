"""Moodle quizzes and learners' quiz grades, synced through the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations import errors
from integrations.models import SyncRun, SyncStatus
from integrations.sync.engine import execute_run
from integrations.sync.runs import enqueue_sync, reap_expired_runs, run_sync_now
from portal.assessment.models import PublishState, Quiz, QuizOrigin, QuizResult
from portal.events.models import Event
from tests.fakes.faulty import proxy_rate_limited, server_error
from tests.fakes.server import Reply

pytestmark = pytest.mark.django_db

QUIZZES = "mod_quiz_get_quizzes_by_courses"
GRADES = "gradereport_user_get_grade_items"
PREREQUISITES = ["courses", "enrollments", "quizzes"]
GRADED_AT = datetime.fromtimestamp(1736000000, tz=UTC)


@pytest.fixture
def quizzes(moodle):
    """Give the school a second quiz (hidden, in course 22) with a grade."""
    moodle.set_quiz(701, timelimit=1500, timeclose=1767225600, password="s3cret")
    moodle.add_activity(22, 802, "Dates quiz", modname="quiz", grademax=10)
    moodle.set_quiz(802, visible=0)
    moodle.set_grade(22, 504, 802, 7)
    return moodle


@pytest.fixture
def integration(make_integration, moodle, quizzes):
    """Return a Moodle integration with quizzes on, two courses a quiz call."""
    return make_integration(moodle, page_size=2, sync_quizzes=True)


def by_stream(runs):
    return {run.stream: run for run in runs}


def results() -> dict[str, tuple]:
    return {
        row.external_id: (row.learner.email, row.score, row.max_score)
        for row in QuizResult.objects.select_related("learner")
    }


EXPECTED = {
    "1701:501": ("m.lopez@school.example.edu", Decimal("80.00"), Decimal("100.00")),
    "1701:502": ("j.chen@school.example.edu", Decimal("55.00"), Decimal("100.00")),
    "1802:504": ("l.novak@school.example.edu", Decimal("7.00"), Decimal("10.00")),
}


def test_quiz_streams_are_opt_in(make_integration, moodle, provider):
    off = make_integration(moodle)

    assert [stream.name for stream in provider.streams(off)] == [
        "courses",
        "enrollments",
        "progress",
    ]


def test_quizzes_and_grades_sync_into_quizzes_and_results(integration, moodle):
    runs = by_stream(run_sync_now(integration))

    assert list(runs)[-2:] == ["quizzes", "quiz_results"]
    assert {run.status for run in runs.values()} == {SyncStatus.SUCCEEDED}
    # Five courses, two a call: three calls, each page's cursor followed.
    assert moodle.calls(QUIZZES) == 3
    assert runs["quizzes"].pages == 3
    stoichiometry = Quiz.objects.get(external_id="1701")
    assert stoichiometry.origin == QuizOrigin.LMS
    assert stoichiometry.course.external_id == "21"
    assert (stoichiometry.points_possible, stoichiometry.time_limit_minutes) == (
        Decimal("100.00"),
        25,
    )
    assert stoichiometry.due_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert stoichiometry.url.endswith("/mod/quiz/view.php?id=701")
    assert "s3cret" not in str(Quiz.objects.values())
    assert Quiz.objects.get(external_id="1802").publish_state == PublishState.DRAFT
    # One gradebook call per course with quizzes, for every learner at once.
    assert [call["courseid"] for call in moodle.params_of(GRADES)][-2:] == ["21", "22"]
    assert results() == EXPECTED
    assert QuizResult.objects.get(external_id="1701:501").submitted_at == GRADED_AT
    assert Event.objects.filter(kind="quiz.completed").count() == 3


def test_a_learner_enrolled_after_the_enrollments_sync_is_skipped_and_counted(
    integration, moodle
):
    run_sync_now(integration, streams=PREREQUISITES)
    moodle.add_user(620, "New", "Comer", "n.comer@school.example.edu")
    moodle.enrol(21, 620, "student")
    moodle.set_grade(21, 620, 701, 90)

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.status, run.created, run.failed) == ("succeeded", 3, 1)
    assert run.failures[0]["external_id"] == "1701:620"
    assert "no portal identity" in run.failures[0]["reason"]
    assert "1701:620" not in results()


def test_a_resync_is_idempotent_and_a_regrade_emits_nothing_new(integration, moodle):
    run_sync_now(integration)
    moodle.set_grade(21, 502, 701, 60)

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.created, run.updated, run.unchanged) == (0, 1, 2)
    assert QuizResult.objects.get(external_id="1701:502").score == Decimal("60.00")
    assert Event.objects.filter(kind="quiz.completed").count() == 3
    (again,) = run_sync_now(integration, streams=["quiz_results"])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_an_ungraded_or_hidden_grade_is_no_result(integration, moodle):
    run_sync_now(integration, streams=PREREQUISITES)
    moodle.set_grade(21, 501, 701, None)
    # Moodle hides a grade from the learner: the report still lists it.
    body = moodle._fn_gradereport_user_get_grade_items({"courseid": 21})
    for entry in body["usergrades"]:
        for item in entry["gradeitems"]:
            if item["itemmodule"] == "quiz" and entry["userid"] == 502:
                item["gradeishidden"] = True
    moodle.fail_next(Reply.json(body), function=GRADES)

    run_sync_now(integration, streams=["quiz_results"])

    assert results() == {"1802:504": EXPECTED["1802:504"]}


def test_a_revoked_token_fails_the_run_as_an_auth_failure(integration, moodle):
    run_sync_now(integration, streams=PREREQUISITES)
    moodle.revoke_tokens()

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.status, run.error_code) == (SyncStatus.FAILED, "authentication_failed")


def test_a_service_without_the_quiz_function_fails_with_what_to_fix(
    integration, moodle
):
    run_sync_now(integration, streams=["courses"])
    moodle.functions.discard(QUIZZES)

    (run,) = run_sync_now(integration, streams=["quizzes"])

    assert (run.status, run.error_code) == (SyncStatus.FAILED, "permission_denied")
    assert "add the function to the token's external service" in run.error_summary


def test_throttling_and_server_errors_are_retried_through(integration, moodle):
    run_sync_now(integration, streams=PREREQUISITES)
    moodle.fail_next(proxy_rate_limited(0.01), function=GRADES, times=1)
    moodle.fail_next(server_error(503), function=GRADES, times=1)

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.status, run.created) == (SyncStatus.SUCCEEDED, 3)


def test_moodle_errors_answered_with_200_fail_the_run(integration, moodle):
    run_sync_now(integration, streams=PREREQUISITES)
    moodle.fail_next(
        Reply.json(
            {
                "exception": "required_capability_exception",
                "errorcode": "nopermissions",
                "message": "Sorry, but you do not currently have permissions",
            }
        ),
        function=GRADES,
    )

    (run,) = run_sync_now(integration, streams=["quiz_results"])

    assert (run.status, run.error_code) == (SyncStatus.FAILED, "permission_denied")


class Crash(BaseException):
    """The worker dies: nothing of the engine's handles it."""


def test_a_run_killed_after_a_course_resumes_with_the_next(
    integration, moodle, settings
):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1
    run_sync_now(integration, streams=PREREQUISITES)
    (run,) = enqueue_sync(integration, streams=["quiz_results"])

    def die_after_the_first_course(progress: SyncRun) -> None:
        if progress.pages == 1 and progress.status == SyncStatus.RUNNING:
            raise Crash

    with pytest.raises(Crash):
        execute_run(run.pk, owner="worker-1", progress=die_after_the_first_course)
    assert sorted(results()) == ["1701:501", "1701:502"]
    SyncRun.objects.filter(pk=run.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    calls_before = moodle.calls(GRADES)

    (resumed,) = reap_expired_runs(integration)
    execute_run(resumed.pk, owner="worker-2")

    resumed.refresh_from_db()
    assert resumed.status == SyncStatus.SUCCEEDED
    assert [call["courseid"] for call in moodle.params_of(GRADES)][calls_before:] == [
        "22"
    ]
    assert results() == EXPECTED
    assert Event.objects.filter(kind="quiz.completed").count() == 3


def test_a_quiz_removed_in_moodle_is_marked_deleted(integration, moodle):
    run_sync_now(integration)
    moodle.activities[22] = [a for a in moodle.activities[22] if a["cmid"] != 802]

    (run,) = run_sync_now(integration, streams=["quizzes"])

    assert run.deleted == 1
    assert Quiz.objects.get(external_id="1802").deleted_at is not None


def test_learners_see_only_their_own_moodle_results(integration, moodle):
    run_sync_now(integration)
    maria = QuizResult.objects.get(external_id="1701:501").learner
    client = APIClient()
    client.force_authenticate(maria)

    mine = client.get("/api/v1/quiz-results/").json()["results"]

    assert [row["external_id"] for row in mine] == ["1701:501"]
    assert (mine[0]["score"], mine[0]["max_score"]) == (80.0, 100.0)


def test_an_unknown_stream_name_is_refused(integration):
    with pytest.raises(errors.ConfigurationError, match="no stream 'quiz_result'"):
        run_sync_now(integration, streams=["quiz_result"])
