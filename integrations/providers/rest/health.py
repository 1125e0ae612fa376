"""Health check of the generic REST provider: one cheap authenticated GET."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import HealthReport

if TYPE_CHECKING:
    from integrations.http.client import HttpClient

logger = logging.getLogger(__name__)

#: What to tell an admin when the service refuses the credentials.
AUTH_HINTS = {
    "basic": "check the username and password",
    "none": "the API wants credentials; choose an auth style and add them",
}


def check_endpoint_health(
    client: HttpClient, path: str, params: dict[str, Any], *, auth: str
) -> HealthReport:
    """GET ``path`` once and report whether it answered JSON to our credentials."""
    started = time.monotonic()
    try:
        response = client.request("GET", path, params=params)
        response.json()
    except errors.AuthenticationFailed as error:
        hint = AUTH_HINTS.get(auth, "check the token")
        return _unhealthy(f"authentication failed: {hint}", error, started, path)
    except errors.PermissionDenied as error:
        return _unhealthy(
            f"permission denied: the credentials may not read {path}",
            error,
            started,
            path,
        )
    except errors.NotFound as error:
        return _unhealthy(
            f"{path} was not found: check the base URL and health_path",
            error,
            started,
            path,
        )
    except errors.InvalidResponse as error:
        return _unhealthy(f"{path} did not answer JSON", error, started, path)
    except errors.RateLimited as error:
        # The service answers but is throttling: up, yet not fully usable.
        return _unhealthy(error.message, error, started, path, status="degraded")
    except errors.IntegrationError as error:
        return _unhealthy(error.message, error, started, path)

    details = {
        "latency_ms": _elapsed_ms(started),
        "path": path,
        "status": response.status,
    }
    return HealthReport(status="healthy", details=details)


def _unhealthy(
    reason: str,
    error: errors.IntegrationError,
    started: float,
    path: str,
    *,
    status: str = "unhealthy",
) -> HealthReport:
    logger.info(
        "rest.health.unhealthy",
        extra={
            "integration": error.integration,
            "code": error.code,
            "status": error.status,
        },
    )
    details: dict[str, Any] = {"latency_ms": _elapsed_ms(started), "path": path}
    details["code"] = error.code
    if error.status is not None:
        details["status"] = error.status
    return HealthReport(status=status, error=reason, details=details)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
