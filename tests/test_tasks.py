"""The Celery tasks: sync runs, scheduled syncs, health, reaper and sweeper.

Tasks are applied in this process (``Task.apply``), as a worker would run
them, against a REST integration that reads a JSON API fake on loopback.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import tasks
from integrations.http.factory import forget_clients
from integrations.models import Credential, HealthCheckResult, Integration, SyncRun
from integrations.sync import leases
from integrations.sync.runs import enqueue_sync
from portal.learning.models import Course
from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import TOKEN, school_collections, school_endpoints

STREAMS = ["courses", "assignments", "enrollments"]
# The fake serves every collection as a plain list; progress's mapping reads
# an envelope, so the three streams that read lists are synced here.
ENDPOINTS = [
    endpoint for endpoint in school_endpoints() if endpoint["stream"] in STREAMS
]


@pytest.fixture(autouse=True)
def _loopback_http(settings) -> Iterator[None]:
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    settings.INTEGRATIONS_HTTP_DEFAULTS = {
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "retry_budget": 1.0,
        "max_retries": 1,
        "backoff_base": 0.001,
        "backoff_cap": 0.005,
    }
    forget_clients()
    yield
    forget_clients()


@pytest.fixture
def fake() -> Iterator[JsonApiFake]:
    with JsonApiFake(
        collections=school_collections(), token=TOKEN, page_size=2
    ) as server:
        yield server


@pytest.fixture
def integration(db, fake) -> Integration:
    return make_integration(fake)


def make_integration(fake: JsonApiFake, name: str = "school", **fields) -> Integration:
    integration = Integration.objects.create(
        name=name,
        provider="rest",
        base_url=fake.base_url,
        settings={"endpoints": ENDPOINTS, "page_size": 2},
        **fields,
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


def queued_run(integration: Integration, stream: str = "courses", **fields) -> SyncRun:
    return SyncRun.objects.create(integration=integration, stream=stream, **fields)


# --- lease owner ----------------------------------------------------------------


def test_lease_owner_names_host_process_and_task():
    owner = tasks.lease_owner("0f9c6f1e-7d1e-4f5b-9a53-5c2b51d1e3a4")

    assert (
        owner
        == f"{socket.gethostname()}:{os.getpid()}:0f9c6f1e-7d1e-4f5b-9a53-5c2b51d1e3a4"
    )


def test_lease_owner_fits_the_column_and_keeps_the_task_id(monkeypatch):
    monkeypatch.setattr(
        socket, "gethostname", lambda: "worker-" + "x" * 80 + ".example.org"
    )
    task_id = "0f9c6f1e-7d1e-4f5b-9a53-5c2b51d1e3a4"

    owner = tasks.lease_owner(task_id)

    assert len(owner) <= 64
    assert owner.startswith("worker-x")
    assert owner.endswith(f":{os.getpid()}:{task_id}")


def test_lease_owner_without_task_id_is_unique():
    assert tasks.lease_owner(None) != tasks.lease_owner(None)


# --- run_sync -------------------------------------------------------------------


def test_run_sync_executes_a_queued_run(integration, fake):
    run = queued_run(integration)

    status = tasks.run_sync.apply(args=(run.pk,), task_id="task-1").get()

    run.refresh_from_db()
    assert status == "succeeded"
    assert run.status == "succeeded"
    assert leases.holder(integration.pk) == ""
    assert Course.objects.filter(integration=integration).count() == len(
        school_collections()["courses"]
    )


def test_run_sync_delivered_twice_syncs_once(integration, fake):
    run = queued_run(integration)
    tasks.run_sync.apply(args=(run.pk,), task_id="task-1").get()
    requests_after_first = fake.request_count()

    status = tasks.run_sync.apply(args=(run.pk,), task_id="task-1").get()

    run.refresh_from_db()
    assert status == "succeeded"
    assert run.attempts == 1
    assert fake.request_count() == requests_after_first


def test_run_sync_of_a_missing_run_is_logged_and_ignored(db, caplog):
    caplog.set_level(logging.WARNING, logger="integrations.tasks")

    status = tasks.run_sync.apply(args=(987654,)).get()

    assert status is None
    assert [record.msg for record in caplog.records] == [
        "integrations.task.run_missing"
    ]
    assert caplog.records[0].run_id == 987654


def test_run_sync_leaves_a_cancelled_run_alone(integration, fake):
    run = queued_run(integration, status="cancelled")

    status = tasks.run_sync.apply(args=(run.pk,)).get()

    run.refresh_from_db()
    assert status == "cancelled"
    assert run.attempts == 0
    assert fake.request_count() == 0


def test_run_sync_waits_while_another_worker_holds_the_lease(integration, fake):
    run = queued_run(integration)
    assert leases.acquire(integration.pk, "other-host:1:other-task")

    status = tasks.run_sync.apply(args=(run.pk,)).get()

    run.refresh_from_db()
    assert status == "queued"
    assert run.offered_at is None  # the sweeper offers it again
    assert fake.request_count() == 0


# --- sync_integration -------------------------------------------------------------


def test_sync_integration_queues_and_runs_every_stream(
    integration, fake, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_ids = tasks.sync_integration.apply(args=(integration.pk,)).get()

    runs = SyncRun.objects.filter(pk__in=run_ids)
    assert sorted(run.stream for run in runs) == sorted(STREAMS)
    assert {run.status for run in runs} == {"succeeded"}
    assert {run.trigger for run in runs} == {"schedule"}


def test_sync_integration_twice_does_not_pile_up_runs(
    integration, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as first_sends:
        first = tasks.sync_integration.apply(args=(integration.pk,)).get()
    with django_capture_on_commit_callbacks(execute=False):
        second = tasks.sync_integration.apply(args=(integration.pk,)).get()

    assert len(first) == len(STREAMS)
    assert sorted(second) == sorted(first)
    assert SyncRun.objects.filter(integration=integration).count() == len(STREAMS)
    assert len(first_sends) == 1


def test_sync_integration_skips_a_disabled_integration(integration):
    integration.enabled = False
    integration.save()

    assert tasks.sync_integration.apply(args=(integration.pk,)).get() == []
    assert not SyncRun.objects.filter(integration=integration).exists()


def test_sync_integration_of_a_missing_integration_is_logged_and_ignored(db, caplog):
    caplog.set_level(logging.WARNING, logger="integrations.tasks")

    assert tasks.sync_integration.apply(args=(424242,)).get() == []
    assert [record.msg for record in caplog.records] == [
        "integrations.task.integration_missing"
    ]


def test_sync_integration_passes_a_full_resync_on(
    integration, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        run_ids = tasks.sync_integration.apply(
            args=(integration.pk,), kwargs={"full": True}
        ).get()

    assert set(
        SyncRun.objects.filter(pk__in=run_ids).values_list("full", flat=True)
    ) == {True}


# --- check_health -----------------------------------------------------------------


def test_check_health_records_a_healthy_integration(integration, fake):
    status = tasks.check_health.apply(args=(integration.pk,)).get()

    integration.refresh_from_db()
    assert status == "healthy"
    assert integration.health_status == "healthy"
    assert HealthCheckResult.objects.filter(integration=integration).count() == 1


def test_check_health_records_rejected_credentials(integration, fake):
    fake.token = "a-different-token-the-portal-does-not-have"

    status = tasks.check_health.apply(args=(integration.pk,)).get()

    integration.refresh_from_db()
    assert status == "unhealthy"
    assert integration.health_status == "unhealthy"
    assert TOKEN not in integration.health_error


def test_check_health_of_a_missing_integration_is_ignored(db):
    assert tasks.check_health.apply(args=(424242,)).get() is None
    assert not HealthCheckResult.objects.exists()


def test_check_health_twice_records_two_results(integration, fake):
    first = tasks.check_health.apply(args=(integration.pk,)).get()
    second = tasks.check_health.apply(args=(integration.pk,)).get()

    assert (first, second) == ("healthy", "healthy")
    assert HealthCheckResult.objects.filter(integration=integration).count() == 2


# --- test_connection --------------------------------------------------------------


def test_test_connection_stores_health_and_the_preview_of_every_stream(
    integration, fake
):
    status = tasks.test_connection.apply(args=(integration.pk,)).get()

    result = HealthCheckResult.objects.get(integration=integration)
    integration.refresh_from_db()
    assert status == "ok"
    assert result.status == integration.health_status == "healthy"
    preview = {row["stream"]: row for row in result.details["preview"]}
    assert list(preview) == STREAMS
    # page_size=2: one page of each stream, so deletions are unknown.
    assert preview["courses"]["fetched"] == 2
    assert preview["courses"]["would_create"] == 2
    assert preview["courses"]["would_delete"] is None
    assert not SyncRun.objects.exists()
    assert not Course.objects.exists()


def test_test_connection_previews_as_many_pages_as_asked(integration, fake):
    tasks.test_connection.apply(args=(integration.pk,), kwargs={"pages": 50}).get()

    result = HealthCheckResult.objects.get(integration=integration)
    courses = next(
        row for row in result.details["preview"] if row["stream"] == "courses"
    )
    assert courses["fetched"] == len(school_collections()["courses"])
    assert courses["complete"] is True
    assert courses["would_delete"] == 0


def test_test_connection_twice_records_two_results_and_writes_nothing_else(
    integration, fake
):
    first = tasks.test_connection.apply(args=(integration.pk,)).get()
    second = tasks.test_connection.apply(args=(integration.pk,)).get()

    results = HealthCheckResult.objects.filter(integration=integration)
    assert (first, second) == ("ok", "ok")
    assert results.count() == 2
    assert [len(result.details["preview"]) for result in results] == [3, 3]
    assert not SyncRun.objects.exists()
    assert not Course.objects.exists()


def test_test_connection_with_rejected_credentials_stores_an_empty_preview(
    integration, fake
):
    fake.token = "a-different-token-the-portal-does-not-have"

    status = tasks.test_connection.apply(args=(integration.pk,)).get()

    result = HealthCheckResult.objects.get(integration=integration)
    assert status == "unhealthy"
    assert result.details["preview"] == []
    assert TOKEN not in result.error


def test_test_connection_reports_a_failing_stream(integration, fake):
    fake.fail_next(500, path="/api/assignments", times=10)

    status = tasks.test_connection.apply(args=(integration.pk,)).get()

    result = HealthCheckResult.objects.get(integration=integration)
    preview = {row["stream"]: row for row in result.details["preview"]}
    assert status == "stream_errors"
    assert preview["assignments"]["error"]
    assert preview["courses"]["error"] == ""


def test_test_connection_of_a_missing_integration_is_logged_and_ignored(db, caplog):
    caplog.set_level(logging.WARNING, logger="integrations.tasks")

    assert tasks.test_connection.apply(args=(424242,)).get() is None
    assert not HealthCheckResult.objects.exists()
    assert [record.msg for record in caplog.records] == [
        "integrations.task.integration_missing"
    ]
    assert caplog.records[0].integration_id == 424242


def test_test_connection_refuses_a_page_count_below_one(integration, fake):
    with pytest.raises(ValueError, match="pages must be a whole number of 1 or more"):
        tasks.test_connection.run(integration.pk, pages=0)

    assert not HealthCheckResult.objects.exists()
    assert fake.request_count() == 0


# --- reaper and sweeper -------------------------------------------------------------


def test_reaper_resumes_a_run_whose_worker_died(
    integration, django_capture_on_commit_callbacks
):
    expired = timezone.now() - timedelta(seconds=5)
    dead = queued_run(
        integration,
        status="running",
        lease_owner="dead-host:1:task",
        lease_expires_at=expired,
        cursor={"page": 2},
        attempts=1,
        started_at=expired - timedelta(minutes=1),
    )
    Integration.objects.filter(pk=integration.pk).update(
        sync_lease_owner="dead-host:1:task", sync_lease_expires_at=expired
    )

    with django_capture_on_commit_callbacks(execute=False) as sends:
        count = tasks.reap_expired_runs.apply().get()
    again = tasks.reap_expired_runs.apply().get()

    dead.refresh_from_db()
    resumed = SyncRun.objects.get(resumed_from=dead)
    assert (count, again) == (1, 0)
    assert (dead.status, dead.error_code) == ("failed", "worker_lost")
    assert resumed.status == "queued"
    assert resumed.cursor == {"page": 2}
    assert len(sends) == 1


def test_sweeper_offers_due_runs_once(integration, django_capture_on_commit_callbacks):
    due = queued_run(integration, next_attempt_at=timezone.now() - timedelta(seconds=1))
    queued_run(
        integration,
        stream="assignments",
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )

    with django_capture_on_commit_callbacks(execute=False) as sends:
        count = tasks.sweep_due_runs.apply().get()
    with django_capture_on_commit_callbacks(execute=False):
        again = tasks.sweep_due_runs.apply().get()

    due.refresh_from_db()
    assert (count, again) == (1, 0)
    assert due.offered_at is not None
    assert len(sends) == 1


def test_swept_runs_are_executed(
    integration, fake, eager_celery, django_capture_on_commit_callbacks
):
    run = queued_run(integration, next_attempt_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_due_runs.apply().get()

    run.refresh_from_db()
    assert run.status == "succeeded"


def test_a_rate_limited_run_is_swept_as_soon_as_its_wait_is_over(
    integration, fake, eager_celery, django_capture_on_commit_callbacks
):
    fake.fail_next(429, headers={"Retry-After": "60"}, path="/api/courses")
    with django_capture_on_commit_callbacks(execute=False) as first_offer:
        [run] = enqueue_sync(integration, streams=["courses"])
    assert tasks.run_sync.apply(args=(run.pk,)).get() == "queued"
    with django_capture_on_commit_callbacks(execute=False) as early:
        too_early = tasks.sweep_due_runs.apply().get()
    # The service's 60 seconds are over, while the run's first offer is still
    # well inside the lost-message grace.
    SyncRun.objects.filter(pk=run.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    with django_capture_on_commit_callbacks(execute=True) as sends:
        swept = tasks.sweep_due_runs.apply().get()
    with django_capture_on_commit_callbacks(execute=True) as resends:
        swept_again = tasks.sweep_due_runs.apply().get()

    run.refresh_from_db()
    assert (len(first_offer), too_early, len(early)) == (1, 0, 0)
    assert (swept, len(sends)) == (1, 1)
    assert (swept_again, len(resends)) == (0, 0)
    assert (run.status, run.attempts) == ("succeeded", 2)


def test_sync_integration_of_a_misconfigured_integration_queues_nothing(db, caplog):
    integration = Integration.objects.create(name="orphan", provider="no-such-provider")
    caplog.set_level(logging.WARNING, logger="integrations.tasks")

    assert tasks.sync_integration.apply(args=(integration.pk,)).get() == []
    assert not SyncRun.objects.filter(integration=integration).exists()
    assert [record.msg for record in caplog.records] == [
        "integrations.schedule.not_queued"
    ]
    assert caplog.records[0].error_code == "unknown_provider"
