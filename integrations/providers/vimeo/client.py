"""Vimeo's API (version 3.4) on the portal's shared HttpClient.

A thin layer: :class:`VimeoApi` names the calls the provider makes and
follows the collection's ``paging.next`` path exactly as Vimeo gave it
(:class:`VimeoPaging`); this module supplies the two hooks the HttpClient
asks providers for: how Vimeo signals its rate limit (:class:`VimeoThrottle`)
and what its error answers mean (:class:`VimeoErrors`).

Vimeo docs: https://developer.vimeo.com/api/common-formats (collections,
paging, the JSON filter ``fields=``, versioning by ``Accept``) and
https://developer.vimeo.com/guidelines/rate-limiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar

from integrations import errors
from integrations.http.pagination import FetchedPage, PageRequest, Pagination, dig
from integrations.http.retry import RateLimitSignal
from integrations.providers.headers import number_header
from integrations.providers.status_errors import StatusErrors

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.http.response import HttpResponse

PUBLIC_API = "https://api.vimeo.com"
#: The API version travels in Accept; without it Vimeo answers its latest.
ACCEPT = "application/vnd.vimeo.*+json;version=3.4"
#: The most items a collection page holds ("per_page ... max 100").
MAX_PER_PAGE = 100
#: Below this share of the window's requests the shared limiter spaces calls.
LOW_BUDGET_RATIO = 0.1


def parse_reset(value: str | None) -> float | None:
    """Return ``X-RateLimit-Reset`` as epoch seconds, or None if unreadable.

    Sources disagree on its format (API_NOTES.md section 8): the Ruby gem
    reads epoch seconds, the .NET client a date. Both are accepted: a
    number, an HTTP date (RFC 9110) or an ISO 8601 date (UTC without zone).
    """
    raw = (value or "").strip()
    if not raw:
        return None

    try:
        number = float(raw)
    except ValueError:
        number = None
    if number is not None:
        return number if math.isfinite(number) and number >= 0 else None

    when: datetime | None = None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass(frozen=True)
class VimeoError:
    """The part of Vimeo's error body the portal keeps: its ``error_code``.

    The body is ``{"error", "link", "developer_message", "error_code"}``;
    its texts may echo what was sent (ids, names, a token pasted in the
    wrong place), so none of them is kept, logged or shown: the code says
    which error it was (developer.vimeo.com/api/guides/error-codes).
    """

    code: int | None = None

    @classmethod
    def of(cls, response: HttpResponse) -> VimeoError:
        """Read ``response``'s error body; an unreadable one reads as empty."""
        try:
            body = response.json()
        except errors.InvalidResponse:
            return cls()
        code = body.get("error_code") if isinstance(body, dict) else None
        if isinstance(code, bool) or not isinstance(code, int):
            return cls()
        return cls(code=code)

    def details(self) -> dict[str, Any]:
        """Return the error's details for the portal's typed error."""
        return {} if self.code is None else {"vimeo_error_code": self.code}


@dataclass(frozen=True)
class VimeoThrottle:
    """Read Vimeo's ``X-RateLimit-*`` headers into the HTTP layer's signal.

    Answers carry ``X-RateLimit-Remaining`` of ``X-RateLimit-Limit`` until
    ``X-RateLimit-Reset`` (epoch seconds or a date, :func:`parse_reset`); the
    shared limiter spaces requests when little is left. A 429 is a rate
    limit until the reset (the client's backoff without one).

    A frozen dataclass, so equal hooks compare equal and the client factory
    keeps reusing the integration's client.
    """

    def __call__(self, response: HttpResponse) -> RateLimitSignal | None:
        """Return the signal ``response`` carries, or None when it has none."""
        remaining = number_header(response, "x-ratelimit-remaining")
        limit = number_header(response, "x-ratelimit-limit")
        reset_at = parse_reset(response.headers.get("x-ratelimit-reset"))

        if response.status == 429:
            wait = None if reset_at is None else max(0.0, reset_at - time.time())
            return RateLimitSignal(
                remaining=remaining,
                limit=limit,
                reset_at=reset_at,
                retry_after=wait,
                limited=True,
            )
        if remaining is None:
            return None
        return RateLimitSignal(remaining=remaining, limit=limit, reset_at=reset_at)


@dataclass(frozen=True)
class VimeoErrors(StatusErrors):
    """Map Vimeo's error answers to the portal's typed errors by status.

    A 429 never reaches here: the client reads it first (VimeoThrottle).
    Vimeo's numeric ``error_code`` goes into the details, its texts never.
    """

    service: ClassVar[str] = "Vimeo"
    forbidden: ClassVar[str] = (
        "Vimeo refused the token access: it lacks a scope (private videos "
        "need 'private'), or the video or showcase belongs to another "
        "account"
    )
    not_found: ClassVar[str] = (
        "Vimeo has no such video, showcase or user, or hides it from this token"
    )
    credential_fix: ClassVar[str] = (
        "Vimeo rejected the access token: it is invalid or was revoked. "
        "Generate a new one in the Vimeo app's settings and update the "
        "integration's access_token credential"
    )

    def details(self, response: HttpResponse) -> dict[str, Any]:
        """Keep Vimeo's numeric error code."""
        return VimeoError.of(response).details()


class VimeoPaging(Pagination):
    """Follow a collection's ``paging.next`` path exactly as Vimeo gave it.

    The cursor is ``{"path": next}``: a path on the API's origin with its
    query (``/users/1/videos?page=2&per_page=100&fields=...``). No page
    number is computed; a ``next`` that is not such a path is refused.
    """

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> PageRequest:
        """Return the first page's request, or the stored next path as given."""
        if cursor is None:
            return PageRequest(path, dict(params) if params else None)
        next_path = cursor.get("path") if isinstance(cursor, Mapping) else None
        if not is_api_path(next_path):
            raise ValueError(
                f"A VimeoPaging cursor's 'path' must be a path such as "
                f"'/me/videos?page=2', not {next_path!r}."
            )
        return PageRequest(next_path, None)

    def next_cursor(
        self, request: PageRequest, response: HttpResponse, body: Any, items: list[Any]
    ) -> dict[str, Any] | None:
        """Return ``{"path": next}``, or None when ``paging.next`` is null."""
        found, next_path = dig(body, "paging.next")
        if not found or next_path in (None, ""):
            return None
        if not is_api_path(next_path):
            raise response.invalid(
                "Vimeo's paging.next is not a path on the API (expected '/...')"
            )
        return {"path": next_path}


def is_api_path(value: Any) -> bool:
    """Tell whether ``value`` is a path on the API's origin (``/...``, not ``//``)."""
    return (
        isinstance(value, str) and value.startswith("/") and not value.startswith("//")
    )


class VimeoApi:
    """The Vimeo calls the provider makes, on the integration's HttpClient."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def listing(
        self,
        path: str,
        fields: str,
        cursor: dict[str, Any] | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[FetchedPage]:
        """Yield the pages of the collection at ``path`` from ``cursor``.

        The first page asks for ``per_page`` items and only ``fields``;
        later pages are ``paging.next`` as given, which carries both.
        """
        params = {"per_page": per_page, "fields": fields}
        return self.http.paginate(
            path,
            params=params,
            pagination=VimeoPaging(),
            cursor=cursor,
            items_path="data",
        )

    def resource(self, path: str, fields: str) -> tuple[dict[str, Any], HttpResponse]:
        """GET one resource (a video, a showcase, ``/me``) with only ``fields``."""
        response = self.http.request("GET", path, params={"fields": fields})
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("uri"), str):
            raise response.invalid("Vimeo's answer has no uri")
        return body, response
