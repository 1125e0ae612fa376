"""Health check of the Slack sink: an empty POST that posts nothing.

Incoming webhooks have no read call. An empty JSON object is refused with
400 ``no_text`` (or ``invalid_payload``) while the webhook is live, and
with 404 ``no_service`` once it was revoked, so the refusal itself says the
webhook works, and no message reaches the channel.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from integrations import errors
from integrations.providers.base import HealthReport

if TYPE_CHECKING:
    from integrations.http.client import HttpClient

logger = logging.getLogger(__name__)

#: The refusals that prove the webhook exists and only the body was empty.
LIVE_REFUSALS = frozenset({"no_text", "invalid_payload", "missing_text_or_fallback"})


def check_slack_health(client: HttpClient, path: str) -> HealthReport:
    """POST ``{}`` and report healthy when Slack refuses only the empty body."""
    started = time.monotonic()
    try:
        client.request("POST", path, json={})
    except errors.PermanentError as error:
        if error.provider_code in LIVE_REFUSALS:
            details = {"latency_ms": round((time.monotonic() - started) * 1000)}
            return HealthReport(status="healthy", details=details)
        return _failed(client, error)
    except errors.IntegrationError as error:
        return _failed(client, error)
    return HealthReport(
        status="degraded",
        error="Slack accepted an empty message; the URL may not be an incoming webhook",
    )


def _failed(client: HttpClient, error: errors.IntegrationError) -> HealthReport:
    logger.info(
        "slack.health.failed",
        extra={"integration": client.integration, "code": error.code},
    )
    status = "degraded" if error.retryable else "unhealthy"
    details = {"code": error.code, "provider_code": error.provider_code}
    return HealthReport(status=status, error=error.message, details=details)
