"""Faults on Moodle's side end in a correct database or a clear failed run.

Either way a later run completes, and the rows then match the source.
"""

from __future__ import annotations

import pytest

from integrations.models import HealthStatus, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course, Enrollment, Progress
from tests.conftest import LOOPBACK_HTTP_DEFAULTS
from tests.fakes.faulty import (
    Delayed,
    Reset,
    malformed_json,
    proxy_rate_limited,
    server_error,
)
from tests.fakes.server import Reply
from tests.providers.moodle.helpers import (
    EXPECTED_COURSES,
    EXPECTED_ENROLLMENTS,
    EXPECTED_PROGRESS,
)

pytestmark = pytest.mark.django_db

ENROLLED = "core_enrol_get_enrolled_users"
#: Calls of a request the HTTP layer gives up on: the first and its retries.
ATTEMPTS = 1 + LOOPBACK_HTTP_DEFAULTS["max_retries"]


def live(model, integration) -> list[str]:
    return sorted(
        model.objects.filter(
            integration=integration, deleted_at__isnull=True
        ).values_list("external_id", flat=True)
    )


def assert_matches_source(integration) -> None:
    assert live(Course, integration) == EXPECTED_COURSES
    assert live(Enrollment, integration) == EXPECTED_ENROLLMENTS
    assert live(Progress, integration) == EXPECTED_PROGRESS


def statuses(runs) -> list[str]:
    return [run.status for run in runs]


def assert_stopped_at_the_fourth_window(run, integration) -> None:
    """Check that ``run`` kept the three windows before it and their cursor."""
    assert run.cursor is not None
    assert run.pages == 3
    stored = live(Enrollment, integration)
    assert stored and set(stored) < set(EXPECTED_ENROLLMENTS)


def test_burst_of_server_errors_is_retried_to_a_correct_database(integration, moodle):
    moodle.fail_next(server_error(503), function=ENROLLED, times=2)
    moodle.fail_next(server_error(502), function="core_course_get_courses")

    runs = run_sync_now(integration)

    assert statuses(runs) == [SyncStatus.SUCCEEDED] * 3
    assert_matches_source(integration)


def test_connection_reset_is_retried(integration, moodle):
    moodle.fail_next(Reset(), function=ENROLLED)
    moodle.fail_next(Reset(partial=None), function="gradereport_user_get_grade_items")

    runs = run_sync_now(integration)

    assert statuses(runs) == [SyncStatus.SUCCEEDED] * 3
    assert_matches_source(integration)


# Moodle itself answers errors with HTTP 200; a 429 comes from a rate limiter
# in front of it (nginx's limit_req, a gateway), which may not say how long
# to wait.
def test_rate_limit_with_a_short_retry_after_is_waited_out(integration, moodle):
    moodle.fail_next(proxy_rate_limited(0.01), function=ENROLLED, times=2)

    runs = run_sync_now(integration)

    assert statuses(runs) == [SyncStatus.SUCCEEDED] * 3
    assert_matches_source(integration)


def test_rate_limit_without_retry_after_is_backed_off_and_retried(integration, moodle):
    run_sync_now(integration, streams=["courses"])
    moodle.fail_next(proxy_rate_limited(), function=ENROLLED, after=3, times=2)

    run = run_sync_now(integration, streams=["enrollments"])[0]

    assert run.status == SyncStatus.SUCCEEDED
    assert live(Enrollment, integration) == EXPECTED_ENROLLMENTS
    windows = moodle.params_of(ENROLLED)
    # The refused window was asked for again until answered, no other twice.
    assert windows[3] == windows[4] == windows[5]
    assert len(windows) == len({repr(window) for window in windows}) + 2


def test_rate_limit_without_retry_after_past_the_retries_requeues_the_run(
    integration, moodle
):
    run_sync_now(integration, streams=["courses"])
    moodle.fail_next(proxy_rate_limited(), function=ENROLLED, after=3, times=100)

    limited = run_sync_now(integration, streams=["enrollments"])[0]

    assert limited.status == SyncStatus.QUEUED
    assert limited.error_code == "rate_limited"
    assert "rate limiting requests" in limited.error_summary
    assert "(HTTP 429)" in limited.error_summary
    assert limited.next_attempt_at is not None
    assert moodle.calls(ENROLLED) == 3 + ATTEMPTS
    assert_stopped_at_the_fourth_window(limited, integration)

    moodle.clear_faults()
    later = run_sync_now(integration, streams=["enrollments", "progress"])

    # The queued run itself goes on, from the window it was refused.
    assert later[0].pk == limited.pk
    assert statuses(later) == [SyncStatus.SUCCEEDED] * 2
    windows = moodle.params_of(ENROLLED)
    assert windows[3 + ATTEMPTS] == windows[3]
    assert_matches_source(integration)


