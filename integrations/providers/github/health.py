"""Health check of the GitHub provider: ``GET /user``, one request.

``/user`` is the cheapest authenticated call GitHub has: it names the
token's account and, like every answer, carries the hour's remaining quota.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.github.client import (
    LOW_BUDGET_RATIO,
    GitHubApi,
)
from integrations.providers.headers import number_header
from integrations.providers.health_failures import (
    FailureRules,
    elapsed_ms,
    failure_report,
)

if TYPE_CHECKING:
    from integrations.http.client import HttpClient

PATH = "/user"

_FAILURES: FailureRules = (
    (
        errors.AuthenticationFailed,
        "unhealthy",
        "authentication failed: the token is invalid, expired or revoked; "
        "create a new one and update the access_token credential (a learner "
        "reconnects GitHub)",
    ),
    (
        errors.PermissionDenied,
        "unhealthy",
        "permission denied: the token may not read its own account (/user)",
    ),
    (
        errors.NotFound,
        "unhealthy",
        "/user was not found: set the base URL to https://api.github.com, or "
        "https://HOST/api/v3 for GitHub Enterprise Server",
    ),
    (
        errors.RateLimited,
        "degraded",
        "GitHub is rate limiting the token; syncs wait for the reset and retry",
    ),
    (
        errors.InvalidResponse,
        "unhealthy",
        "/user did not answer GitHub's JSON: check the base URL",
    ),
)


def check_github_health(client: HttpClient) -> HealthReport:
    """GET /user and report the token's login and its remaining quota.

    Healthy when GitHub names the account; degraded when less than a tenth
    of the hour's quota is left or GitHub is limiting or failing for now;
    unhealthy when the token or the base URL is wrong.
    """
    started = time.monotonic()
    try:
        user, response = GitHubApi(client).authenticated_user()
    except errors.IntegrationError as error:
        return _failed(error, started)

    details: dict[str, Any] = {
        "latency_ms": elapsed_ms(started),
        "path": PATH,
        "login": user["login"],
    }
    remaining = number_header(response, "x-ratelimit-remaining")
    limit = number_header(response, "x-ratelimit-limit")
    if remaining is None:
        return HealthReport(status="healthy", details=details)

    details["rate_limit_remaining"] = int(remaining)
    if limit:
        details["rate_limit_limit"] = int(limit)
    reset = number_header(response, "x-ratelimit-reset")
    if reset is not None:
        details["rate_limit_reset"] = int(reset)
    if limit and remaining < limit * LOW_BUDGET_RATIO:
        return HealthReport(
            status="degraded",
            error=(
                f"Only {remaining:g} of the token's {limit:g} requests an hour are "
                "left; syncs slow down until the reset. Another program may be "
                "using the same token."
            ),
            details=details,
        )
    return HealthReport(status="healthy", details=details)


def _failed(error: errors.IntegrationError, started: float) -> HealthReport:
    return failure_report(
        error, started, rules=_FAILURES, event="github.health.failed", path=PATH
    )
