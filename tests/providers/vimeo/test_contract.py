"""The provider contract for Vimeo: auth, errors, rate limits, health.

The rate limit's reset comes from the fake's own X-RateLimit-Reset header
in each of the formats sources disagree on; no test waits on the clock.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from integrations.errors import (
    AuthenticationFailed,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RateLimitWaitTooLong,
)
from integrations.health import check_health
from integrations.models import HealthStatus, SyncStatus
from integrations.providers.vimeo.client import VimeoApi, parse_reset
from integrations.registry import get_provider
from integrations.sync.runs import run_sync_now
from tests.fakes.server import Reply
from tests.fakes.vimeo import VimeoFake, error_body
from tests.providers.vimeo.helpers import Account, make_vimeo_integration, read_records

pytestmark = pytest.mark.django_db


# --- auth and errors ------------------------------------------------------------


def test_a_bad_token_is_an_authentication_error_naming_the_credential(
    db, vimeo, account, make_secret
):
    wrong = make_secret("vimeo")
    integration = make_vimeo_integration(vimeo, wrong, user_id=account.user_id)

    with pytest.raises(AuthenticationFailed) as caught:
        read_records(integration)

    assert caught.value.status == 401
    assert "access_token credential" in caught.value.message
    assert caught.value.details["vimeo_error_code"] == 8003
    assert wrong not in str(caught.value)
    assert vimeo.count() == 1


def test_a_sync_with_a_bad_token_fails_and_marks_it_unhealthy(
    db, vimeo, account, make_secret
):
    integration = make_vimeo_integration(
        vimeo, make_secret("vimeo"), showcase_ids=[account.showcase]
    )

    playlists, *_ = run_sync_now(integration)

    assert playlists.status == SyncStatus.FAILED
    assert playlists.error_code == "authentication_failed"
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.UNHEALTHY


def test_a_missing_credential_is_a_configuration_error_naming_it(db, vimeo):
    integration = make_vimeo_integration(vimeo, None, user_id="me")

    with pytest.raises(ConfigurationError) as caught:
        read_records(integration)

    assert "access_token" in str(caught.value)
    assert vimeo.count() == 0


def test_a_private_video_of_another_account_is_permission_denied(db, vimeo, account):
    stranger = vimeo.add_user("Stranger")
    private = vimeo.add_video(stranger, "Secret", privacy="nobody")
    client = get_provider("vimeo").build_client(
        make_vimeo_integration(vimeo, account.token, user_id="me")
    )

    with pytest.raises(PermissionDenied) as caught:
        VimeoApi(client).resource(private["uri"], "uri")

    assert caught.value.status == 403
    assert caught.value.details["vimeo_error_code"] == 3200


def test_an_unknown_user_is_not_found(db, vimeo, account):
    integration = make_vimeo_integration(vimeo, account.token, user_id="999")
    client = get_provider("vimeo").build_client(integration)

    with pytest.raises(NotFound) as caught:
        list(VimeoApi(client).listing("/users/999/videos", "uri"))

    assert caught.value.status == 404
    assert caught.value.details["vimeo_error_code"] == 5000


def test_a_missing_user_is_a_failure_of_the_videos_stream(db, vimeo, account):
    integration = make_vimeo_integration(vimeo, account.token, user_id="999")

    runs = run_sync_now(integration)

    videos = next(run for run in runs if run.stream == "videos")
    assert videos.status == SyncStatus.SUCCEEDED
    assert videos.failed == 1


def test_vimeos_texts_are_kept_out_of_errors(integration, vimeo, account, make_secret):
    leaked = make_secret("leak")
    path = f"/users/{account.user_id}/videos"
    vimeo.reply(
        "GET", path, error_body(400, 2204, f"bad value {leaked}", f"dev {leaked}")
    )

    with pytest.raises(Exception) as caught:
        read_records(integration)

    assert "Vimeo refused the request" in str(caught.value)
    assert leaked not in str(caught.value)
    assert leaked not in repr(caught.value.details)
    assert caught.value.details == {"vimeo_error_code": 2204}


def test_a_next_path_off_the_api_is_refused(integration, vimeo, account):
    body = {
        "total": 2,
        "page": 1,
        "per_page": 1,
        "paging": {"next": "https://elsewhere.example/steal?page=2"},
        "data": [],
    }
    vimeo.reply("GET", f"/users/{account.user_id}/videos", Reply.json(body))

    with pytest.raises(Exception, match="paging.next is not a path"):
        read_records(integration)

    assert vimeo.count() == 1


# --- rate limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1767225600", "Thu, 01 Jan 2026 00:00:00 GMT", "2026-01-01T00:00:00+00:00"],
)
def test_the_reset_reads_as_epoch_seconds_in_every_format(value):
    assert parse_reset(value) == datetime(2026, 1, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan"])
def test_an_unreadable_reset_is_none(value):
    assert parse_reset(value) is None


@pytest.mark.parametrize("reset_format", ["epoch", "http", "iso"])
def test_a_429_is_rate_limited_until_the_reset(db, reset_format):
    with VimeoFake(reset_format=reset_format) as fake:
        account = Account.build(fake, videos=1, showcase=1)
        integration = make_vimeo_integration(fake, account.token, user_id="me")
        fake.exhaust()

        with pytest.raises(RateLimited) as caught:
            read_records(integration)

    assert caught.value.status == 429
    assert abs(caught.value.retry_at.timestamp() - fake.reset_at) <= 1
    assert fake.requests[0].path == "/me/videos"
    assert fake.count() == 1


def test_a_spent_window_requeues_the_run_until_the_reset(integration, vimeo):
    vimeo.exhaust()

    playlists, *_ = run_sync_now(integration)

    assert playlists.status == SyncStatus.QUEUED
    assert playlists.error_code == "rate_limited"
    reset = datetime.fromtimestamp(vimeo.reset_at, tz=UTC)
    assert abs((playlists.next_attempt_at - reset).total_seconds()) <= 1


@pytest.mark.parametrize("reset_format", ["epoch", "http"])
def test_a_low_remaining_spaces_the_next_requests_out(db, reset_format):
    with VimeoFake(reset_format=reset_format) as fake:
        account = Account.build(fake, videos=1, showcase=1)
        integration = make_vimeo_integration(fake, account.token, user_id="me")
        client = get_provider("vimeo").build_client(integration)
        client.max_rate_limit_wait = 0.0
        fake.set_remaining(50)

        client.request("GET", "/me")
        with pytest.raises(RateLimitWaitTooLong):
            client.request("GET", "/me")

    assert fake.count() == 1


# --- health -------------------------------------------------------------------------


def test_health_names_the_account_and_the_remaining_requests(integration, vimeo):
    result = check_health(integration)

    assert result.status == HealthStatus.HEALTHY
    assert result.details["account"] == "School of Film"
    assert result.details["path"] == "/me"
    assert result.details["rate_limit_remaining"] == 999
    assert result.details["rate_limit_limit"] == 1000
    assert result.details["rate_limit_reset"] == vimeo.reset_at
    [request] = vimeo.requests
    assert request.arg("fields") == "uri,name"


def test_health_with_little_left_is_degraded(integration, vimeo):
    vimeo.set_remaining(20)

    result = check_health(integration)

    assert result.status == HealthStatus.DEGRADED
    assert "19 of the token's 1000 requests" in result.error


def test_health_with_a_bad_token_is_unhealthy_with_the_fix(
    db, vimeo, account, make_secret
):
    integration = make_vimeo_integration(vimeo, make_secret("vimeo"), user_id="me")

    result = check_health(integration)

    assert result.status == HealthStatus.UNHEALTHY
    assert "access_token" in result.error


def test_health_when_rate_limited_is_degraded(integration, vimeo):
    vimeo.exhaust()

    result = check_health(integration)

    assert result.status == HealthStatus.DEGRADED


def test_nothing_logged_carries_the_token(integration, vimeo, account, caplog):
    caplog.set_level(logging.DEBUG)

    run_sync_now(integration)
    vimeo.exhaust()
    run_sync_now(integration)
    check_health(integration)

    assert account.token not in caplog.text
