"""The Celery task that uploads an S3 integration's reports.

Beat sends it on the integration's ``export_schedule`` (portal/exports/
schedule.py); the admin's "Export now" sends it on commit. Running it twice
uploads twice, under distinct keys: nothing is overwritten.
"""

from __future__ import annotations

import logging

from celery import shared_task

from integrations.models import Integration
from portal.exports.service import run_exports

logger = logging.getLogger(__name__)

EXPORT_TASK = "exports.export_integration"


@shared_task(name=EXPORT_TASK)
def export_integration(integration_id: int) -> list[int] | None:
    """Upload the reports of an S3 integration; return the Export ids, None if gone."""
    integration = Integration.objects.filter(pk=integration_id, provider="s3").first()
    if integration is None or not integration.enabled:
        logger.warning(
            "s3.export.integration_unavailable",
            extra={"integration_id": integration_id},
        )
        return None

    return [export.pk for export in run_exports(integration)]
