"""Health check of the GA4 sink: the validation server on an empty batch.

``POST /debug/mp/collect`` with a valid body records nothing and answers
the ``validationMessages`` Google would have raised. It does not check the
``api_secret`` (Google says so), so a healthy answer proves the endpoint
and the measurement id's shape, not the secret.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.analytics import pseudonymous_id
from integrations.providers.base import HealthReport

if TYPE_CHECKING:
    from integrations.http.client import HttpClient

logger = logging.getLogger(__name__)

DEBUG_PATH = "/debug/mp/collect"


def validation_messages(body: Any) -> list[dict[str, str]]:
    """Return the validation server's messages, each cut to its three fields."""
    found = body.get("validationMessages") if isinstance(body, dict) else None
    if not isinstance(found, list):
        return []
    return [
        {
            "fieldPath": str(item.get("fieldPath", ""))[:200],
            "description": str(item.get("description", ""))[:300],
            "validationCode": str(item.get("validationCode", ""))[:50],
        }
        for item in found
        if isinstance(item, dict)
    ]


def check_ga4_health(client: HttpClient, measurement_id: str) -> HealthReport:
    """Validate an empty batch and report healthy when Google finds no fault."""
    started = time.monotonic()
    body = {"client_id": pseudonymous_id("health-check"), "events": []}
    try:
        response = client.request(
            "POST", DEBUG_PATH, params={"measurement_id": measurement_id}, json=body
        )
        messages = validation_messages(response.json())
    except errors.IntegrationError as error:
        logger.info(
            "ga4.health.failed",
            extra={"integration": client.integration, "code": error.code},
        )
        status = "degraded" if error.retryable else "unhealthy"
        return HealthReport(
            status=status, error=error.message, details={"code": error.code}
        )

    details = {
        "latency_ms": round((time.monotonic() - started) * 1000),
        "validation_messages": messages,
    }
    if messages:
        return HealthReport(
            status="unhealthy",
            error="GA4's validation server refused an empty batch: "
            + "; ".join(m["description"] for m in messages[:3]),
            details=details,
        )
    return HealthReport(status="healthy", details=details)
