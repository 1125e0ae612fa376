"""Integration.schedule kept in step with django-celery-beat periodic tasks."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

import integrations.signals  # noqa: F401  (connects the handlers under test)
from integrations import schedules
from integrations.models import Integration


def make_integration(name: str = "catalogue", **fields) -> Integration:
    fields.setdefault("provider", "rest")
    fields.setdefault("base_url", "http://127.0.0.1:9")
    return Integration.objects.create(name=name, **fields)


def crontab_of(task: PeriodicTask) -> str:
    return schedules.cron_string(task.crontab)


# --- validate_cron ------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "*/30 * * * *",
        "0 9-17 * * mon-fri",
        "15 3 1 jan,jul 0",
        "0,30 */2 1-15 * 1-5",
        "  5  4 * * *  ",
    ],
)
def test_validate_cron_accepts_five_field_schedules(expr):
    schedules.validate_cron(expr)


@pytest.mark.parametrize("expr", ["", "* * * *", "* * * * * *", "@daily"])
def test_validate_cron_names_the_field_count(expr):
    with pytest.raises(ValidationError) as caught:
        schedules.validate_cron(expr)

    message = caught.value.messages[0]
    assert "a cron schedule has 5" in message
    assert "minute hour day-of-month month day-of-week" in message


@pytest.mark.parametrize(
    ("expr", "field", "value"),
    [
        ("61 * * * *", "minute", "61"),
        ("*/0 * * * *", "minute", "*/0"),
        ("abc * * * *", "minute", "abc"),
        ("* 24 * * *", "hour", "24"),
        ("* 1- * * *", "hour", "1-"),
        ("* * 0 * *", "day of month", "0"),
        ("* * 32 * *", "day of month", "32"),
        ("* * * 13 *", "month", "13"),
        ("* * * * 8", "day of week", "8"),
        ("* * * * funday", "day of week", "funday"),
        ("5,,6 * * * *", "minute", "5,,6"),
    ],
)
def test_validate_cron_names_the_bad_field(expr, field, value):
    with pytest.raises(ValidationError) as caught:
        schedules.validate_cron(expr)

    message = caught.value.messages[0]
    assert f"the {field} field '{value}' is invalid" in message
    assert caught.value.code == "cron_field_invalid"


# --- the periodic task follows the integration --------------------------------


@pytest.mark.django_db
def test_saving_a_schedule_creates_the_periodic_task():
    integration = make_integration(schedule="*/30 * * * *")

    integration.refresh_from_db()
    task = integration.periodic_task
    assert task is not None
    assert task.task == "integrations.sync_integration"
    assert json.loads(task.kwargs) == {"integration_id": integration.pk}
    assert task.enabled is True
    assert crontab_of(task) == "*/30 * * * *"
    assert str(task.crontab.timezone) == "UTC"
    assert "catalogue" in task.name


@pytest.mark.django_db
def test_beat_reads_the_crontab_the_schedule_describes():
    integration = make_integration(schedule="0,30 9-17 * * mon-fri")

    schedule = PeriodicTask.objects.get(pk=integration.periodic_task_id).schedule

    assert schedule.minute == {0, 30}
    assert schedule.hour == set(range(9, 18))
    assert schedule.day_of_week == {1, 2, 3, 4, 5}


@pytest.mark.django_db
def test_changing_the_schedule_updates_the_same_task():
    integration = make_integration(schedule="*/30 * * * *")
    first_task_id = integration.periodic_task_id

    integration.schedule = "0 6 * * *"
    integration.save()

    integration.refresh_from_db()
    assert integration.periodic_task_id == first_task_id
    assert crontab_of(integration.periodic_task) == "0 6 * * *"
    assert PeriodicTask.objects.filter(task=schedules.SYNC_TASK).count() == 1


@pytest.mark.django_db
def test_disabling_the_integration_disables_its_task_and_enabling_restores_it():
    integration = make_integration(schedule="*/30 * * * *")

    integration.enabled = False
    integration.save()
    assert PeriodicTask.objects.get(pk=integration.periodic_task_id).enabled is False

    integration.enabled = True
    integration.save(update_fields=["enabled"])
    assert PeriodicTask.objects.get(pk=integration.periodic_task_id).enabled is True


@pytest.mark.django_db
def test_clearing_the_schedule_removes_the_task():
    integration = make_integration(schedule="*/30 * * * *")
    task_id = integration.periodic_task_id

    integration.schedule = ""
    integration.save()

    integration.refresh_from_db()
    assert integration.periodic_task_id is None
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


@pytest.mark.django_db
def test_an_integration_without_schedule_has_no_task():
    integration = make_integration()

    integration.refresh_from_db()
    assert integration.periodic_task_id is None
    assert not PeriodicTask.objects.filter(task=schedules.SYNC_TASK).exists()


@pytest.mark.django_db
def test_deleting_the_integration_removes_its_task():
    integration = make_integration(schedule="*/30 * * * *")
    task_id = integration.periodic_task_id

    integration.delete()

    assert not PeriodicTask.objects.filter(pk=task_id).exists()


@pytest.mark.django_db
def test_renaming_the_integration_renames_its_task():
    integration = make_integration(schedule="*/30 * * * *")

    integration.name = "catalogue-two"
    integration.save()

    task = PeriodicTask.objects.get(pk=integration.periodic_task_id)
    assert "catalogue-two" in task.name


@pytest.mark.django_db
def test_saves_of_other_fields_leave_the_task_alone():
    integration = make_integration(schedule="*/30 * * * *")
    PeriodicTask.objects.filter(pk=integration.periodic_task_id).update(enabled=False)

    integration.health_status = "healthy"
    integration.save(update_fields=["health_status"])

    assert PeriodicTask.objects.get(pk=integration.periodic_task_id).enabled is False


@pytest.mark.django_db
def test_an_invalid_schedule_is_refused_before_the_row_is_saved():
    with pytest.raises(ValidationError, match="the hour field '25' is invalid"):
        make_integration(schedule="0 25 * * *")

    assert not Integration.objects.filter(name="catalogue").exists()
    assert not PeriodicTask.objects.filter(task=schedules.SYNC_TASK).exists()


@pytest.mark.django_db
def test_two_integrations_with_one_schedule_get_one_task_each():
    first = make_integration("first", schedule="*/30 * * * *")
    second = make_integration("second", schedule="*/30 * * * *")

    assert first.periodic_task_id != second.periodic_task_id
    assert CrontabSchedule.objects.filter(minute="*/30").count() == 1


@pytest.mark.django_db
def test_a_crontab_edited_in_beats_admin_is_copied_into_the_schedule():
    integration = make_integration(schedule="*/30 * * * *")
    task = PeriodicTask.objects.get(pk=integration.periodic_task_id)

    task.crontab = CrontabSchedule.objects.create(
        minute="15", hour="2", day_of_month="*", month_of_year="*", day_of_week="*"
    )
    task.save()

    integration.refresh_from_db()
    assert integration.schedule == "15 2 * * *"


@pytest.mark.django_db
def test_beats_admin_lists_the_integration_task(admin_client):
    integration = make_integration(schedule="*/30 * * * *")

    response = admin_client.get("/admin/django_celery_beat/periodictask/")

    assert response.status_code == 200
    assert schedules.periodic_task_name(integration) in response.content.decode()


# --- the reaper's and sweeper's periodic tasks --------------------------------


@pytest.mark.django_db
def test_maintenance_tasks_are_created_once(settings):
    settings.INTEGRATIONS_MAINTENANCE_INTERVAL = 30

    schedules.ensure_maintenance_tasks()
    schedules.ensure_maintenance_tasks()

    tasks = PeriodicTask.objects.filter(name__in=schedules.MAINTENANCE_TASKS)
    assert sorted(task.task for task in tasks) == [
        "events.sweep_deliveries",
        "integrations.reap_expired_runs",
        "integrations.settle_stuck_work",
        "integrations.sweep_due_runs",
    ]
    for task in tasks:
        assert (task.interval.every, task.interval.period) == (
            30,
            IntervalSchedule.SECONDS,
        )
        assert task.enabled is True


@pytest.mark.django_db
def test_maintenance_interval_follows_the_setting_and_keeps_admin_pauses(settings):
    settings.INTEGRATIONS_MAINTENANCE_INTERVAL = 30
    schedules.ensure_maintenance_tasks()
    PeriodicTask.objects.filter(name="integrations: sweep due runs").update(
        enabled=False
    )

    settings.INTEGRATIONS_MAINTENANCE_INTERVAL = 5
    schedules.ensure_maintenance_tasks()

    sweeper = PeriodicTask.objects.get(name="integrations: sweep due runs")
    assert sweeper.interval.every == 5
    assert sweeper.enabled is False


@pytest.mark.django_db
def test_migrate_registers_the_maintenance_tasks():
    PeriodicTask.objects.filter(name__in=schedules.MAINTENANCE_TASKS).delete()

    call_command("migrate", verbosity=0)

    assert PeriodicTask.objects.filter(
        name__in=schedules.MAINTENANCE_TASKS
    ).count() == len(schedules.MAINTENANCE_TASKS)
