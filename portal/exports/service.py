"""Write a report, upload it to an S3 integration's bucket, record the Export.

The report is written into a spooled temporary file (in memory up to 8 MB,
on disk beyond), so neither the rows nor a large file sit in memory, and
boto3 uploads it in parts when it is big. Each upload leaves one Export row,
failed ones with the typed error's code and redacted message.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta

from django.utils import timezone

from integrations import errors
from integrations.models import Integration
from integrations.redaction import redact_text
from integrations.registry import get_provider
from portal.exports.models import Export, ExportStatus
from portal.exports.writers import CONTENT_TYPES, write_report

logger = logging.getLogger(__name__)

SPOOL_BYTES = 8 * 1024 * 1024
#: How long an export may stay ``running`` before its worker is presumed
#: dead. Nothing beats during an upload, so this is generous: writing and
#: uploading the largest reports takes minutes, not an hour.
STALLED_AFTER = timedelta(hours=1)
WORKER_LOST = "worker_lost"


def export_key(prefix: str, kind: str, format: str, when: datetime, pk: int) -> str:
    """Return the object key: ``<prefix><kind>/YYYY/MM/DD/<kind>-<time>-<id>.<fmt>``."""
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    return f"{prefix}{kind}/{when:%Y/%m/%d}/{kind}-{stamp}-{pk}.{format}"


def run_export(integration: Integration, kind: str, format: str) -> Export:
    """Upload one report and return its Export row (failed or succeeded)."""
    if integration.provider != "s3":
        raise ValueError(f"Integration {integration.name!r} is not an S3 integration")
    provider = get_provider("s3")
    export = Export.objects.create(integration=integration, kind=kind, format=format)

    try:
        client = provider.s3_client(integration)
        export.key = export_key(
            client.config.prefix, kind, format, timezone.now(), export.pk
        )
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
            export.rows = write_report(kind, format, body)
            export.size = body.tell()
            body.seek(0)
            client.upload(export.key, body, CONTENT_TYPES[format])
    except errors.IntegrationError as error:
        return _failed(export, error)

    export.status = ExportStatus.SUCCEEDED
    export.finished_at = timezone.now()
    export.save()
    logger.info(
        "s3.export.uploaded",
        extra={
            "integration": integration.name,
            "export_id": export.pk,
            "kind": kind,
            "rows": export.rows,
            "size": export.size,
        },
    )
    return export


def run_exports(integration: Integration) -> list[Export]:
    """Upload every report and format the integration's settings ask for."""
    from integrations.providers.base import config_of
    from integrations.providers.s3.provider import parse_settings

    config = config_of(integration, parse_settings)
    return [
        run_export(integration, kind, format)
        for kind in config.exports
        for format in config.formats
    ]


def _failed(export: Export, error: errors.IntegrationError) -> Export:
    export.status = ExportStatus.FAILED
    export.error_code = error.code[:50]
    export.error = redact_text(error.message)[:2000]
    export.finished_at = timezone.now()
    export.save()
    logger.warning(
        "s3.export.failed",
        extra={
            "integration": export.integration.name,
            "export_id": export.pk,
            "code": error.code,
        },
    )
    return export


def fail_stalled_exports(now: datetime | None = None) -> int:
    """Mark exports ``running`` longer than STALLED_AFTER as failed; return how many.

    Their worker died (killed, restarted, out of memory) before it recorded
    an outcome. Nothing is uploaded again here: the integration's next
    scheduled export, or the admin's Export now, uploads a new report under
    a new key. An upload that does finish later still records its success.
    """
    now = now or timezone.now()
    stalled = Export.objects.filter(
        status=ExportStatus.RUNNING, created_at__lt=now - STALLED_AFTER
    )
    minutes = int(STALLED_AFTER.total_seconds() // 60)
    count = stalled.update(
        status=ExportStatus.FAILED,
        error_code=WORKER_LOST,
        error=f"The worker writing this export stopped without finishing it (still "
        f"running after {minutes} minutes): nothing usable was recorded. The next "
        "scheduled export, or Export now, uploads a new one.",
        finished_at=now,
    )
    if count:
        logger.warning("s3.export.stalled_failed", extra={"count": count})
    return count
