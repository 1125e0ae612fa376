"""The contract every provider passes: auth, rate limits, pagination, health.

Rate-limit waits come from the fake's own headers (a reset one second off,
a retry-after of a tenth of a second), never from wall-clock limits in the
tests.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.errors import (
    AuthenticationFailed,
    ConfigurationError,
    PermissionDenied,
    RateLimited,
)
from integrations.health import check_health
from integrations.models import HealthStatus, SyncStatus
from integrations.sync.runs import run_sync_now
from tests.fakes.server import Reply
from tests.providers.github.helpers import (
    LISTING,
    make_github_integration,
    read_records,
)

pytestmark = pytest.mark.django_db


# --- auth ---------------------------------------------------------------------


def test_the_token_is_sent_only_as_a_bearer_header(integration, github, token):
    read_records(integration)

    for request in github.requests:
        assert request.header("Authorization") == f"Bearer {token}"
        assert "access_token" not in request.query
    listing = github.requests_to(LISTING)[0]
    assert listing.header("Accept") == "application/vnd.github+json"
    assert listing.header("User-Agent").startswith("ORCATech-Portal/")


def test_bad_credentials_raise_authentication_failed_without_retrying(
    db, github, octocat, make_secret
):
    wrong = make_secret("ghp_not-a-token-at-all")
    integration = make_github_integration(github, wrong)

    with pytest.raises(AuthenticationFailed) as caught:
        read_records(integration)

    assert caught.value.status == 401
    assert "access_token credential" in caught.value.message
    assert caught.value.details["github_message"] == "Bad credentials"
    assert wrong not in str(caught.value)
    assert github.count() == 1


def test_a_sync_with_a_revoked_token_fails_at_once_and_marks_it_unhealthy(
    integration, github, token
):
    github.oauth.revoke(token)

    [run] = run_sync_now(integration)

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert run.attempts == 1
    assert github.count(LISTING) == 1
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.UNHEALTHY


def test_a_plain_403_is_permission_denied(integration, github):
    github.reply(
        "GET",
        LISTING,
        Reply.json(
            {"message": "Resource protected by organization SAML enforcement."}, 403
        ),
    )

    with pytest.raises(PermissionDenied) as caught:
        read_records(integration)

    assert "SAML" in caught.value.details["github_message"]
    assert github.count(LISTING) == 1


def test_a_missing_credential_is_a_configuration_error_naming_it(db, github):
    integration = make_github_integration(github, None)

    with pytest.raises(ConfigurationError) as caught:
        read_records(integration)

    assert "access_token" in str(caught.value)
    assert github.count() == 0


# --- rate limits --------------------------------------------------------------


def test_a_spent_quota_is_waited_out_until_the_reset(integration, github, octocat):
    github.exhaust_quota(octocat, reset_in=1)

    records = read_records(integration)

    assert len(records) == 3
    first, retried = github.requests_to(LISTING)
    assert retried.number == first.number + 1


def test_a_spent_quota_beyond_the_budget_raises_rate_limited_until_reset(
    integration, github, octocat
):
    github.exhaust_quota(octocat, reset_in=3600)

    with pytest.raises(RateLimited) as caught:
        read_records(integration)

    reset = int(github.oauth.clock.now()) + 3600
    assert abs(caught.value.retry_at.timestamp() - reset) <= 2
    assert caught.value.status == 403
    assert github.count(LISTING) == 1


def test_a_spent_quota_requeues_the_run_until_the_reset(integration, github, octocat):
    github.exhaust_quota(octocat, reset_in=3600)

    [run] = run_sync_now(integration)

    assert run.status == SyncStatus.QUEUED
    assert run.error_code == "rate_limited"
    reset = datetime.fromtimestamp(int(github.oauth.clock.now()) + 3600, tz=UTC)
    assert abs((run.next_attempt_at - reset).total_seconds()) <= 2


@pytest.mark.parametrize("status", [403, 429])
def test_the_secondary_limit_honours_retry_after(integration, github, status):
    github.trip_secondary_limit(2, retry_after=0.1, status=status)

    records = read_records(integration)

    assert len(records) == 3
    assert github.count(LISTING) == 3


def test_the_secondary_limit_without_retry_after_waits_a_minute(integration, github):
    github.trip_secondary_limit(1)

    with pytest.raises(RateLimited) as caught:
        read_records(integration)

    wait = caught.value.retry_at.timestamp() - datetime.now(UTC).timestamp()
    assert 55 < wait <= 60
    assert github.count(LISTING) == 1


def test_a_low_quota_spaces_the_next_requests_out(provider_client, github, octocat):
    from integrations.errors import RateLimitWaitTooLong

    client = provider_client
    client.max_rate_limit_wait = 0.0
    github.set_remaining(octocat, 100)

    client.request("GET", "/user")
    with pytest.raises(RateLimitWaitTooLong):
        client.request("GET", "/user")

    assert github.count("/api/v3/user") == 1


@pytest.fixture
def provider_client(integration):
    from integrations.registry import get_provider

    return get_provider("github").build_client(integration)


# --- health -------------------------------------------------------------------


def test_health_names_the_login_and_the_remaining_quota(integration, github):
    result = check_health(integration)

    assert result.status == HealthStatus.HEALTHY
    assert result.details["login"] == "octocat"
    assert result.details["path"] == "/user"
    assert result.details["rate_limit_remaining"] == 4999
    assert result.details["rate_limit_limit"] == 5000
    assert github.count() == 1


def test_health_with_a_bad_token_is_unhealthy_with_the_fix(db, github, make_secret):
    integration = make_github_integration(github, make_secret("ghp_expired-token"))

    result = check_health(integration)

    assert result.status == HealthStatus.UNHEALTHY
    assert "access_token credential" in result.error
    assert result.details["code"] == "authentication_failed"


def test_health_with_little_quota_left_is_degraded(integration, github, octocat):
    github.set_remaining(octocat, 300)

    result = check_health(integration)

    assert result.status == HealthStatus.DEGRADED
    assert "299 of the token's 5000" in result.error


def test_health_with_a_wrong_base_url_says_so(db, github, token):
    integration = make_github_integration(
        github, token, base_url=f"{github.url}/api/v3/nowhere"
    )

    result = check_health(integration)

    assert result.status == HealthStatus.UNHEALTHY
    assert "https://HOST/api/v3" in result.error
