"""YouTube Data API v3 on the portal's shared HttpClient.

A thin layer: :class:`YouTubeApi` names the list calls the provider makes
and follows ``nextPageToken`` through the HTTP layer's body-cursor
pagination; this module supplies the two hooks the HttpClient asks
providers for: how YouTube signals a spent quota (:class:`YouTubeThrottle`)
and what its error answers mean (:class:`YouTubeErrors`). The shared layer
already revalidates with ``If-None-Match`` the responses that carried an
``ETag`` (docs/http-layer.md, "Caching").

YouTube docs: https://developers.google.com/youtube/v3/docs/errors and
https://developers.google.com/youtube/v3/getting-started#quota.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from integrations import errors
from integrations.http.pagination import BodyCursorPagination, FetchedPage
from integrations.http.retry import RateLimitSignal

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.http.response import HttpResponse

PUBLIC_API = "https://www.googleapis.com/youtube/v3"
#: The most items a list page holds, and the most ids one videos.list takes.
MAX_RESULTS = 50
#: Every list call costs this many units of the day's quota.
LIST_COST = 1
#: "Daily quotas reset at midnight Pacific Time" (Quota usage).
QUOTA_ZONE = ZoneInfo("America/Los_Angeles")
#: Reasons that mean the project's day of quota is spent.
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
#: Reasons that mean too many requests for now (retried with backoff).
BURST_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_KEY_REASONS = frozenset({"keyInvalid", "keyExpired"})


@dataclass(frozen=True)
class GoogleError:
    """The parts of Google's JSON error body the portal reads (never its text).

    ``reason`` is the first ``errors[].reason``; ``detail_reasons`` are the
    ErrorInfo reasons of ``details[]`` (``API_KEY_INVALID``); ``status`` is
    the newer canonical status (``PERMISSION_DENIED``).
    """

    reason: str = ""
    detail_reasons: frozenset[str] = frozenset()
    status: str = ""

    @classmethod
    def of(cls, response: HttpResponse) -> GoogleError:
        """Read ``response``'s error body; an unreadable one reads as empty."""
        try:
            body = response.json()
        except errors.InvalidResponse:
            return cls()
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls()
        listed = error.get("errors")
        first = listed[0] if isinstance(listed, list) and listed else {}
        reason = first.get("reason") if isinstance(first, dict) else None
        details = error.get("details")
        detail_reasons = frozenset(
            detail["reason"]
            for detail in (details if isinstance(details, list) else [])
            if isinstance(detail, dict) and isinstance(detail.get("reason"), str)
        )
        status = error.get("status")
        return cls(
            reason=reason if isinstance(reason, str) else "",
            detail_reasons=detail_reasons,
            status=status if isinstance(status, str) else "",
        )

    @property
    def key_invalid(self) -> bool:
        """Tell whether Google refused the API key itself."""
        return self.reason in _KEY_REASONS or "API_KEY_INVALID" in self.detail_reasons


def next_quota_reset(now: datetime | None = None) -> datetime:
    """Return the next midnight in Pacific Time, when the day's quota resets."""
    now = now.astimezone(QUOTA_ZONE) if now else datetime.now(QUOTA_ZONE)
    tomorrow = (now + timedelta(days=1)).date()
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=QUOTA_ZONE)


@dataclass(frozen=True)
class YouTubeThrottle:
    """Tell the HTTP layer which 403s are rate limits, and for how long.

    A spent day (``quotaExceeded``, ``dailyLimitExceeded``) lasts until the
    next midnight Pacific Time; that wait is far longer than any call waits,
    so the client raises RateLimited with ``retry_at`` at once and the sync
    engine queues the run again for then. A burst limit
    (``rateLimitExceeded``) is retried with the client's backoff. YouTube
    sends no quota figures on answers, so nothing else is signalled.
    """

    def __call__(self, response: HttpResponse) -> RateLimitSignal | None:
        """Return the signal a 403 carries, or None."""
        if response.status != 403:
            return None
        reason = GoogleError.of(response).reason
        if reason in QUOTA_REASONS:
            wait = next_quota_reset().timestamp() - time.time()
            return RateLimitSignal(retry_after=max(wait, 0.0), limited=True)
        if reason in BURST_REASONS:
            return RateLimitSignal(limited=True)
        return None