def test_slow_answer_within_the_timeout_is_just_slow(integration, moodle):
    integration.read_timeout = 2.0
    integration.save()
    moodle.fail_next(Delayed(0.3, Reply.json([])), function="core_course_get_courses")

    run = run_sync_now(integration, streams=["courses"])[0]

    # The delayed reply was a (valid) empty list, and the engine refuses to
    # mark everything deleted from one empty answer of a source that had none.
    assert run.status == SyncStatus.SUCCEEDED


def test_persistent_server_errors_fail_the_run_and_the_next_run_resumes(
    integration, moodle
):
    run_sync_now(integration, streams=["courses"])
    moodle.fail_next(server_error(503), function=ENROLLED, after=3, times=100)

    failed = run_sync_now(integration, streams=["enrollments"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert "server error" in failed.error_summary
    assert_stopped_at_the_fourth_window(failed, integration)

    moodle.clear_faults()
    resumed = run_sync_now(integration, streams=["enrollments", "progress"])

    assert resumed[0].resumed_from_id == failed.pk
    assert statuses(resumed) == [SyncStatus.SUCCEEDED] * 2
    assert_matches_source(integration)


def test_malformed_json_fails_clearly_and_a_later_run_completes(integration, moodle):
    run_sync_now(integration, streams=["courses", "enrollments"])
    moodle.fail_next(malformed_json(), function="gradereport_user_get_grade_items")

    failed = run_sync_now(integration, streams=["progress"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "invalid_response"
    assert "not valid JSON" in failed.error_summary
    assert "gradereport_user_get_grade_items" in failed.error_summary

    later = run_sync_now(integration, streams=["progress"])[0]
    assert later.status == SyncStatus.SUCCEEDED
    assert_matches_source(integration)


def test_timeouts_beyond_the_retries_fail_with_the_timeout(integration, moodle):
    integration.read_timeout = 0.2
    integration.save()
    moodle.fail_next(Delayed(1.0), function="core_course_get_courses", times=5)

    failed = run_sync_now(integration, streams=["courses"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert "read timeout of 0.2 s" in failed.error_summary

    moodle.clear_faults()
    integration.read_timeout = None
    integration.save()
    assert run_sync_now(integration)[0].status == SyncStatus.SUCCEEDED
    assert_matches_source(integration)


def test_token_revoked_mid_sync_fails_at_once_and_marks_unhealthy(integration, moodle):
    run_sync_now(integration, streams=["courses"])
    moodle.tokens.clear()

    run = run_sync_now(integration, streams=["enrollments"])[0]

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert "invalidtoken" in run.error_summary
    assert moodle.calls(ENROLLED) == 1
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.UNHEALTHY


def test_function_removed_from_the_service_is_a_permission_failure(integration, moodle):
    run_sync_now(integration, streams=["courses", "enrollments"])
    moodle.functions.discard("core_completion_get_activities_completion_status")

    run = run_sync_now(integration, streams=["progress"])[0]

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "permission_denied"
    assert "accessexception" in run.error_summary
    assert "external service" in run.error_summary


def test_one_learner_moodle_cannot_report_on_is_a_failure_not_an_outage(
    integration, moodle
):
    run_sync_now(integration, streams=["courses", "enrollments"])
    moodle.fail_next(
        Reply.json(
            {
                "exception": "moodle_exception",
                "errorcode": "suspended",
                "message": "This account has been suspended",
            }
        ),
        function="core_completion_get_activities_completion_status",
    )

    run = run_sync_now(integration, streams=["progress"])[0]

    assert run.status == SyncStatus.SUCCEEDED
    assert run.failed == 1
    assert run.failures == [
        {"external_id": "21:501", "reason": "Moodle error suspended"}
    ]
    assert run.created == 6


def test_site_in_maintenance_is_retried_then_reported(integration, moodle):
    maintenance = Reply.json(
        {
            "exception": "moodle_exception",
            "errorcode": "sitemaintenance",
            "message": "The site is undergoing maintenance and is currently not available",
        }
    )
    moodle.fail_next(maintenance, function="core_course_get_courses")

    assert (
        run_sync_now(integration, streams=["courses"])[0].status == SyncStatus.SUCCEEDED
    )

    moodle.fail_next(maintenance, function="core_course_get_courses", times=10)
    failed = run_sync_now(integration, streams=["courses"])[0]
    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert "maintenance" in failed.error_summary
