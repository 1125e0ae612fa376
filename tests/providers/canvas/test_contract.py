"""The contract every provider passes: auth, rate limits, pagination, health."""

from __future__ import annotations

import re
import time

import pytest

from integrations.errors import (
    AuthenticationFailed,
    PermissionDenied,
    RateLimited,
    RateLimitWaitTooLong,
)
from integrations.health import check_health
from integrations.models import HealthStatus, SyncStatus
from integrations.sync.runs import run_sync_now
from tests.fakes.server import Reply
from tests.providers.canvas.helpers import (
    TOKEN,
    make_canvas_integration,
    read_pages,
    read_records,
)

pytestmark = pytest.mark.django_db

COURSES_PATH = "/api/v1/accounts/1/courses"


# --- auth ---------------------------------------------------------------------


def test_bearer_token_is_sent_only_as_authorization_header(integration, canvas):
    read_records(integration, "courses")

    for request in canvas.requests:
        assert request.header("Authorization") == f"Bearer {TOKEN}"
        assert "access_token" not in request.query
        assert request.header("Accept") == "application/json"


def test_invalid_token_raises_authentication_failed_without_retrying(
    db, canvas, make_secret
):
    wrong = make_secret("canvas-expired")
    integration = make_canvas_integration(canvas, token=wrong, account_id=1)

    with pytest.raises(AuthenticationFailed) as caught:
        read_records(integration, "courses")

    assert caught.value.status == 401
    assert "invalid, expired or revoked" in caught.value.message
    assert caught.value.details["canvas_message"] == "Invalid access token."
    assert wrong not in str(caught.value)
    assert canvas.count() == 1


def test_sync_with_invalid_token_fails_at_once_and_marks_integration_unhealthy(
    db, canvas, make_secret
):
    integration = make_canvas_integration(
        canvas, token=make_secret("canvas-revoked"), account_id=1
    )

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert "access_token credential" in run.error_summary
    assert canvas.count(COURSES_PATH) == 1
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.UNHEALTHY
    assert "Authentication failed" in integration.health_error


def test_401_without_challenge_is_permission_denied(integration, canvas):
    canvas.unauthorized.append(re.compile(COURSES_PATH))

    with pytest.raises(PermissionDenied) as caught:
        read_records(integration, "courses")

    assert caught.value.status == 401
    assert "not allowed" in caught.value.message
    assert caught.value.details["canvas_message"] == (
        "user not authorized to perform that action"
    )
    assert canvas.count(COURSES_PATH) == 1


def test_missing_credential_is_a_configuration_error_naming_it(db, canvas):
    from integrations.errors import ConfigurationError

    integration = make_canvas_integration(canvas, token=None, account_id=1)

    with pytest.raises(ConfigurationError) as caught:
        read_records(integration, "courses")

    assert "access_token" in str(caught.value)
    assert canvas.count() == 0


# --- rate limits --------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 403])
def test_throttled_answer_is_waited_out_and_retried(db, canvas, status):
    # A fast refill keeps the computed wait (to a tenth of the quota) tiny.
    integration = make_canvas_integration(
        canvas, account_id=1, per_page=2, rate_limit_refill=100000
    )
    canvas.throttle_next(2, status=status)

    records = read_records(integration, "courses")

    assert [r["external_id"] for r in records] == ["101", "102", "103", "104", "105"]
    assert canvas.count(COURSES_PATH) == 5


def test_legacy_throttle_body_is_what_tells_it_from_a_real_403(integration, canvas):
    canvas.inject(
        Reply.json({"errors": [{"message": "forbidden"}]}, 403), path=COURSES_PATH
    )

    with pytest.raises(PermissionDenied):
        read_records(integration, "courses")

    assert canvas.count(COURSES_PATH) == 1


def test_retry_after_is_honoured(db, canvas):
    integration = make_canvas_integration(canvas, account_id=1)
    canvas.throttle_next(1, retry_after=0.3)

    started = time.monotonic()
    read_records(integration, "courses")

    assert time.monotonic() - started >= 0.3
    assert canvas.count(COURSES_PATH) == 2


def test_without_retry_after_the_wait_follows_the_remaining_quota(db, canvas):
    # Remaining -1.5 of 700: back to a tenth (70) at 400 a second is 0.18 s.
    integration = make_canvas_integration(canvas, account_id=1, rate_limit_refill=400)
    canvas.throttle_next(1, status=429, remaining=-1.5)

    started = time.monotonic()
    read_records(integration, "courses")

    assert time.monotonic() - started >= 0.17
    assert canvas.count(COURSES_PATH) == 2


def test_throttling_longer_than_the_budget_requeues_the_run(integration, canvas):
    # At Canvas's default refill the wait is 7 s, beyond the 2 s budget.
    canvas.throttle_next(10, status=403)

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.status == SyncStatus.QUEUED
    assert run.error_code == "rate_limited"
    assert run.next_attempt_at is not None
    assert canvas.count(COURSES_PATH) == 1


