"""Health check of the Canvas provider: the token's own user, one request."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.canvas.client import (
    API,
    LOW_BUDGET_RATIO,
    CanvasApi,
    float_header,
)

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.providers.canvas.sync import CanvasConfig

logger = logging.getLogger(__name__)

PATH = f"{API}/users/self"


def check_canvas_health(client: HttpClient, config: CanvasConfig) -> HealthReport:
    """GET /api/v1/users/self and report who the token is and its budget.

    Healthy when Canvas answers with the token's user; degraded when less
    than a tenth of the throttle quota is left or Canvas is throttling or
    failing for now; unhealthy when the token or base URL is wrong.
    """
    started = time.monotonic()
    try:
        user, response = CanvasApi(client).self_user()
    except errors.AuthenticationFailed as error:
        return _report(
            "unhealthy",
            "authentication failed: the access token is invalid, expired or "
            "revoked; create a new one and update the access_token credential",
            error,
            started,
        )
    except errors.PermissionDenied as error:
        return _report(
            "unhealthy",
            "permission denied: the token may not read its own user profile",
            error,
            started,
        )
    except errors.NotFound as error:
        return _report(
            "unhealthy",
            f"{PATH} was not found: set the base URL to the Canvas root, e.g. "
            "https://canvas.example.edu, without /api/v1",
            error,
            started,
        )
    except errors.RateLimited as error:
        return _report(
            "degraded",
            "Canvas is throttling the token; syncs wait and retry",
            error,
            started,
        )
    except errors.InvalidResponse as error:
        return _report(
            "unhealthy",
            f"{PATH} did not answer Canvas's JSON: check the base URL",
            error,
            started,
        )
    except errors.IntegrationError as error:
        status = "degraded" if error.retryable else "unhealthy"
        return _report(status, error.message, error, started)

    details: dict[str, Any] = {
        "latency_ms": _elapsed_ms(started),
        "path": PATH,
        "user_id": str(user["id"]),
    }
    remaining = float_header(response, "X-Rate-Limit-Remaining")
    cost = float_header(response, "X-Request-Cost")
    if cost is not None:
        details["request_cost"] = cost
    if remaining is None:
        return HealthReport(status="healthy", details=details)

    details["rate_limit_remaining"] = remaining
    details["rate_limit_quota"] = config.rate_limit_quota
    if remaining < config.rate_limit_quota * LOW_BUDGET_RATIO:
        return HealthReport(
            status="degraded",
            error=(
                f"Only {remaining:g} of the token's throttle quota of "
                f"{config.rate_limit_quota:g} is left; syncs slow down until it "
                "refills. Another program may be using the same token."
            ),
            details=details,
        )
    return HealthReport(status="healthy", details=details)


def _report(
    status: str, reason: str, error: errors.IntegrationError, started: float
) -> HealthReport:
    logger.info(
        "canvas.health.failed",
        extra={
            "integration": error.integration,
            "code": error.code,
            "status": error.status,
        },
    )
    details: dict[str, Any] = {
        "latency_ms": _elapsed_ms(started),
        "path": PATH,
        "code": error.code,
    }
    if error.status is not None:
        details["status"] = error.status
    return HealthReport(status=status, error=reason, details=details)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
