"""Create, queue, resume and reap sync runs.

Every sync is a SyncRun row first and a Celery message second: the message is
sent only after the row's transaction commits, and a lost message (the
filesystem broker drops the one a killed worker held) is found again by the
sweeper, because the row is still there.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations import errors
from integrations.models import Integration, SyncRun, SyncStatus
from integrations.registry import get_provider
from integrations.sync import leases
from integrations.sync.engine import (
    MAX_ATTEMPTS,
    ProgressCallback,
    execute_runs_in_process,
)
from portal.events import domain as domain_events

logger = logging.getLogger(__name__)

#: A queued run with no message seen for this long is offered to workers again.
LOST_MESSAGE_GRACE = timedelta(minutes=5)


class SyncInProgress(errors.IntegrationError):
    """Another process holds the integration's sync lease."""

    code = "sync_in_progress"


def stream_names(
    integration: Integration, streams: list[str] | None = None
) -> list[str]:
    """Return the streams to sync in dependency order, validating ``streams``."""
    provider = get_provider(integration.provider)
    available = [stream.name for stream in provider.streams(integration)]
    if not streams:
        return available
    unknown = [name for name in streams if name not in available]
    if unknown:
        raise errors.ConfigurationError(
            f"Integration '{integration.name}' has no stream {unknown[0]!r}; "
            f"streams: {', '.join(available) or 'none'}.",
            integration=integration.name,
        )
    return [name for name in available if name in streams]


def _resumable(integration: Integration, stream: str) -> SyncRun | None:
    """Return the last run of a stream if it stopped mid-pass and may resume."""
    last = (
        SyncRun.objects.filter(integration=integration, stream=stream)
        .order_by("-created_at", "-id")
        .first()
    )
    stopped = (SyncStatus.FAILED, SyncStatus.CANCELLED)
    if last is None or last.status not in stopped or not last.cursor:
        return None
    return last


def _create_run(
    integration: Integration,
    stream: str,
    *,
    full: bool,
    trigger: str,
    offer: bool = True,
) -> SyncRun:
    previous = None if full else _resumable(integration, stream)
    run = SyncRun(
        integration=integration,
        stream=stream,
        full=full,
        trigger=trigger,
        offered_at=timezone.now() if offer else None,
    )
    if previous is not None:
        run.resumed_from = previous
        run.cursor = previous.cursor
        run.pass_number = previous.pass_number
        run.full = previous.full
    run.save()
    return run


def enqueue_sync(
    integration: Integration,
    *,
    streams: list[str] | None = None,
    full: bool = False,
    trigger: str = "manual",
) -> list[SyncRun]:
    """Queue runs for the integration's streams and send them to workers.

    A stream that already has a queued or running run is not queued twice;
    its active run is returned instead, so a double click is harmless.
    """
    names = stream_names(integration, streams)
    runs: list[SyncRun] = []
    with transaction.atomic():
        # Serialise concurrent "Sync now" clicks on PostgreSQL (SQLite's
        # IMMEDIATE transactions already do), so a stream is queued once.
        Integration.objects.select_for_update().filter(pk=integration.pk).first()
        active = {
            run.stream: run
            for run in SyncRun.objects.filter(
                integration=integration, status__in=SyncRun.ACTIVE_STATUSES
            )
        }
        for name in names:
            run = active.get(name) or _create_run(
                integration, name, full=full, trigger=trigger
            )
            runs.append(run)
        new_ids = [run.pk for run in runs if run.stream not in active]
        transaction.on_commit(lambda: _send(new_ids))
    return runs


def _send(run_ids: list[int]) -> None:
    from integrations.tasks import run_sync

    for run_id in run_ids:
        run_sync.delay(run_id)


def run_sync_now(
    integration: Integration,
    *,
    streams: list[str] | None = None,
    full: bool = False,
    progress: ProgressCallback | None = None,
    trigger: str = "cli",
) -> list[SyncRun]:
    """Sync in the calling process, no worker needed; return the finished runs.

    A stream that already has a queued run (left by a rate limit, a schedule
    or a resumed worker) has that run executed here, from its cursor, rather
    than a second one created, unless ``full`` asks for more than it does.
    Raise SyncInProgress when a worker (or another command) is syncing the
    same integration.
    """
    names = stream_names(integration, streams)
    owner = leases.new_owner("cli")
    # A run left "running" by a killed process would otherwise wait for the
    # periodic reaper, which cron-style use without workers never runs.
    reap_expired_runs(integration)
    if not leases.acquire(integration.pk, owner):
        raise SyncInProgress(
            f"A sync of '{integration.name}' is already running; wait for it or "
            "cancel it in the admin.",
            integration=integration.name,
        )
    runs: list[SyncRun] = []
    taken_over: list[int] = []
    try:
        runs, taken_over = _runs_for_cli(integration, names, full=full, trigger=trigger)
        return execute_runs_in_process(
            runs, integration, owner=owner, progress=progress
        )
    except BaseException:
        _stop_interrupted(runs, taken_over)
        raise
    finally:
        leases.release(integration.pk, owner)


