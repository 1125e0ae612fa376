"""Keep each integration's cron schedule in step with a beat periodic task.

``Integration.schedule`` is the source of truth: a five-field cron string
(minute hour day-of-month month day-of-week, in ``CELERY_TIMEZONE``). Saving
an integration creates, updates, disables or removes its
django-celery-beat ``PeriodicTask``, which calls
``integrations.sync_integration(integration_id=...)``. The task also shows in
django-celery-beat's admin; a crontab edited there is copied back into the
integration's schedule.

The periodic maintenance tasks (reaper and sweeper) are registered here too.
"""

from __future__ import annotations

import json
import logging

from celery.schedules import ParseException, crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat import validators
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

from integrations.models import Integration

logger = logging.getLogger(__name__)

SYNC_TASK = "integrations.sync_integration"

#: The five cron fields in order: (CrontabSchedule field, name for humans,
#: allowed values, django-celery-beat's validator for the field).
CRON_FIELDS = (
    ("minute", "minute", "0-59", validators.minute_validator),
    ("hour", "hour", "0-23", validators.hour_validator),
    ("day_of_month", "day of month", "1-31", validators.day_of_month_validator),
    ("month_of_year", "month", "1-12 or jan-dec", validators.month_of_year_validator),
    (
        "day_of_week",
        "day of week",
        "0-6 (0 is Sunday) or sun-sat",
        validators.day_of_week_validator,
    ),
)

#: The periodic maintenance tasks: PeriodicTask name to task name.
MAINTENANCE_TASKS = {
    "integrations: reap expired runs": "integrations.reap_expired_runs",
    "integrations: sweep due runs": "integrations.sweep_due_runs",
    "events: dispatch and deliver": "events.sweep_deliveries",
    "integrations: settle stuck reports and exports": "integrations.settle_stuck_work",
}
#: Maintenance tasks of earlier versions, removed when the others are made:
#: beat would otherwise keep sending a task no worker knows.
RETIRED_MAINTENANCE_TASKS = (
    # LMS write-backs are deliveries of the event pipeline now.
    "events: push due write-backs",
)


def validate_cron(expr: str) -> None:
    """Raise ValidationError naming the bad field of a 5-field cron string.

    Each field must satisfy both Celery's parser (which beat runs) and
    django-celery-beat's validators (which its admin applies).
    """
    fields = str(expr).split()
    if len(fields) != len(CRON_FIELDS):
        raise ValidationError(
            "Schedule %(value)r has %(count)d field(s); a cron schedule has 5: "
            "minute hour day-of-month month day-of-week, e.g. '*/30 * * * *'.",
            code="cron_field_count",
            params={"value": expr, "count": len(fields)},
        )

    for value, (field, label, allowed, validate_field) in zip(
        fields, CRON_FIELDS, strict=True
    ):
        try:
            crontab(**{field: value})
            validate_field(value)
        except (ValueError, ParseException, ValidationError) as error:
            raise ValidationError(
                "Schedule %(value)r: the %(label)s field %(field_value)r is invalid "
                "(allowed: %(allowed)s, '*', lists '1,5', ranges '1-5', steps '*/15').",
                code="cron_field_invalid",
                params={
                    "value": expr,
                    "label": label,
                    "field_value": value,
                    "allowed": allowed,
                },
            ) from error


def cron_fields(expr: str) -> dict[str, str]:
    """Return a valid cron string's fields keyed as CrontabSchedule names them."""
    validate_cron(expr)
    return dict(zip([field for field, *_ in CRON_FIELDS], expr.split(), strict=True))


def cron_string(schedule: CrontabSchedule) -> str:
    """Return a CrontabSchedule as a 5-field cron string."""
    return " ".join(str(getattr(schedule, field)) for field, *_ in CRON_FIELDS)


def periodic_task_name(integration: Integration) -> str:
    """Return the name of an integration's periodic task (unique per row)."""
    return f"integrations: sync {integration.name} (#{integration.pk})"


