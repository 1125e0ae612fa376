"""Health check of the Discord sink: ``GET`` the webhook itself.

Getting a webhook with its token ("Get Webhook with Token") posts nothing
and needs no bot: it answers the webhook object while the webhook exists,
404 (code 10015) once it was deleted and 401 for a wrong token.
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


def check_discord_health(client: HttpClient, path: str) -> HealthReport:
    """GET the webhook and report its name and channel, or what to fix."""
    started = time.monotonic()
    try:
        webhook = client.get_json(path)
    except errors.IntegrationError as error:
        logger.info(
            "discord.health.failed",
            extra={"integration": client.integration, "code": error.code},
        )
        status = "degraded" if error.retryable else "unhealthy"
        return HealthReport(
            status=status, error=error.message, details={"code": error.code}
        )

    details = {"latency_ms": round((time.monotonic() - started) * 1000)}
    if isinstance(webhook, dict):
        details["name"] = str(webhook.get("name") or "")[:100]
        details["channel_id"] = str(webhook.get("channel_id") or "")
    return HealthReport(status="healthy", details=details)
