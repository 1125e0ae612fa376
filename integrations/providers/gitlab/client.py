"""GitLab's REST API (v4) on the portal's shared HttpClient.

:class:`GitLabApi` names the calls the provider makes; this module also
supplies the two hooks the HttpClient asks providers for: how GitLab
signals its rate limits (:class:`GitLabThrottle`) and what its error
answers mean (:class:`GitLabErrors`).

GitLab docs: https://docs.gitlab.com/api/rest/ (pagination),
https://docs.gitlab.com/api/rest/authentication/ and
https://docs.gitlab.com/security/rate_limits/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from integrations import errors
from integrations.http.pagination import (
    FetchedPage,
    HeaderPagePagination,
    LinkHeaderPagination,
)
from integrations.http.retry import RateLimitSignal
from integrations.providers.headers import number_header
from integrations.providers.status_errors import StatusErrors
from integrations.redaction import redact_text

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.http.response import HttpResponse

PUBLIC_API = "https://gitlab.com/api/v4"
#: The header GitLab reads a personal, project or group access token from.
TOKEN_HEADER = "PRIVATE-TOKEN"  # noqa: S105 (a header name, not a secret)
#: Below this share of the limit the health check reports degraded.
LOW_BUDGET_RATIO = 0.1
_MAX_GITLAB_MESSAGE = 300


def gitlab_message(response: HttpResponse) -> str:
    """Return GitLab's ``message`` (or ``error``) from a body, redacted and short.

    GitLab's message is a string ("404 Project Not Found") or, for
    validation errors, an object of field names to lists of texts.
    """
    try:
        body = response.json()
    except errors.InvalidResponse:
        return ""
    if not isinstance(body, dict):
        return ""
    message = body.get("message", body.get("error", ""))
    if not isinstance(message, str):
        message = str(message)
    return redact_text(message)[:_MAX_GITLAB_MESSAGE]


@dataclass(frozen=True)
class GitLabThrottle:
    """Read GitLab's ``RateLimit-*`` headers into a RateLimitSignal.

    GitLab sends ``RateLimit-Limit``, ``RateLimit-Remaining`` and
    ``RateLimit-Reset`` (epoch seconds) on throttled paths, and answers 429
    ``Retry later`` with ``Retry-After`` once the limit is spent. GitLab.com
    does not send the headers on every answer (gitlab issues #365728,
    #217312), so an answer without them carries no signal.

    Frozen, so equal hooks compare equal and the factory reuses the client.
    """

    def __call__(self, response: HttpResponse) -> RateLimitSignal | None:
        """Return the signal ``response`` carries, or None when it has none."""
        remaining = number_header(response, "RateLimit-Remaining")
        limit = number_header(response, "RateLimit-Limit")
        reset_at = number_header(response, "RateLimit-Reset")

        if response.status == 429:
            wait = number_header(response, "Retry-After")
            if wait is None and reset_at is not None:
                wait = max(0.0, reset_at - time.time())
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
class GitLabErrors(StatusErrors):
    """Map GitLab's error answers to the portal's typed errors.

    A 429 is left to the client, which reads it with GitLabThrottle.
    GitLab's ``message`` goes into the details.
    """

    service: ClassVar[str] = "GitLab"
    forbidden: ClassVar[str] = (
        "GitLab refused the token access: it lacks the read_api scope, "
        "or its role in the project is too low"
    )
    not_found: ClassVar[str] = (
        "GitLab has no such resource, or hides it from this token "
        "(GitLab answers 404 for projects a token may not see)"
    )
    credential_fix: ClassVar[str] = (
        "GitLab rejected the access token (401 Unauthorized): it is invalid, "
        "expired or revoked. Create a new token with the read_api scope and "
        "update the integration's access_token credential"
    )
    passed_through: ClassVar[frozenset[int]] = frozenset({429})

    def details(self, response: HttpResponse) -> dict[str, Any]:
        """Keep GitLab's ``message``, redacted and short."""
        message = gitlab_message(response)
        return {"gitlab_message": message} if message else {}


class GitLabApi:
    """The GitLab calls the provider makes, on the integration's HttpClient."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def keyset_listing(
        self,
        path: str,
        params: Mapping[str, Any],
        cursor: dict[str, Any] | None = None,
    ) -> Iterator[FetchedPage]:
        """Yield a keyset-paginated listing's pages from ``cursor``.

        Each page's ``next_cursor`` is ``{"url": ...}``, the ``Link`` header's
        ``rel="next"`` URL exactly as GitLab gave it (None on the last page).
        """
        keyset = {**params, "pagination": "keyset", "order_by": "id", "sort": "asc"}
        return self.http.paginate(
            path, params=keyset, pagination=LinkHeaderPagination(), cursor=cursor
        )

    def offset_listing(
        self,
        path: str,
        params: Mapping[str, Any],
        cursor: dict[str, Any] | None = None,
    ) -> Iterator[FetchedPage]:
        """Yield an offset-paginated listing's pages, by ``X-Next-Page``.

        Each page's ``next_cursor`` is ``{"page": ...}``; GitLab leaves the
        header empty on the last page.
        """
        return self.http.paginate(
            path, params=params, pagination=HeaderPagePagination(), cursor=cursor
        )

    def current_user(self) -> tuple[dict[str, Any], HttpResponse]:
        """GET /user: the token's own account, the cheapest authenticated call."""
        response = self.http.request("GET", "/user")
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("username"), str):
            raise response.invalid("GitLab's /user answer has no username")
        return body, response
