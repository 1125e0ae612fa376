"""Health check of the GitLab provider: ``GET /user``, one request.

``/user`` is the cheapest authenticated call GitLab has: it names the
token's account, and on throttled instances carries ``RateLimit-*``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.gitlab.client import (
    LOW_BUDGET_RATIO,
    GitLabApi,
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
        "reconnects GitLab)",
    ),
    (
        errors.PermissionDenied,
        "unhealthy",
        "permission denied: the token may not read its own account (/user); "
        "give it the read_api or read_user scope",
    ),
    (
        errors.NotFound,
        "unhealthy",
        "/user was not found: set the base URL to https://gitlab.com/api/v4, "
        "or https://HOST[/PATH]/api/v4 for a self-managed GitLab",
    ),
    (
        errors.RateLimited,
        "degraded",
        "GitLab is rate limiting the token; syncs wait and retry",
    ),
    (
        errors.InvalidResponse,
        "unhealthy",
        "/user did not answer GitLab's JSON: check the base URL ends in /api/v4",
    ),
)


def check_gitlab_health(client: HttpClient) -> HealthReport:
    """GET /user and report the token's username and any remaining budget.

    Healthy when GitLab names the account; degraded when less than a tenth
    of the rate limit is left or GitLab is limiting for now; unhealthy when
    the token or the base URL is wrong.
    """
    started = time.monotonic()
    try:
        user, response = GitLabApi(client).current_user()
    except errors.IntegrationError as error:
        return failure_report(
            error, started, rules=_FAILURES, event="gitlab.health.failed", path=PATH
        )

    details: dict[str, Any] = {
        "latency_ms": elapsed_ms(started),
        "path": PATH,
        "username": user["username"],
    }
    remaining = number_header(response, "RateLimit-Remaining")
    limit = number_header(response, "RateLimit-Limit")
    if remaining is None:
        return HealthReport(status="healthy", details=details)

    details["rate_limit_remaining"] = int(remaining)
    if limit:
        details["rate_limit_limit"] = int(limit)
    if limit and remaining < limit * LOW_BUDGET_RATIO:
        return HealthReport(
            status="degraded",
            error=(
                f"Only {remaining:g} of the token's {limit:g} requests are left "
                "in GitLab's window; syncs slow down until it resets."
            ),
            details=details,
        )
    return HealthReport(status="healthy", details=details)
