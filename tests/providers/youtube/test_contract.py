"""The provider contract for YouTube: auth, quota, errors by reason, health.

A spent quota is the fake's own 403 ``quotaExceeded``; its wait is computed
from the next midnight in Pacific Time, never from a wall-clock limit here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from integrations.errors import (
    AuthenticationFailed,
    ConfigurationError,
    NotFound,
    PermanentError,
    PermissionDenied,
    RateLimited,
)
from integrations.health import check_health
from integrations.models import HealthStatus, SyncStatus
from integrations.providers.youtube.client import YouTubeApi, next_quota_reset
from integrations.redaction import redact_text
from integrations.registry import get_provider
from integrations.sync.runs import run_sync_now
from tests.fakes.youtube import YouTubeError, YouTubeFake
from tests.providers.youtube.helpers import make_youtube_integration, read_records

pytestmark = pytest.mark.django_db

PLAYLISTS = "/youtube/v3/playlists"
PACIFIC = ZoneInfo("America/Los_Angeles")


# --- auth ---------------------------------------------------------------------


def test_a_bad_key_is_an_authentication_error_naming_the_credential(
    db, youtube, channel, make_secret
):
    wrong = make_secret("AIzaNotAValidKeyAtAll0123456789abcdefgh")
    integration = make_youtube_integration(
        youtube, wrong, playlist_ids=[channel.course]
    )

    with pytest.raises(AuthenticationFailed) as caught:
        read_records(integration)

    assert caught.value.status == 400
    assert "api_key credential" in caught.value.message
    assert caught.value.details["youtube_reason"] == "badRequest"
    assert wrong not in str(caught.value)
    assert youtube.count() == 1


def test_the_legacy_key_invalid_answer_reads_the_same(db, channel, make_secret):
    with YouTubeFake(legacy_key_error=True) as legacy:
        integration = make_youtube_integration(
            legacy, make_secret("AIzaOldKey0123456789"), playlist_ids=["PLx"]
        )

        with pytest.raises(AuthenticationFailed) as caught:
            read_records(integration)

    assert caught.value.details["youtube_reason"] == "keyInvalid"
    assert "api_key credential" in caught.value.message


def test_a_sync_with_a_bad_key_fails_at_once_and_marks_it_unhealthy(
    db, youtube, channel, make_secret
):
    integration = make_youtube_integration(
        youtube, make_secret("AIzaRevoked0123456789"), playlist_ids=[channel.course]
    )

    playlists, *_ = run_sync_now(integration)

    assert playlists.status == SyncStatus.FAILED
    assert playlists.error_code == "authentication_failed"
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.UNHEALTHY


def test_the_key_is_masked_in_logged_urls_and_errors(integration, api_key, caplog):
    text = f"GET https://www.googleapis.com/youtube/v3/videos?part=id&key={api_key}"

    assert api_key not in redact_text(text)
    assert "key=***" in redact_text(text)
    # Even a key the process never registered, by the parameter's name.
    assert "AIzaUnregistered" not in redact_text("?key=AIzaUnregistered0123&id=x")


def test_a_missing_credential_is_a_configuration_error_naming_it(db, youtube):
    integration = make_youtube_integration(youtube, None, playlist_ids=["PLx"])

    with pytest.raises(ConfigurationError) as caught:
        read_records(integration)

    assert "api_key" in str(caught.value)
    assert youtube.count() == 0


def test_mine_without_a_connection_is_a_configuration_error(db, youtube, api_key):
    integration = make_youtube_integration(youtube, api_key, mine=True)

    with pytest.raises(ConfigurationError) as caught:
        read_records(integration)

    assert caught.value.message.startswith("mine:")
    assert youtube.count() == 0


def test_a_bearer_401_asks_for_a_signed_in_account(integration, youtube):
    youtube.reply(
        "GET",
        PLAYLISTS,
        YouTubeError(
            401, "Login Required.", "required", status="UNAUTHENTICATED"
        ).reply(),
    )

    with pytest.raises(AuthenticationFailed) as caught:
        read_records(integration)

    assert "mine setting needs a learner's Google connection" in caught.value.message


@pytest.mark.parametrize(
    ("status", "reason", "error_class", "fix"),
    [
        (403, "forbidden", PermissionDenied, "api_key credential is missing"),
        (403, "accessNotConfigured", ConfigurationError, "is not enabled"),
        (400, "invalidPageToken", PermanentError, "YouTube refused the request"),
    ],
)
def test_google_reasons_map_to_typed_errors(
    integration, youtube, status, reason, error_class, fix
):
    body = YouTubeError(status, "<b>Google's own words</b>", reason).reply()
    youtube.reply("GET", PLAYLISTS, body)

    with pytest.raises(error_class) as caught:
        read_records(integration)

    assert type(caught.value) is error_class
    assert caught.value.details["youtube_reason"] == reason
    assert fix in caught.value.message
    assert "Google's own words" not in str(caught.value)
    assert youtube.count(PLAYLISTS) == 1


def test_a_playlist_not_found_is_not_found(integration, youtube):
    client = get_provider("youtube").build_client(integration)
    params = {"part": "id", "playlistId": "PLgone"}

    with pytest.raises(NotFound) as caught:
        list(YouTubeApi(client).listing("playlistItems", params))

    assert caught.value.status == 404
    assert caught.value.details["youtube_reason"] == "playlistNotFound"


# --- quota --------------------------------------------------------------------


def test_the_quota_resets_at_the_next_pacific_midnight():
    summer = datetime(2026, 7, 1, 6, 30, tzinfo=UTC)  # 23:30 on June 30 in PDT
    winter = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # 01:00 on Dec 4 in PST

    assert next_quota_reset(summer) == datetime(2026, 7, 1, tzinfo=PACIFIC)
    assert next_quota_reset(summer).astimezone(UTC).hour == 7
    assert next_quota_reset(winter) == datetime(2026, 12, 5, tzinfo=PACIFIC)
    assert next_quota_reset(winter).astimezone(UTC).hour == 8


@pytest.mark.parametrize("reason", ["quotaExceeded", "dailyLimitExceeded"])
def test_a_spent_quota_raises_rate_limited_until_pacific_midnight(
    integration, youtube, reason
):
    youtube.reply(
        "GET",
        PLAYLISTS,
        YouTubeError(403, "quota", reason, domain="youtube.quota").reply(),
    )

    with pytest.raises(RateLimited) as caught:
        read_records(integration)

    expected = next_quota_reset()
    assert abs((caught.value.retry_at - expected).total_seconds()) <= 2
    assert caught.value.status == 403
    assert youtube.count(PLAYLISTS) == 1


def test_a_spent_quota_requeues_the_run_without_retrying(integration, youtube):
    youtube.set_quota(10_000, used=10_000)

    playlists, *rest = run_sync_now(integration)

    assert playlists.status == SyncStatus.QUEUED
    assert playlists.error_code == "rate_limited"
    expected = next_quota_reset()
    assert abs((playlists.next_attempt_at - expected).total_seconds()) <= 2
    assert youtube.count(PLAYLISTS) == 1


def test_each_call_costs_one_unit(integration, youtube):
    run_sync_now(integration)

    # Two playlists by id in one call, two item pages, one videos.list.
    assert youtube.quota_used == 4 == youtube.count()


# --- health -------------------------------------------------------------------


def test_health_lists_one_playlist_id_for_one_unit(integration, youtube, channel):
    result = check_health(integration)

    assert result.status == HealthStatus.HEALTHY
    assert result.details["path"] == "/playlists"
    assert result.details["filter"] == "id"
    assert result.details["quota_units"] == 1
    [request] = youtube.requests
    assert (request.arg("part"), request.arg("id")) == ("id", channel.course)
    assert request.arg("maxResults") == "1"
    assert youtube.quota_used == 1


def test_health_with_a_bad_key_is_unhealthy_with_the_fix(
    db, youtube, channel, make_secret
):
    integration = make_youtube_integration(
        youtube, make_secret("AIzaExpired0123456789"), channel_id=channel.channel_id
    )

    result = check_health(integration)

    assert result.status == HealthStatus.UNHEALTHY
    assert "api_key" in result.error
    assert youtube.requests[0].arg("channelId") == channel.channel_id


def test_health_with_the_quota_spent_is_degraded_until_midnight(integration, youtube):
    youtube.set_quota(10_000, used=10_000)

    result = check_health(integration)

    assert result.status == HealthStatus.DEGRADED
    assert "midnight Pacific" in result.error
    assert result.details["retry_at"]


def test_nothing_logged_carries_the_key(integration, youtube, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    youtube.set_quota(10_000, used=10_000)

    run_sync_now(integration)
    check_health(integration)

    assert api_key not in caplog.text


def test_a_burst_limit_is_retried_with_backoff(integration, youtube):
    limited = YouTubeError(403, "slow down", "rateLimitExceeded").reply()
    youtube.reply("GET", PLAYLISTS, limited, limited, limited, limited)

    with pytest.raises(RateLimited):
        read_records(integration)

    assert youtube.count(PLAYLISTS) > 1
