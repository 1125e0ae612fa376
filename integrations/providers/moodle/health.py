"""Health check of the Moodle provider: ``core_webservice_get_site_info``.

It is the cheapest authenticated call Moodle has, and its answer lists the
functions the token's external service may call, so the check also names
the functions a sync (or write-back) would be refused.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.moodle.submissions import submission_functions
from integrations.providers.moodle.sync import (
    ACTIVITIES_COMPLETION_FUNCTION,
    COURSE_COMPLETION_FUNCTION,
    COURSES_FUNCTION,
    ENROLLED_USERS_FUNCTION,
    GRADE_ITEMS_FUNCTION,
)
from integrations.providers.moodle.writeback import (
    OVERRIDE_COMPLETION_FUNCTION,
    UPDATE_GRADES_FUNCTION,
)

if TYPE_CHECKING:
    from integrations.providers.moodle.client import MoodleClient
    from integrations.providers.moodle.sync import MoodleConfig

logger = logging.getLogger(__name__)

SITE_INFO_FUNCTION = "core_webservice_get_site_info"
#: What every sync calls; without one of them a stream fails.
REQUIRED_FUNCTIONS = (
    SITE_INFO_FUNCTION,
    COURSES_FUNCTION,
    ENROLLED_USERS_FUNCTION,
    GRADE_ITEMS_FUNCTION,
    ACTIVITIES_COMPLETION_FUNCTION,
    COURSE_COMPLETION_FUNCTION,
)
# Where an admin adds functions to a service, for messages.
SERVICE_HINT = "Site administration > Server > Web services > External services"


def write_back_functions(config: MoodleConfig) -> tuple[str, ...]:
    """Return the functions write-back calls, as the settings configure it."""
    if not config.write_back_grade_item:
        return ()
    functions = (GRADE_ITEMS_FUNCTION, UPDATE_GRADES_FUNCTION)
    if config.write_back_completion:
        functions += (OVERRIDE_COMPLETION_FUNCTION,)
    return functions


def check_site_health(moodle: MoodleClient, config: MoodleConfig) -> HealthReport:
    """Call core_webservice_get_site_info and report what the token can do.

    Healthy when every function the sync needs is in the token's service;
    degraded when only write-back functions are missing (write-back
    configured); unhealthy when a sync function is missing or the call fails.
    """
    started = time.monotonic()
    try:
        info = moodle.call(SITE_INFO_FUNCTION)
    except errors.AuthenticationFailed as error:
        return _failed(
            "authentication failed: Moodle rejected the token", error, started
        )
    except errors.PermissionDenied as error:
        return _failed(
            f"permission denied: add {SITE_INFO_FUNCTION} to the token's external "
            f"service ({SERVICE_HINT})",
            error,
            started,
        )
    except errors.IntegrationError as error:
        return _failed(error.message, error, started)
    if not isinstance(info, dict) or not isinstance(info.get("functions"), list):
        return HealthReport(
            status="unhealthy",
            error=f"{SITE_INFO_FUNCTION} did not answer the site's details; is the base "
            "URL a Moodle site?",
            details={"latency_ms": _elapsed_ms(started), "code": "invalid_response"},
        )

    available = {
        entry.get("name")
        for entry in info["functions"]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    }
    available.add(SITE_INFO_FUNCTION)
    required = REQUIRED_FUNCTIONS + submission_functions(config)
    missing_required = [name for name in required if name not in available]
    missing_optional = [
        name
        for name in write_back_functions(config)
        if name not in available and name not in missing_required
    ]
    details: dict[str, Any] = {
        "latency_ms": _elapsed_ms(started),
        "sitename": _short(info.get("sitename")),
        "release": _short(info.get("release")),
        "version": _short(info.get("version")),
        "token_user_id": info.get("userid"),
        "functions_available": len(available),
        "missing_required_functions": missing_required,
        "missing_optional_functions": missing_optional,
    }
    if missing_required:
        return HealthReport(
            status="unhealthy",
            error="The token's external service lacks functions the sync needs: "
            f"{', '.join(missing_required)}; add them in {SERVICE_HINT}",
            details=details,
        )
    if missing_optional:
        return HealthReport(
            status="degraded",
            error="Write-back will fail: the token's external service lacks "
            f"{', '.join(missing_optional)}; add them in {SERVICE_HINT}",
            details=details,
        )
    return HealthReport(status="healthy", details=details)


def _failed(
    reason: str, error: errors.IntegrationError, started: float
) -> HealthReport:
    logger.info(
        "moodle.health.unhealthy",
        extra={
            "integration": error.integration,
            "code": error.code,
            "provider_code": error.provider_code,
        },
    )
    details: dict[str, Any] = {"latency_ms": _elapsed_ms(started), "code": error.code}
    if error.provider_code:
        details["provider_code"] = error.provider_code
    if error.status is not None:
        details["status"] = error.status
    status = "degraded" if error.retryable else "unhealthy"
    return HealthReport(status=status, error=reason, details=details)


def _short(value: Any) -> str:
    return str(value)[:200] if isinstance(value, str | int | float) else ""


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
