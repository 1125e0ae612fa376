"""Health check of the YouTube provider: one ``playlists.list``, one unit.

The cheapest authenticated call the provider's own data allows:
``playlists?part=id&maxResults=1`` with the integration's first filter
(``mine=true``, the first of ``playlist_ids``, or ``channelId``). YouTube
reports no quota figures on its answers, so the report gives the call's
cost, not what is left of the day.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.health_failures import (
    FailureRules,
    elapsed_ms,
    failure_report,
)
from integrations.providers.youtube.client import LIST_COST, YouTubeApi

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.providers.youtube.sync import YouTubeConfig

PATH = "/playlists"

_FAILURES: FailureRules = (
    (
        errors.AuthenticationFailed,
        "unhealthy",
        "authentication failed: the api_key credential is not valid (a learner "
        "reconnects Google)",
    ),
    (
        errors.PermissionDenied,
        "unhealthy",
        "permission denied: the api_key is missing or restricted, or the "
        "content is not visible",
    ),
    (
        errors.RateLimited,
        "degraded",
        "YouTube's daily quota is spent; syncs wait until midnight Pacific Time",
    ),
    (
        errors.InvalidResponse,
        "unhealthy",
        "/playlists did not answer YouTube's JSON: check the base URL",
    ),
)


def probe_filter(config: YouTubeConfig) -> dict[str, str]:
    """Return the one playlists.list filter the check sends."""
    if config.mine:
        return {"mine": "true"}
    if config.playlist_ids:
        return {"id": config.playlist_ids[0]}
    return {"channelId": config.channel_id or ""}


def check_youtube_health(client: HttpClient, config: YouTubeConfig) -> HealthReport:
    """List one playlist id and report the answer and the quota it cost.

    Healthy when YouTube answers; degraded when the quota is spent or
    YouTube is failing for now; unhealthy when the key, token or base URL
    is wrong.
    """
    started = time.monotonic()
    params = probe_filter(config)
    try:
        YouTubeApi(client).probe(params)
    except errors.IntegrationError as error:
        return _failed(error, started)

    details: dict[str, Any] = {
        "latency_ms": elapsed_ms(started),
        "path": PATH,
        "filter": next(iter(params)),
        "quota_units": LIST_COST,
    }
    return HealthReport(status="healthy", details=details)


def _failed(error: errors.IntegrationError, started: float) -> HealthReport:
    details: dict[str, Any] = {"quota_units": LIST_COST}
    if isinstance(error, errors.RateLimited) and error.retry_at is not None:
        details["retry_at"] = error.retry_at.isoformat()
    return failure_report(
        error,
        started,
        rules=_FAILURES,
        event="youtube.health.failed",
        path=PATH,
        **details,
    )