def _runs_for_cli(
    integration: Integration, names: list[str], *, full: bool, trigger: str
) -> tuple[list[SyncRun], list[int]]:
    """Return one run per stream and the ids of those taken over from the queue.

    Call holding the lease, so no worker can claim a queued run meanwhile.
    Had the command created runs beside the queued ones, a worker would later
    run those too: a second pass, or one resumed from an older cursor, whose
    end marks the rows only the command's pass saw as deleted.
    """
    runs: list[SyncRun] = []
    taken_over: list[int] = []
    with transaction.atomic():
        # Serialise with enqueue_sync, which would queue a stream again.
        Integration.objects.select_for_update().filter(pk=integration.pk).first()
        waiting: dict[str, list[SyncRun]] = {}
        queued = SyncRun.objects.filter(
            integration=integration, stream__in=names, status=SyncStatus.QUEUED
        )
        for run in queued.order_by("created_at", "id"):
            waiting.setdefault(run.stream, []).append(run)
        for name in names:
            candidates = waiting.get(name, [])
            if candidates and (candidates[0].full or not full):
                run, superseded = candidates[0], candidates[1:]
                taken_over.append(run.pk)
            else:
                superseded = candidates
                run = _create_run(
                    integration, name, full=full, trigger=trigger, offer=False
                )
            if superseded:
                SyncRun.objects.filter(
                    pk__in=[other.pk for other in superseded],
                    status=SyncStatus.QUEUED,
                ).update(
                    status=SyncStatus.CANCELLED,
                    finished_at=timezone.now(),
                    error_code="superseded",
                    error_summary="A sync of the stream from the command line "
                    "replaced it.",
                )
            runs.append(run)
    return runs, taken_over


def _stop_interrupted(runs: list[SyncRun], taken_over: list[int]) -> None:
    """Cancel what an interrupted command started; hand back what it took over.

    Ctrl-C or SIGTERM: the command's own runs must not stay queued or running
    for a worker to pick up later. Their cursors stay, so the next sync
    resumes where this one stopped. A run taken over from the queue and not
    reached yet is left queued as it was, and offered to workers anew, since
    its message may have gone to a worker that found the lease busy.
    """
    now = timezone.now()
    own_or_started = ~Q(pk__in=taken_over) | Q(status=SyncStatus.RUNNING)
    SyncRun.objects.filter(
        own_or_started,
        pk__in=[run.pk for run in runs],
        status__in=SyncRun.ACTIVE_STATUSES,
    ).update(
        status=SyncStatus.CANCELLED,
        finished_at=now,
        error_code="interrupted",
        error_summary="The sync was interrupted (Ctrl-C or a stop signal).",
        lease_owner="",
        lease_expires_at=None,
    )
    SyncRun.objects.filter(pk__in=taken_over, status=SyncStatus.QUEUED).update(
        offered_at=None
    )


def cancel_run(run: SyncRun) -> bool:
    """Cancel a queued or running run; a running one stops after its page."""
    cancelled = SyncRun.objects.filter(
        pk=run.pk, status__in=SyncRun.ACTIVE_STATUSES
    ).update(
        status=SyncStatus.CANCELLED, finished_at=timezone.now(), error_code="cancelled"
    )
    return cancelled == 1


def reap_expired_runs(integration: Integration | None = None) -> list[SyncRun]:
    """Fail runs whose worker died and queue runs that resume them.

    A run whose lease expired while running lost its worker (killed, out of
    memory, machine gone). Its committed pages stay; the new run continues
    from its cursor in the same pass, so the end result is as if nothing
    happened. The new run keeps the dead run's place in the queue, ahead of
    the streams that depend on it. With ``integration``, only its runs.
    """
    now = timezone.now()
    resumed: list[SyncRun] = []
    expired = SyncRun.objects.filter(
        status=SyncStatus.RUNNING, lease_expires_at__lt=now
    ).select_related("integration")
    if integration is not None:
        expired = expired.filter(integration=integration)
    for run in expired:
        with transaction.atomic():
            reaped = SyncRun.objects.filter(
                pk=run.pk, status=SyncStatus.RUNNING, lease_expires_at__lt=now
            ).update(
                status=SyncStatus.FAILED,
                error_code="worker_lost",
                error_summary=(
                    "The worker running this sync stopped (killed or crashed); "
                    "a new run resumes from the last stored page."
                ),
                finished_at=now,
            )
            if not reaped:
                continue
            leases.release(run.integration_id, run.lease_owner)
            if run.attempts >= MAX_ATTEMPTS:
                domain_events.sync_failed(
                    run, run.integration, "worker_lost", "The worker stopped too often."
                )
                logger.warning(
                    "sync.run.gave_up",
                    extra={"integration": run.integration.name, "run_id": run.pk},
                )
                continue
            new_run = SyncRun.objects.create(
                integration=run.integration,
                stream=run.stream,
                full=run.full,
                trigger="resume",
                resumed_from=run,
                cursor=run.cursor,
                pass_number=run.pass_number or run.pk,
                attempts=run.attempts,
                offered_at=now,
                created_at=run.created_at,
            )
            resumed.append(new_run)
            transaction.on_commit(lambda run_id=new_run.pk: _send([run_id]))
        logger.warning(
            "sync.run.reaped",
            extra={"integration": run.integration.name, "run_id": run.pk},
        )
    return resumed


def requeue_due_runs() -> int:
    """Send queued runs that are due, or whose message was lost, to workers.

    Due: no wait pending (``next_attempt_at`` passed or unset). Offered: never,
    or longer ago than LOST_MESSAGE_GRACE without being taken.
    """
    now = timezone.now()
    due = (
        SyncRun.objects.filter(status=SyncStatus.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(offered_at__isnull=True) | Q(offered_at__lt=now - LOST_MESSAGE_GRACE))
    )
    run_ids = list(due.order_by("created_at", "id").values_list("id", flat=True)[:500])
    if not run_ids:
        return 0
    with transaction.atomic():
        SyncRun.objects.filter(pk__in=run_ids, status=SyncStatus.QUEUED).update(
            offered_at=now
        )
        transaction.on_commit(lambda: _send(run_ids))
    return len(run_ids)
