"""Turn the typed error of a failed health-check call into its report.

A provider's health check lists rules ``(error class, status, what the
admin reads)``, the first match winning; an error no rule names is
``degraded`` when retrying may help and ``unhealthy`` otherwise, with its
own message. GitHub and YouTube share this.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from integrations import errors
from integrations.providers.base import HealthReport

logger = logging.getLogger(__name__)

#: (error class, report status, what the admin reads), the first match wins.
FailureRules = tuple[tuple[type[errors.IntegrationError], str, str], ...]


def elapsed_ms(started: float) -> int:
    """Return the milliseconds since ``started`` (a ``time.monotonic()``)."""
    return round((time.monotonic() - started) * 1000)


def failure_report(
    error: errors.IntegrationError,
    started: float,
    *,
    rules: FailureRules,
    event: str,
    path: str,
    **details: Any,
) -> HealthReport:
    """Return the report of a check whose call to ``path`` raised ``error``.

    ``event`` is the provider's constant log message, e.g.
    ``"github.health.failed"``; ``details`` are added to the report's.
    """
    status, reason = ("degraded" if error.retryable else "unhealthy"), error.message
    for kind, kind_status, kind_reason in rules:
        if isinstance(error, kind):
            status, reason = kind_status, kind_reason
            break

    logger.info(
        event,
        extra={
            "integration": error.integration,
            "code": error.code,
            "status": error.status,
        },
    )
    report_details: dict[str, Any] = {
        "latency_ms": elapsed_ms(started),
        "path": path,
        "code": error.code,
        **details,
    }
    if error.status is not None:
        report_details["status"] = error.status
    return HealthReport(status=status, error=reason, details=report_details)
