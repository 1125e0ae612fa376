"""Faults on Moodle's side end in a correct database or a clear failed run.

Either way a later run completes, and the rows then match the source.
"""

from __future__ import annotations

import pytest

from integrations.models import HealthStatus, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course, Enrollment, Progress
from tests.fakes.faulty import (
    Delayed,
    Reset,
    malformed_json,
    rate_limited,
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


def test_rate_limit_with_a_short_retry_after_is_waited_out(integration, moodle):
    moodle.fail_next(rate_limited(0.01), function=ENROLLED)
    moodle.fail_next(rate_limited(), function=ENROLLED)

    runs = run_sync_now(integration)

    assert statuses(runs) == [SyncStatus.SUCCEEDED] * 3
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
    serve = moodle._serve_webservice
    calls = {"enrolled": 0}

    def fail_from_the_fourth_window(request):
        if ENROLLED in request.target:
            calls["enrolled"] += 1
            if calls["enrolled"] >= 4:
                return server_error(503)
        return serve(request)

    moodle.route("*", "/webservice/rest/server.php", fail_from_the_fourth_window)

    failed = run_sync_now(integration, streams=["enrollments"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert "server error" in failed.error_summary
    assert failed.cursor is not None
    assert failed.pages == 3
    stored = live(Enrollment, integration)
    assert stored and set(stored) < set(EXPECTED_ENROLLMENTS)

    moodle.route("*", "/webservice/rest/server.php", serve)
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