def test_low_remaining_quota_slows_the_next_request_down(provider, integration, canvas):
    client = provider.build_client(integration)
    client.max_rate_limit_wait = 0.0
    canvas.set_remaining(30)

    client.request("GET", "/api/v1/users/self")
    with pytest.raises(RateLimitWaitTooLong):
        client.request("GET", "/api/v1/users/self")

    assert canvas.count("/api/v1/users/self") == 1


def test_spent_quota_pauses_until_a_tenth_is_back(provider, integration, canvas):
    client = provider.build_client(integration)
    client.max_rate_limit_wait = 0.0
    canvas.set_remaining(0.5)

    client.request("GET", "/api/v1/users/self")
    with pytest.raises(RateLimitWaitTooLong) as caught:
        client.request("GET", "/api/v1/users/self")

    assert isinstance(caught.value, RateLimited)
    assert canvas.count("/api/v1/users/self") == 1


def test_ample_quota_does_not_slow_anything_down(provider, integration, canvas):
    client = provider.build_client(integration)
    client.max_rate_limit_wait = 0.0
    canvas.set_remaining(400)

    client.request("GET", "/api/v1/users/self")
    client.request("GET", "/api/v1/users/self")

    assert canvas.count("/api/v1/users/self") == 2


# --- pagination ---------------------------------------------------------------


def test_next_links_are_followed_exactly_as_given(integration, canvas):
    pages = read_pages(integration, "courses")

    requests = canvas.requests_to(COURSES_PATH)
    assert len(requests) == len(pages) == 3
    first = requests[0]
    assert first.arg("per_page") == "2"
    assert first.query["state[]"] == [
        "created",
        "claimed",
        "available",
        "completed",
        "deleted",
    ]
    assert first.arg("page") is None
    for page, following in zip(pages, requests[1:], strict=False):
        assert following.target == page.next_cursor["url"].removeprefix(canvas.url)
        assert following.arg("page").startswith("bookmark:")
    assert pages[-1].next_cursor is None


def test_largest_page_is_asked_for_by_default(db, canvas):
    integration = make_canvas_integration(canvas, account_id=1)

    pages = read_pages(integration, "courses")

    assert len(pages) == 1
    assert canvas.requests_to(COURSES_PATH)[0].arg("per_page") == "100"


def test_preview_reads_a_small_page(integration, canvas):
    read_pages(integration, "courses", page_limit=1)

    assert canvas.requests_to(COURSES_PATH)[0].arg("per_page") == "1"


def test_every_listing_asks_for_complete_data(db, canvas):
    integration = make_canvas_integration(canvas, account_id=1)
    run_sync_now(integration)

    enrollments = canvas.requests_to("/api/v1/courses/101/enrollments")
    listing, progress = enrollments
    assert listing.query["type[]"] == ["StudentEnrollment", "TeacherEnrollment"]
    assert listing.query["state[]"] == [
        "active",
        "invited",
        "creation_pending",
        "completed",
        "inactive",
        "rejected",
        "deleted",
    ]
    assert listing.query["include[]"] == ["email"]
    assert progress.query["type[]"] == ["StudentEnrollment"]
    assert progress.query["state[]"] == ["active", "invited", "completed", "inactive"]
    for request in canvas.requests:
        if request.path != "/api/v1/users/self":
            assert request.arg("per_page") == "100", request.path
    # A deleted course's children are never asked for: Canvas answers 404.
    assert canvas.count("/api/v1/courses/105/assignments") == 0


# --- health -------------------------------------------------------------------


def test_health_names_the_user_and_the_remaining_quota(integration, canvas):
    result = check_health(integration)

    assert result.status == HealthStatus.HEALTHY
    assert result.details["user_id"] == "1"
    assert result.details["path"] == "/api/v1/users/self"
    assert 690 < result.details["rate_limit_remaining"] <= 700
    assert canvas.count() == 1


def test_health_with_a_bad_token_is_unhealthy_with_the_fix(db, canvas, make_secret):
    integration = make_canvas_integration(canvas, token=make_secret("canvas-old"))

    result = check_health(integration)

    assert result.status == HealthStatus.UNHEALTHY
    assert "access_token credential" in result.error
    assert result.details["code"] == "authentication_failed"
    assert canvas.count() == 1


def test_health_with_a_low_budget_is_degraded(integration, canvas):
    canvas.set_remaining(20)

    result = check_health(integration)

    assert result.status == HealthStatus.DEGRADED
    assert "throttle quota" in result.error
    assert result.details["user_id"] == "1"


def test_health_with_a_wrong_base_url_says_so(db, canvas):
    integration = make_canvas_integration(canvas)
    integration.base_url = canvas.url + "/api/v1"
    integration.save()

    result = check_health(integration)

    assert result.status == HealthStatus.UNHEALTHY
    assert "without /api/v1" in result.error
