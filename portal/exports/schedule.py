"""Keep an S3 integration's ``export_schedule`` in a beat PeriodicTask.

As integrations/schedules.py does for syncs: saving an S3 integration
creates, updates or removes the task ``exports: upload <name> (#id)``,
which sends ``exports.export_integration(integration_id=...)``; a disabled
integration keeps its task, disabled. The cron string is checked by the
provider's settings.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from integrations.models import Integration
from integrations.schedules import cron_fields
from portal.exports.tasks import EXPORT_TASK

logger = logging.getLogger(__name__)


def export_task_name(integration: Integration) -> str:
    """Return the name of an integration's export task (unique per row)."""
    return f"exports: upload {integration.name} (#{integration.pk})"


def sync_export_task(integration: Integration) -> PeriodicTask | None:
    """Create, update or remove the export task of an S3 integration."""
    tasks = PeriodicTask.objects.filter(
        task=EXPORT_TASK, kwargs=json.dumps({"integration_id": integration.pk})
    )
    settings_values = (
        integration.settings if isinstance(integration.settings, dict) else {}
    )
    expr = str(settings_values.get("export_schedule") or "").strip()

    if integration.provider != "s3" or not expr:
        if tasks.exists():
            tasks.delete()
            logger.info("s3.schedule.removed", extra={"integration": integration.name})
        return None

    crontab, _ = CrontabSchedule.objects.get_or_create(
        **cron_fields(expr), timezone=getattr(settings, "CELERY_TIMEZONE", "UTC")
    )
    task = tasks.first() or PeriodicTask(task=EXPORT_TASK)
    task.name = export_task_name(integration)
    task.crontab = crontab
    task.interval = None
    task.kwargs = json.dumps({"integration_id": integration.pk})
    task.enabled = integration.enabled
    task.description = f"Scheduled S3 exports of integration '{integration.name}'."
    task.save()
    logger.info(
        "s3.schedule.updated",
        extra={"integration": integration.name, "enabled": task.enabled},
    )
    return task


def _saved(
    sender: Any, instance: Integration, raw: bool = False, **kwargs: Any
) -> None:
    if not raw:
        sync_export_task(instance)


def _deleted(sender: Any, instance: Integration, **kwargs: Any) -> None:
    PeriodicTask.objects.filter(
        task=EXPORT_TASK, kwargs=json.dumps({"integration_id": instance.pk})
    ).delete()


def connect_signals() -> None:
    """Follow saves and deletes of integrations."""
    post_save.connect(_saved, sender=Integration, dispatch_uid="exports.schedule.saved")
    post_delete.connect(
        _deleted, sender=Integration, dispatch_uid="exports.schedule.deleted"
    )
