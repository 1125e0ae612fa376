"""Health check of the Slack bot sink: ``auth.test``.

``auth.test`` is Slack's cheapest authenticated call (Tier 4, no scope
needed); it answers who the token belongs to, or ``invalid_auth`` and the
other token errors with HTTP 200 (https://api.slack.com/methods/auth.test).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.health_failures import elapsed_ms, failure_report

if TYPE_CHECKING:
    from integrations.http.client import HttpClient

PATH = "auth.test"


def check_slack_bot_health(client: HttpClient) -> HealthReport:
    """Call ``auth.test`` and report the workspace and bot it answers for."""
    started = time.monotonic()
    try:
        body = client.request("POST", PATH).json()
    except errors.IntegrationError as error:
        return failure_report(
            error,
            started,
            rules=(),
            event="slack.bot.health_failed",
            path=PATH,
            provider_code=error.provider_code,
        )

    details = {
        "latency_ms": elapsed_ms(started),
        "team": str(body.get("team", ""))[:100],
        "team_id": str(body.get("team_id", ""))[:40],
        "bot_user_id": str(body.get("user_id", ""))[:40],
    }
    return HealthReport(status="healthy", details=details)
