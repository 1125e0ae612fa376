"""Health check of the Vimeo provider: ``GET /me?fields=uri,name``, one request.

``/me`` is the cheapest authenticated call: it names the token's account
and, like every answer, carries the rate limit's remaining requests.
(``/oauth/verify`` answers about the token itself but needs the same one
request; ``/me`` also proves the API path works.)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.headers import number_header
from integrations.providers.health_failures import (
    FailureRules,
    elapsed_ms,
    failure_report,
)
from integrations.providers.vimeo.client import LOW_BUDGET_RATIO, VimeoApi, parse_reset

if TYPE_CHECKING:
    from integrations.http.client import HttpClient

PATH = "/me"
FIELDS = "uri,name"

_FAILURES: FailureRules = (
    (
        errors.AuthenticationFailed,
        "unhealthy",
        "authentication failed: the token is invalid or revoked; generate a "
        "new one and update the access_token credential (a learner reconnects "
        "Vimeo)",
    ),
    (
        errors.PermissionDenied,
        "unhealthy",
        "permission denied: the token may not read its own account (/me)",
    ),
    (
        errors.NotFound,
        "unhealthy",
        "/me was not found: set the base URL to https://api.vimeo.com",
    ),
    (
        errors.RateLimited,
        "degraded",
        "Vimeo is rate limiting the token; syncs wait for the reset and retry",
    ),
    (
        errors.InvalidResponse,
        "unhealthy",
        "/me did not answer Vimeo's JSON: check the base URL",
    ),
)


def check_vimeo_health(client: HttpClient) -> HealthReport:
    """GET /me and report the account's name and the remaining rate limit.

    Healthy when Vimeo names the account; degraded when less than a tenth
    of the rate limit is left or Vimeo is limiting or failing for now;
    unhealthy when the token or the base URL is wrong.
    """
    started = time.monotonic()
    try:
        user, response = VimeoApi(client).resource(PATH, FIELDS)
    except errors.IntegrationError as error:
        return failure_report(
            error, started, rules=_FAILURES, event="vimeo.health.failed", path=PATH
        )

    name = user.get("name")
    details: dict[str, Any] = {
        "latency_ms": elapsed_ms(started),
        "path": PATH,
        "account": name if isinstance(name, str) else "",
        "user_uri": user["uri"],
    }
    remaining = number_header(response, "x-ratelimit-remaining")
    limit = number_header(response, "x-ratelimit-limit")
    if remaining is None:
        return HealthReport(status="healthy", details=details)

    details["rate_limit_remaining"] = int(remaining)
    if limit:
        details["rate_limit_limit"] = int(limit)
    reset = parse_reset(response.headers.get("x-ratelimit-reset"))
    if reset is not None:
        details["rate_limit_reset"] = int(reset)
    if limit and remaining < limit * LOW_BUDGET_RATIO:
        return HealthReport(
            status="degraded",
            error=(
                f"Only {remaining:g} of the token's {limit:g} requests are left "
                "until the rate limit resets; syncs slow down until then."
            ),
            details=details,
        )
    return HealthReport(status="healthy", details=details)
