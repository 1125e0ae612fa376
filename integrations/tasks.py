"""Celery tasks: syncs, health checks, connection tests, reaper and sweeper.

Every task is safe to run twice: Celery acknowledges late
(``CELERY_TASK_ACKS_LATE``), so a message can be delivered again after a
worker dies, and the embedded filesystem broker can lose one outright. The
database is the source of truth: a run that is no longer queued is left
alone, a missing integration is logged and ignored, and the reaper and the
sweeper (sent by beat every ``INTEGRATIONS_MAINTENANCE_INTERVAL`` seconds)
pick up whatever a lost message left behind. Long waits are
``SyncRun.next_attempt_at`` rows the sweeper enqueues when they fall due,
never broker countdowns.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from celery import shared_task

from integrations import errors, health
from integrations.models import HealthStatus, Integration, SyncRun, SyncStatus
from integrations.registry import UnknownProvider
from integrations.sync import runs
from integrations.sync.engine import execute_run

logger = logging.getLogger(__name__)

#: Room for the lease owner columns (``max_length=64``).
_OWNER_MAX_LENGTH = 64


def lease_owner(task_id: str | None) -> str:
    """Return the lease owner name of a task: ``hostname:pid:task id``.

    The task id names the message and is kept whole; host and process tell
    two deliveries of one message apart. The host name is shortened to fit
    the 64-character lease columns.
    """
    suffix = f":{os.getpid()}:{task_id or uuid.uuid4()}"
    host = socket.gethostname()[: max(_OWNER_MAX_LENGTH - len(suffix), 0)]
    return (host + suffix)[-_OWNER_MAX_LENGTH:]


@shared_task(name="integrations.run_sync", bind=True)
def run_sync(self, run_id: int) -> str | None:
    """Execute one queued sync run; return its status, None if it is gone."""
    status = SyncRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if status is None:
        logger.warning("integrations.task.run_missing", extra={"run_id": run_id})
        return None
    if status != SyncStatus.QUEUED:
        logger.info(
            "integrations.task.run_not_queued",
            extra={"run_id": run_id, "status": status},
        )
        return status

    try:
        run = execute_run(run_id, owner=lease_owner(self.request.id))
    except SyncRun.DoesNotExist:
        # Deleted between the check above and the engine's read.
        logger.warning("integrations.task.run_missing", extra={"run_id": run_id})
        return None
    return run.status


@shared_task(name="integrations.sync_integration")
def sync_integration(integration_id: int, full: bool = False) -> list[int]:
    """Queue a sync of every stream of an integration; beat's scheduled entry.

    Return the ids of the integration's active runs. Nothing is queued for a
    missing or disabled integration; a stream that still has a run queued or
    running keeps it (enqueue_sync), so a second delivery of the same beat
    message, or a schedule that fires faster than the sync finishes, does not
    pile runs up.
    """
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        logger.warning(
            "integrations.task.integration_missing",
            extra={"integration_id": integration_id},
        )
        return []
    if not integration.enabled:
        logger.info(
            "integrations.schedule.skipped_disabled",
            extra={"integration": integration.name},
        )
        return []

    try:
        queued = runs.enqueue_sync(integration, full=full, trigger="schedule")
    except (errors.IntegrationError, UnknownProvider) as error:
        # A misconfigured integration: retrying the beat message cannot help,
        # and the next scheduled run tries again after the admin fixes it.
        logger.warning(
            "integrations.schedule.not_queued",
            extra={
                "integration": integration.name,
                "error_code": getattr(error, "code", "unknown_provider"),
            },
        )
        return []
    return [run.pk for run in queued]


@shared_task(name="integrations.check_health")
def check_health(integration_id: int) -> str | None:
    """Check an integration's health; return the status found, None if gone."""
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        logger.warning(
            "integrations.task.integration_missing",
            extra={"integration_id": integration_id},
        )
        return None

    result = health.check_health(integration)
    return result.status


@shared_task(name="integrations.test_connection")
def test_connection(integration_id: int, pages: int = 1) -> str | None:
    """Test an integration's connection and store a sync preview; None if gone.

    Return "ok" when health and every stream preview worked, "stream_errors"
    when the integration is healthy but a stream failed, else the health
    status. Each delivery records its own health result, so a second one
    adds a result and changes nothing else.
    """
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        logger.warning(
            "integrations.task.integration_missing",
            extra={"integration_id": integration_id},
        )
        return None

    report = health.test_connection(integration, pages=pages)
    if report.ok:
        return "ok"
    if report.health.status == HealthStatus.HEALTHY:
        return "stream_errors"
    return report.health.status


@shared_task(name="integrations.reap_expired_runs")
def reap_expired_runs() -> int:
    """Fail runs whose worker died and queue their resumptions; return how many."""
    resumed = runs.reap_expired_runs()
    if resumed:
        logger.warning("integrations.reaper.resumed", extra={"count": len(resumed)})
    return len(resumed)


@shared_task(name="integrations.sweep_due_runs")
def sweep_due_runs() -> int:
    """Enqueue queued runs that are due again or whose message was lost."""
    count = runs.requeue_due_runs()
    if count:
        logger.info("integrations.sweeper.requeued", extra={"count": count})
    return count


@shared_task(name="integrations.settle_stuck_work")
def settle_stuck_work() -> dict[str, int]:
    """Settle issue reports left ``sending`` and fail exports left ``running``.

    Both are left so by a process that died mid-request or mid-upload; the
    reports are looked up at GitHub, never posted again.
    """
    from integrations.providers.github.issues import settle_unanswered_reports
    from portal.exports.service import fail_stalled_exports

    counts = settle_unanswered_reports()
    counts["exports_failed"] = fail_stalled_exports()
    return counts