@transaction.atomic
def sync_periodic_task(integration: Integration) -> PeriodicTask | None:
    """Create, update or remove the periodic task of ``integration``.

    An empty schedule removes the task; a disabled integration keeps its task
    but disabled. The link is written with a queryset update, so no
    ``post_save`` of the integration is sent again.
    """
    task = _linked_task(integration)
    expr = integration.schedule.strip()

    if not expr:
        if task is not None:
            Integration.objects.filter(pk=integration.pk).update(periodic_task=None)
            integration.periodic_task = None
            task.delete()
            logger.info(
                "integrations.schedule.removed", extra={"integration": integration.name}
            )
        return None

    schedule = _crontab_for(expr)
    if task is None:
        task = PeriodicTask(task=SYNC_TASK)
    task.name = periodic_task_name(integration)
    task.task = SYNC_TASK
    task.crontab = schedule
    task.interval = None
    task.solar = None
    task.clocked = None
    task.args = "[]"
    task.kwargs = json.dumps({"integration_id": integration.pk})
    task.enabled = integration.enabled
    task.one_off = False
    task.description = f"Scheduled sync of integration '{integration.name}'."
    task.save()

    if integration.periodic_task_id != task.pk:
        Integration.objects.filter(pk=integration.pk).update(periodic_task=task)
        integration.periodic_task = task
    logger.info(
        "integrations.schedule.updated",
        extra={"integration": integration.name, "enabled": task.enabled},
    )
    return task


def remove_periodic_task(integration: Integration) -> None:
    """Delete the periodic task of an integration that is being deleted."""
    tasks = PeriodicTask.objects.filter(task=SYNC_TASK)
    if integration.periodic_task_id:
        tasks.filter(pk=integration.periodic_task_id).delete()
    tasks.filter(name=periodic_task_name(integration)).delete()


def copy_crontab_to_integration(task: PeriodicTask) -> None:
    """Copy a crontab edited in beat's admin back into the integration.

    Written with a queryset update so no integration signal fires again.
    """
    if task.task != SYNC_TASK or task.crontab_id is None:
        return
    expr = cron_string(task.crontab)
    Integration.objects.filter(periodic_task=task).exclude(schedule=expr).update(
        schedule=expr
    )


def ensure_maintenance_tasks(interval_seconds: int | None = None) -> list[PeriodicTask]:
    """Create or update the reaper's and sweeper's periodic tasks; idempotent.

    The interval follows ``INTEGRATIONS_MAINTENANCE_INTERVAL``; whether a
    task is enabled is left as an admin set it.
    """
    every = interval_seconds or int(
        getattr(settings, "INTEGRATIONS_MAINTENANCE_INTERVAL", 30)
    )
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )

    PeriodicTask.objects.filter(name__in=RETIRED_MAINTENANCE_TASKS).delete()
    tasks = []
    for name, task_name in MAINTENANCE_TASKS.items():
        task, created = PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": task_name,
                "interval": interval,
                "description": "Keeps syncs and event deliveries moving when a worker or "
                "message is lost.",
            },
        )
        if not created and (task.task != task_name or task.interval_id != interval.pk):
            task.task = task_name
            task.interval = interval
            task.crontab = None
            task.save()
        tasks.append(task)
    return tasks


def _linked_task(integration: Integration) -> PeriodicTask | None:
    if integration.periodic_task_id:
        task = PeriodicTask.objects.filter(pk=integration.periodic_task_id).first()
        if task is not None:
            return task
    # A task left behind under this row's name (e.g. the link was cleared by
    # hand) is adopted rather than colliding with the unique name.
    return PeriodicTask.objects.filter(name=periodic_task_name(integration)).first()


def _crontab_for(expr: str) -> CrontabSchedule:
    fields = cron_fields(expr)
    timezone_name = getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE
    schedule = CrontabSchedule.objects.filter(**fields, timezone=timezone_name).first()
    if schedule is None:
        schedule = CrontabSchedule.objects.create(**fields, timezone=timezone_name)
    return schedule