@dataclass(frozen=True)
class YouTubeErrors:
    """Map Google's error answers to the portal's typed errors by ``reason``.

    ``learner`` says the token is a learner's Google connection, so the fix
    an admin reads is a reconnection rather than a new key. Quota refusals
    never reach here: the client reads them first (YouTubeThrottle).
    """

    learner: bool = False

    def __call__(self, response: HttpResponse) -> errors.IntegrationError | None:
        """Return the typed error ``response`` means (None: the client's default)."""
        status = response.status
        if status < 400 or status >= 500:
            return None

        google = GoogleError.of(response)
        details: dict[str, Any] = {}
        if google.reason:
            details["youtube_reason"] = google.reason
        if google.key_invalid:
            return errors.AuthenticationFailed(
                "Google refused the API key (API key not valid): check the "
                "integration's api_key credential; the key must belong to a "
                "project with YouTube Data API v3 enabled",
                details=details,
            )
        if status == 401:
            return errors.AuthenticationFailed(self._auth_fix(), details=details)
        if status == 404:
            return errors.NotFound(
                "YouTube has no such playlist, or it is private to another channel",
                details=details,
            )
        if google.reason == "accessNotConfigured":
            return errors.ConfigurationError(
                "YouTube Data API v3 is not enabled for the api_key's Google "
                "Cloud project: enable it in the Cloud console",
                details=details,
            )
        if status == 403:
            return errors.PermissionDenied(
                "YouTube refused access: the api_key credential is missing or "
                "restricted (HTTP referrers, IP addresses or APIs), or the "
                "content is not visible to this account",
                details=details,
            )
        return errors.PermanentError("YouTube refused the request", details=details)

    def _auth_fix(self) -> str:
        if self.learner:
            return (
                "Google rejected the learner's token: it was revoked or has "
                "expired; the learner must connect Google again on their "
                "Connected accounts page"
            )
        return (
            "YouTube asked for a signed-in account: the mine setting needs a "
            "learner's Google connection; with an api_key credential set "
            "playlist_ids or channel_id instead"
        )


class YouTubeApi:
    """The YouTube list calls the provider makes, on the integration's HttpClient."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def listing(
        self,
        resource: str,
        params: Mapping[str, Any],
        cursor: dict[str, Any] | None = None,
    ) -> Iterator[FetchedPage]:
        """Yield the pages of ``GET /<resource>`` from ``cursor`` (None: the first).

        Each page's ``next_cursor`` is ``{"cursor": nextPageToken}`` as
        YouTube gave it, None on the last page.
        """
        return self.http.paginate(
            f"/{resource}",
            params=params,
            pagination=BodyCursorPagination("nextPageToken", "pageToken"),
            cursor=cursor,
            items_path="items",
        )

    def videos(self, ids: list[str], part: str) -> list[Any]:
        """Return ``videos.list`` for up to 50 ids (one call, one unit)."""
        if len(ids) > MAX_RESULTS:
            raise ValueError(f"videos.list takes at most {MAX_RESULTS} ids")
        response = self.http.request(
            "GET", "/videos", params={"part": part, "id": ",".join(ids)}
        )
        return _items(response)

    def probe(self, params: Mapping[str, Any]) -> HttpResponse:
        """GET one playlist id (``part=id``, one result): the health check's call."""
        response = self.http.request(
            "GET", "/playlists", params={"part": "id", "maxResults": 1, **params}
        )
        _items(response)
        return response


def _items(response: HttpResponse) -> list[Any]:
    body = response.json()
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise response.invalid("YouTube's answer has no items list")
    return items
