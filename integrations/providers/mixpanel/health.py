"""Health check of the Mixpanel sink: empty batches, which record nothing.

``/track`` with an empty ``data`` array and ``verbose=1`` proves the host
answers; Mixpanel says a ``/track`` success does not prove the project
token, so that is all it shows. With an ``api_secret``, an empty
``/import`` also checks the secret: a wrong one is refused with 401.
How Mixpanel answers an empty array is [assumed]: a JSON body with a
``status`` (0 with an error, or 1) from /track, 200 from /import.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from integrations import errors
from integrations.providers.base import HealthReport
from integrations.providers.mixpanel.client import form_data, import_headers

if TYPE_CHECKING:
    from integrations.http.client import HttpClient

logger = logging.getLogger(__name__)


def check_mixpanel_health(client: HttpClient, api_secret: str) -> HealthReport:
    """POST empty batches and report what to fix, if anything."""
    started = time.monotonic()
    try:
        answer = client.request("POST", "/track", data=form_data([])).json()
        if not isinstance(answer, dict) or "status" not in answer:
            raise errors.InvalidResponse("Mixpanel's /track answer has no status")
        if api_secret:
            client.request(
                "POST",
                "/import",
                params={"strict": "1"},
                json=[],
                headers=import_headers(api_secret),
            )
    except errors.IntegrationError as error:
        logger.info(
            "mixpanel.health.failed",
            extra={"integration": client.integration, "code": error.code},
        )
        status = "degraded" if error.retryable else "unhealthy"
        return HealthReport(
            status=status, error=error.message, details={"code": error.code}
        )

    return HealthReport(
        status="healthy",
        details={
            "latency_ms": round((time.monotonic() - started) * 1000),
            "import_checked": bool(api_secret),
        },
    )
