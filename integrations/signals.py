"""Signal handlers of the integrations app.

Imported by ``IntegrationsConfig.ready()``; importing connects them:

- an integration's schedule is validated before it is saved, and its beat
  periodic task follows every save and delete (integrations.schedules);
- a crontab edited in django-celery-beat's admin is copied back into the
  integration's schedule;
- after ``migrate``, the reaper's and sweeper's periodic tasks exist.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connections
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from integrations import schedules
from integrations.models import Integration

#: Fields whose change moves the periodic task; other saves (health, lease)
#: that name their update_fields skip the work.
_SCHEDULE_FIELDS = frozenset({"name", "schedule", "enabled", "periodic_task"})


def validate_schedule(
    sender: type, instance: Integration, raw: bool, **kwargs: Any
) -> None:
    """Refuse to save an integration whose schedule is not a valid cron string."""
    if raw or not instance.schedule.strip():
        return
    schedules.validate_cron(instance.schedule)


def update_periodic_task(
    sender: type,
    instance: Integration,
    raw: bool,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """Create, update or remove the integration's periodic task."""
    if raw:
        return
    if update_fields is not None and not _SCHEDULE_FIELDS.intersection(update_fields):
        return
    schedules.sync_periodic_task(instance)


def remove_periodic_task(sender: type, instance: Integration, **kwargs: Any) -> None:
    """Delete the periodic task of a deleted integration."""
    schedules.remove_periodic_task(instance)


def copy_task_schedule(
    sender: type, instance: PeriodicTask, raw: bool, **kwargs: Any
) -> None:
    """Copy a sync task's crontab, changed in beat's admin, into its integration."""
    if not raw:
        schedules.copy_crontab_to_integration(instance)


def copy_crontab_schedule(
    sender: type, instance: CrontabSchedule, raw: bool, **kwargs: Any
) -> None:
    """Copy an edited crontab into the integrations whose tasks use it."""
    if raw:
        return
    for task in PeriodicTask.objects.filter(crontab=instance, task=schedules.SYNC_TASK):
        schedules.copy_crontab_to_integration(task)


def create_maintenance_tasks(
    sender: Any, using: str = "default", **kwargs: Any
) -> None:
    """Register the reaper and sweeper with beat once their tables exist."""
    tables = connections[using].introspection.table_names()
    if (
        PeriodicTask._meta.db_table not in tables
        or Integration._meta.db_table not in tables
    ):
        return
    schedules.ensure_maintenance_tasks()


pre_save.connect(
    validate_schedule, sender=Integration, dispatch_uid="integrations.validate_schedule"
)
post_save.connect(
    update_periodic_task,
    sender=Integration,
    dispatch_uid="integrations.update_periodic_task",
)
post_delete.connect(
    remove_periodic_task,
    sender=Integration,
    dispatch_uid="integrations.remove_periodic_task",
)
post_save.connect(
    copy_task_schedule,
    sender=PeriodicTask,
    dispatch_uid="integrations.copy_task_schedule",
)
post_save.connect(
    copy_crontab_schedule,
    sender=CrontabSchedule,
    dispatch_uid="integrations.copy_crontab_schedule",
)
post_migrate.connect(
    create_maintenance_tasks,
    sender=apps.get_app_config("integrations"),
    dispatch_uid="integrations.create_maintenance_tasks",
)
