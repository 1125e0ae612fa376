"""Faults on Canvas's side end in a correct database or a failed run that says why.

Either way a later run completes the pass correctly: every test ends by
checking the stored rows against what the fake serves.
"""

from __future__ import annotations

import pytest

from integrations.models import SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Assignment, Course, Enrollment, Progress
from tests.fakes.canvas import NOT_FOUND
from tests.fakes.faulty import Delayed, Reset, malformed_json, server_error
from tests.fakes.server import Reply
from tests.providers.canvas.helpers import make_canvas_integration

pytestmark = pytest.mark.django_db

ENROLLMENTS = r"/api/v1/courses/\d+/enrollments"
EXPECTED = {
    Course: ["101", "102", "103", "104", "105"],
    Assignment: ["2001", "2002", "2004", "2005", "2006"],
    Enrollment: [
        "3001",
        "3002",
        "3003",
        "3004",
        "3005",
        "3006",
        "3008",
        "3009",
        "3010",
    ],
    Progress: ["101:501", "101:502", "101:503", "102:501", "102:504", "104:502"],
}


def stored() -> dict:
    return {
        model: sorted(
            model.objects.filter(deleted_at__isnull=True).values_list(
                "external_id", flat=True
            )
        )
        for model in EXPECTED
    }


def statuses(runs) -> dict[str, str]:
    return {run.stream: run.status for run in runs}


def sync_fully(integration):
    runs = run_sync_now(integration)
    assert set(statuses(runs).values()) == {SyncStatus.SUCCEEDED}
    return runs


def test_a_burst_of_server_errors_is_retried_through(integration, canvas):
    canvas.inject(server_error(503), times=2, path=ENROLLMENTS)
    canvas.inject(server_error(502), times=1, path="/api/v1/accounts/1/courses")

    sync_fully(integration)

    assert stored() == EXPECTED
    assert canvas.count("/api/v1/courses/101/enrollments") >= 3


def test_server_errors_past_the_retries_fail_the_run_and_a_later_run_resumes(
    integration, canvas
):
    run_sync_now(integration, streams=["courses"])
    canvas.inject(server_error(500), times=30, links_only=True, path=ENROLLMENTS)

    failed = run_sync_now(integration, streams=["enrollments"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert "server error" in failed.error_summary
    assert "(HTTP 500)" in failed.error_summary
    assert failed.pages == 1  # the first page of course 101 is stored
    assert failed.cursor["course"] == Course.objects.get(external_id="101").pk

    canvas.clear_faults()
    resumed = run_sync_now(integration, streams=["enrollments"])[0]
    assert resumed.status == SyncStatus.SUCCEEDED
    assert resumed.resumed_from_id == failed.pk
    sync_fully(integration)
    assert stored() == EXPECTED


@pytest.mark.parametrize("retry_after", [None, 0.05])
@pytest.mark.parametrize("status", [429, 403])
def test_throttling_with_or_without_retry_after_is_waited_out(
    db, canvas, status, retry_after
):
    integration = make_canvas_integration(
        canvas, account_id=1, per_page=2, rate_limit_refill=100000
    )
    canvas.throttle_next(3, status=status, retry_after=retry_after)

    sync_fully(integration)

    assert stored() == EXPECTED


def test_a_reset_connection_is_retried(integration, canvas):
    canvas.inject(Reset(), times=2, path=ENROLLMENTS)
    canvas.inject(Reset(partial=None), times=1, path="/api/v1/accounts/1/courses")

    sync_fully(integration)

    assert stored() == EXPECTED


def test_connections_reset_past_the_retries_fail_the_run_clearly(integration, canvas):
    run_sync_now(integration, streams=["courses"])
    canvas.inject(Reset(partial=None), times=30, path=ENROLLMENTS)

    failed = run_sync_now(integration, streams=["enrollments"])[0]

    assert failed.status == SyncStatus.FAILED
    assert "connection to the service failed or was reset" in failed.error_summary

    canvas.clear_faults()
    sync_fully(integration)
    assert stored() == EXPECTED


def test_a_timeout_is_retried(db, canvas, settings):
    settings.INTEGRATIONS_HTTP_DEFAULTS = {
        **settings.INTEGRATIONS_HTTP_DEFAULTS,
        "read_timeout": 0.2,
    }
    integration = make_canvas_integration(canvas, account_id=1, per_page=2)
    canvas.inject(Delayed(1.0), times=1, path=ENROLLMENTS)

    sync_fully(integration)

    assert stored() == EXPECTED


def test_malformed_json_fails_the_run_and_a_later_run_completes(integration, canvas):
    run_sync_now(integration, streams=["courses"])
    canvas.inject(malformed_json(), times=1, links_only=True, path=ENROLLMENTS)

    failed = run_sync_now(integration, streams=["enrollments"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "invalid_response"
    assert "not valid JSON" in failed.error_summary
    assert failed.cursor is not None

    sync_fully(integration)
    assert stored() == EXPECTED


def test_a_page_that_disappears_restarts_its_listing(integration, canvas):
    run_sync_now(integration)
    canvas.clear()
    canvas.inject(
        Reply.json(NOT_FOUND, 404),
        links_only=True,
        path="/api/v1/courses/101/enrollments",
    )

    runs = {run.stream: run for run in run_sync_now(integration)}

    assert runs["enrollments"].status == SyncStatus.SUCCEEDED
    assert runs["enrollments"].deleted == 0
    assert stored() == EXPECTED
    firsts = [
        request
        for request in canvas.requests_to("/api/v1/courses/101/enrollments")
        if request.arg("page") is None
    ]
    # The listing and progress each start once; the listing starts again.
    assert len(firsts) == 3


def test_pages_that_keep_disappearing_fail_the_run_without_deleting(
    integration, canvas
):
    run_sync_now(integration)
    canvas.inject(
        Reply.json(NOT_FOUND, 404),
        times=2,
        links_only=True,
        path="/api/v1/courses/101/enrollments",
    )

    failed = run_sync_now(integration, streams=["enrollments"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "invalid_response"
    assert "404 again" in failed.error_summary
    assert stored() == EXPECTED

    sync_fully(integration)
    assert stored() == EXPECTED


def test_a_course_removed_during_the_sync_loses_its_rows(integration, canvas):
    run_sync_now(integration)
    canvas.remove_course(102)

    runs = {run.stream: run for run in run_sync_now(integration)}

    assert set(statuses(runs.values()).values()) == {SyncStatus.SUCCEEDED}
    assert Course.objects.get(external_id="102").deleted_at is not None
    assert not Assignment.objects.filter(
        course__external_id="102", deleted_at__isnull=True
    ).exists()


def test_an_account_the_token_cannot_find_is_a_clear_configuration_error(db, canvas):
    integration = make_canvas_integration(canvas, account_id=77)

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "configuration_error"
    assert "no account 77" in run.error_summary
    assert "account_id setting" in run.error_summary


def test_an_item_canvas_describes_oddly_is_a_failure_not_a_crash(db, canvas):
    canvas.update_course(103, start_at="2025-13-45T00:00:00Z")
    integration = make_canvas_integration(canvas, account_id=1)

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.status == SyncStatus.SUCCEEDED
    assert run.failed == 1
    assert run.failures == [
        {
            "external_id": "103",
            "reason": "start_at: '2025-13-45T00:00:00Z' is not an ISO 8601 date",
        }
    ]
    assert Course.objects.count() == 4
