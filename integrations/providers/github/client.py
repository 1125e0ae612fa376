"""GitHub's REST API on the portal's shared HttpClient.

A thin layer: :class:`GitHubApi` names the calls the provider makes and
follows GitHub's ``Link`` pagination through the HTTP layer exactly as
given; this module supplies the two hooks the HttpClient asks providers
for: how GitHub signals its rate limits (:class:`GitHubThrottle`) and what
its error answers mean (:class:`GitHubErrors`).

GitHub docs: https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api,
https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api and
https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from integrations import errors
from integrations.http.pagination import FetchedPage, LinkHeaderPagination
from integrations.http.retry import RateLimitSignal
from integrations.providers.headers import number_header
from integrations.providers.status_errors import StatusErrors
from integrations.redaction import redact_text

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.http.response import HttpResponse

PUBLIC_API = "https://api.github.com"
#: The REST API version the provider is written against (sent on every call).
API_VERSION = "2022-11-28"
JSON_MEDIA_TYPE = "application/vnd.github+json"
#: Asks the contents endpoints for the file's bytes instead of base64 JSON.
RAW_MEDIA_TYPE = "application/vnd.github.raw+json"
#: "If you exceed a secondary rate limit ... wait for at least one minute
#: before retrying" when neither retry-after nor a spent quota says longer.
SECONDARY_LIMIT_WAIT = 60.0
SECONDARY_LIMIT_TEXT = "secondary rate limit"
#: Below this share of the hour's quota the shared limiter spaces requests.
LOW_BUDGET_RATIO = 0.1
_MAX_GITHUB_MESSAGE = 300


def github_message(response: HttpResponse) -> str:
    """Return GitHub's ``message`` from an error body, redacted and short."""
    try:
        body = response.json()
    except errors.InvalidResponse:
        return ""
    message = body.get("message", "") if isinstance(body, dict) else ""
    if not isinstance(message, str):
        message = str(message)
    return redact_text(message)[:_MAX_GITHUB_MESSAGE]


def validation_fields(response: HttpResponse) -> list[dict[str, str]]:
    """Return the field and code of each error of a 422 (no values, no text)."""
    try:
        body = response.json()
    except errors.InvalidResponse:
        return []
    found = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(found, list):
        return []
    return [
        {
            "field": str(item.get("field", ""))[:100],
            "code": str(item.get("code", ""))[:50],
        }
        for item in found
        if isinstance(item, dict)
    ]


@dataclass(frozen=True)
class GitHubThrottle:
    """Read GitHub's rate-limit headers into the HTTP layer's RateLimitSignal.

    Every answer carries ``x-ratelimit-remaining`` of ``x-ratelimit-limit``
    requests until ``x-ratelimit-reset`` (epoch seconds); the shared limiter
    spaces requests out when little is left and pauses every worker until
    the reset when nothing is. A 403 or 429 is a rate limit when the quota
    is spent (wait until the reset) or when its message names the secondary
    rate limit (wait ``retry-after``, else until the reset when the quota is
    spent too, else a minute). A 403 that is neither is a real refusal and
    goes to :class:`GitHubErrors`.

    A frozen dataclass, so equal hooks compare equal and the client factory
    keeps reusing the integration's client.
    """

    def __call__(self, response: HttpResponse) -> RateLimitSignal | None:
        """Return the signal ``response`` carries, or None when it has none."""
        remaining = number_header(response, "x-ratelimit-remaining")
        limit = number_header(response, "x-ratelimit-limit")
        reset_at = number_header(response, "x-ratelimit-reset")

        if response.status in (403, 429):
            spent = remaining is not None and remaining <= 0
            if spent and reset_at is not None:
                wait = max(0.0, reset_at - time.time())
                return RateLimitSignal(
                    remaining=remaining,
                    limit=limit,
                    reset_at=reset_at,
                    retry_after=wait,
                    limited=True,
                )
            if SECONDARY_LIMIT_TEXT in github_message(response).lower():
                # The client prefers a retry-after header over this wait.
                return RateLimitSignal(retry_after=SECONDARY_LIMIT_WAIT, limited=True)
        if remaining is None:
            return None
        return RateLimitSignal(remaining=remaining, limit=limit, reset_at=reset_at)


@dataclass(frozen=True)
class GitHubErrors(StatusErrors):
    """Map GitHub's error answers to the portal's typed errors.

    Rate limits never reach here: the client reads them first
    (GitHubThrottle). GitHub's ``message`` goes into the details.
    """

    service: ClassVar[str] = "GitHub"
    forbidden: ClassVar[str] = (
        "GitHub refused the token access: it lacks a scope (private "
        "repositories need 'repo'), or the organization restricts OAuth "
        "apps or requires SAML single sign-on for it"
    )
    not_found: ClassVar[str] = (
        "GitHub has no such resource, or hides it from this token "
        "(GitHub answers 404 for private resources a token may not see)"
    )
    credential_fix: ClassVar[str] = (
        "GitHub rejected the access token (Bad credentials): it is invalid, "
        "expired or revoked. Create a new token and update the integration's "
        "access_token credential"
    )

    def details(self, response: HttpResponse) -> dict[str, Any]:
        """Keep GitHub's ``message``, redacted and short."""
        message = github_message(response)
        return {"github_message": message} if message else {}

    def special(
        self, response: HttpResponse, details: dict[str, Any]
    ) -> errors.IntegrationError | None:
        """Map 410 (a feature turned off), 422 (invalid) and 451 (legal)."""
        if response.status == 410:
            return errors.PermanentError(
                "GitHub has this feature turned off for the repository (410 Gone; "
                "for issues: a maintainer enables them in its settings)",
                provider_code="gone",
                details=details,
            )
        if response.status == 422:
            details["fields"] = validation_fields(response)
            return errors.PermanentError(
                "GitHub refused the request as invalid (422 Validation Failed)",
                provider_code="validation_failed",
                details=details,
            )
        if response.status == 451:
            return errors.PermanentError(
                "GitHub blocks this resource for legal reasons (HTTP 451)",
                details=details,
            )
        return None


class GitHubApi:
    """The GitHub calls the provider makes, on the integration's HttpClient."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def listing(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> Iterator[FetchedPage]:
        """Yield the pages of a listing from ``cursor`` (None: the first page).

        Each page's ``next_cursor`` is ``{"url": ...}``, the ``Link`` header's
        ``rel="next"`` URL exactly as GitHub gave it (None on the last page);
        no page number is ever computed.
        """
        return self.http.paginate(
            path, params=params, pagination=LinkHeaderPagination(), cursor=cursor
        )

    def authenticated_user(self) -> tuple[dict[str, Any], HttpResponse]:
        """GET /user: the token's own account, the cheapest authenticated call."""
        response = self.http.request("GET", "/user")
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("login"), str):
            raise response.invalid("GitHub's /user answer has no login")
        return body, response

    def readme(self, owner: str, repo: str) -> bytes | None:
        """GET the repository's README as raw bytes; None when it has none.

        GitHub answers 404 for a repository without a README (and for an
        empty repository), which is no error here.
        """
        path = f"/repos/{segment(owner)}/{segment(repo)}/readme"
        try:
            response = self.http.request(
                "GET", path, headers={"Accept": RAW_MEDIA_TYPE}
            )
        except errors.NotFound:
            return None
        return response.content


def segment(value: str) -> str:
    """Return ``value`` quoted as one URL path segment."""
    return quote(str(value), safe="")
