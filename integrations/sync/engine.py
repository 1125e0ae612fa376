"""Run syncs: fetch pages from a provider's stream and store them.

At-least-once fetching plus idempotent upserts keyed by (integration,
external_id) gives exactly-once results. Each page is stored in one
transaction together with the cursor that follows it, so a run killed at any
point resumes after its last committed page. Only the holder of the
integration's lease (integrations.sync.leases) writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import errors
from integrations.models import HealthStatus, Integration, SyncRun, SyncStatus
from integrations.providers.base import Page, StreamContext
from integrations.redaction import redact_text
from integrations.registry import UnknownProvider, get_provider
from integrations.sync import leases
from integrations.sync.prefetch import prefetched
from integrations.sync.upsert import (
    empty_pass_keeps_rows,
    live_count,
    mark_missing_deleted,
    store_page,
)
from portal.events import domain as domain_events

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[SyncRun], None]

#: How often a run may be re-queued (rate limits, lost workers) before it fails.
MAX_ATTEMPTS = 5
_COUNTERS = ("pages", "fetched", "created", "updated", "unchanged", "deleted", "failed")
_MAX_FAILURE_SAMPLES = 20
#: Consecutive pages are stored together, in one transaction with the cursor
#: after the last of them, until they hold this many records (setting
#: INTEGRATIONS_SYNC_BATCH_RECORDS). A per-course listing yields a page of a
#: few records for every course, and a transaction, a progress save and a
#: lease renewal per page would cost more than storing the records.
BATCH_RECORDS = 500
#: A page is never held back longer than this before it is stored, so
#: progress shows and the lease is renewed while a slow stream trickles in.
BATCH_SECONDS = 2.0


class LeaseLost(Exception):
    """The run's lease expired or was taken over; stop without writing more."""


class RunCancelled(Exception):
    """An admin cancelled the run while it was going."""


def execute_run(
    run_id: int, *, owner: str, progress: ProgressCallback | None = None
) -> SyncRun:
    """Execute the queued runs of ``run_id``'s integration, oldest first.

    Holding the integration's lease, the worker drains its queue in order, so
    courses are stored before the assignments that refer to them. When the
    lease is held elsewhere the run stays queued as it was, only its
    ``offered_at`` cleared: a worker holding the lease drains it, and failing
    that the sweeper offers it again on its next pass. Integration errors end
    up in the runs, never raised. Calling it for a run that is no longer
    queued does nothing, so duplicate task deliveries are harmless.
    """
    run = SyncRun.objects.select_related("integration").get(pk=run_id)
    if run.status != SyncStatus.QUEUED:
        return run
    integration = run.integration

    if not leases.acquire(integration.pk, owner):
        # The holder drains this run too; if it finished just before the run
        # was queued, the sweeper offers the run again on its next pass.
        SyncRun.objects.filter(pk=run.pk, status=SyncStatus.QUEUED).update(
            offered_at=None
        )
        logger.info(
            "sync.run.lease_busy",
            extra={"integration": integration.name, "run_id": run.pk},
        )
        return SyncRun.objects.get(pk=run.pk)

    try:
        from integrations.sync.runs import reap_expired_runs

        # Holding the lease, any run of this integration still "running" is
        # dead: resume it first, in its place ahead of the streams after it.
        reap_expired_runs(integration)
        while True:
            next_run = _next_due_run(integration)
            if next_run is None:
                break
            _execute_claimed(next_run, integration, owner, progress)
    finally:
        leases.release(integration.pk, owner)
    return SyncRun.objects.get(pk=run.pk)


def execute_runs_in_process(
    runs: list[SyncRun],
    integration: Integration,
    *,
    owner: str,
    progress: ProgressCallback | None,
) -> list[SyncRun]:
    """Execute ``runs`` in order while the caller holds the lease."""
    for run in runs:
        run.refresh_from_db()
        if run.status == SyncStatus.QUEUED:
            _execute_claimed(run, integration, owner, progress)
    return [SyncRun.objects.get(pk=run.pk) for run in runs]


def _next_due_run(integration: Integration) -> SyncRun | None:
    now = timezone.now()
    queued = SyncRun.objects.filter(integration=integration, status=SyncStatus.QUEUED)
    due = queued.exclude(next_attempt_at__gt=now)
    return due.order_by("created_at", "id").first()


def _claim(run: SyncRun, owner: str) -> bool:
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run.pk, status=SyncStatus.QUEUED).update(
        status=SyncStatus.RUNNING,
        started_at=run.started_at or now,
        attempts=run.attempts + 1,
        lease_owner=owner,
        lease_expires_at=now + timedelta(seconds=leases.lease_seconds()),
        pass_number=run.pass_number or run.pk,
        next_attempt_at=None,
    )
    if claimed:
        run.refresh_from_db()
    return claimed == 1


def _execute_claimed(
    run: SyncRun,
    integration: Integration,
    owner: str,
    progress: ProgressCallback | None,
) -> None:
    if not _claim(run, owner):
        return
    if _superseded(run):
        SyncRun.objects.filter(pk=run.pk, status=SyncStatus.RUNNING).update(
            status=SyncStatus.CANCELLED,
            error_code="superseded",
            error_summary="A later sync completed this stream first; nothing to resume.",
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )
        return
    log_context = {
        "integration": integration.name,
        "stream": run.stream,
        "run_id": run.pk,
    }
    logger.info("sync.run.started", extra=log_context)

    try:
        provider = get_provider(integration.provider)
        try:
            stream = provider.stream(integration, run.stream)
        except KeyError as error:
            raise errors.ConfigurationError(
                str(error).strip("'\""), integration=integration.name
            ) from error
        client = provider.build_client(integration)
        context = StreamContext(
            integration=integration,
            client=client,
            settings=dict(integration.settings),
            full=run.full,
        )
        completed_cursor = _fetch_and_store(run, stream, context, owner, progress)
        if completed_cursor:
            _finish_pass(run, integration, stream.record_type, owner)
    except RunCancelled:
        logger.info("sync.run.cancelled", extra=log_context)
    except LeaseLost:
        logger.warning("sync.run.lease_lost", extra=log_context)
    except errors.RateLimited as error:
        _requeue_after_rate_limit(run, error, log_context)
    except errors.IntegrationError as error:
        _fail(run, error.code, str(error), log_context)
        if isinstance(
            error, errors.AuthenticationFailed | errors.CredentialDecryptionError
        ):
            _mark_unhealthy(
                integration, f"Authentication failed during a sync: {error}"
            )
    except UnknownProvider as error:
        _fail(run, "configuration_error", str(error), log_context)
    except Exception as error:
        logger.exception("sync.run.crashed", extra=log_context)
        _fail(
            run,
            "internal_error",
            f"Internal error: {type(error).__name__}",
            log_context,
        )
    if progress is not None:
        run.refresh_from_db()
        progress(run)


def _superseded(run: SyncRun) -> bool:
    """Tell whether a resumed run's pass was overtaken by a newer complete pass.

    Finishing the old pass would mark rows the newer pass saw as deleted.
    """
    if not run.pass_number or run.pass_number == run.pk:
        return False
    pass_started = (
        SyncRun.objects.filter(pk=run.pass_number)
        .values_list("created_at", flat=True)
        .first()
    )
    if pass_started is None:
        return False
    return (
        SyncRun.objects.filter(
            integration_id=run.integration_id,
            stream=run.stream,
            status=SyncStatus.SUCCEEDED,
            created_at__gt=pass_started,
        )
        .exclude(pass_number=run.pass_number)
        .exists()
    )


def _fetch_and_store(
    run: SyncRun,
    stream,
    context: StreamContext,
    owner: str,
    progress: ProgressCallback | None,
) -> bool:
    """Store every page from the run's cursor on; True when the pass completed."""
    pass_number = run.pass_number or run.pk
    pages = _pages(stream, context, run.cursor)
    try:
        return _store_pages(run, stream, context, pages, pass_number, owner, progress)
    finally:
        # Closed now, not when the traceback is freed: a prefetching thread
        # stops at once and a stream's own clean-up runs.
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _pages(stream, context: StreamContext, cursor: dict | None) -> Iterator[Page]:
    """The stream's pages, fetched one ahead in a thread when the stream allows."""
    pages = stream.pages(context, cursor)
    if getattr(stream, "prefetch", False):
        return prefetched(pages, name=f"{context.integration.name}-{stream.name}")
    return pages


def _store_pages(
    run: SyncRun,
    stream,
    context: StreamContext,
    pages: Iterator[Page],
    pass_number: int,
    owner: str,
    progress: ProgressCallback | None,
) -> bool:
    """Store ``pages`` in batches, saving counts and cursor with each batch."""
    max_records = getattr(settings, "INTEGRATIONS_SYNC_BATCH_RECORDS", BATCH_RECORDS)
    for batch in batched_pages(pages, max_records=max_records):
        with transaction.atomic():
            records = [record for page in batch for record in page.records]
            result = store_page(
                context.integration,
                stream.record_type,
                records,
                pass_number,
                force=run.full,
            )
            page_failures = [failure for page in batch for failure in page.failures]
            failures = (run.failures + page_failures + result.failures)[
                :_MAX_FAILURE_SAMPLES
            ]
            run.pages += len(batch)
            run.fetched += sum(page.fetched or len(page.records) for page in batch)
            run.created += result.created
            run.updated += result.updated
            run.unchanged += result.unchanged
            run.failed += result.failed + sum(len(page.failures) for page in batch)
            run.failures = failures
            run.cursor = batch[-1].next_cursor
            _save_progress(run, owner)
        if progress is not None:
            progress(run)
        if run.cursor is None:
            return True
    return True


def batched_pages(
    pages: Iterable[Page],
    *,
    max_records: int = BATCH_RECORDS,
    max_seconds: float = BATCH_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[list[Page]]:
    """Group consecutive pages into the batches one transaction stores.

    A batch ends with the stream's last page, once it holds ``max_records``
    records, or when ``max_seconds`` have passed since its first page came.
    When the stream raises, the pages it gave before are yielded as a last
    batch and the error is raised after it is stored, so a failed run keeps
    what it fetched. Only cursors between batches are stored: a resume
    starts after the last batch committed, and the pages of a batch lost
    with a killed worker are fetched again and upserted as if new.
    """
    batch: list[Page] = []
    held = 0
    started = 0.0
    try:
        for page in pages:
            if not batch:
                started = clock()
            batch.append(page)
            held += len(page.records)
            if (
                page.next_cursor is None
                or held >= max_records
                or clock() - started >= max_seconds
            ):
                yield batch
                batch, held = [], 0
    except Exception:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


def _save_progress(run: SyncRun, owner: str) -> None:
    """Store counts and cursor, renewing the leases; raise if the run was lost."""
    now = timezone.now()
    expires = now + timedelta(seconds=leases.lease_seconds())
    saved = SyncRun.objects.filter(
        pk=run.pk, status=SyncStatus.RUNNING, lease_owner=owner
    ).update(
        cursor=run.cursor,
        failures=run.failures,
        lease_expires_at=expires,
        **{name: getattr(run, name) for name in _COUNTERS},
    )
    if saved != 1:
        status = (
            SyncRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        )
        if status == SyncStatus.CANCELLED:
            raise RunCancelled()
        raise LeaseLost()
    if not leases.renew(run.integration_id, owner):
        raise LeaseLost()


def _finish_pass(
    run: SyncRun, integration: Integration, record_type: str, owner: str
) -> None:
    pass_number = run.pass_number or run.pk
    # What an earlier attempt left (a rate limit that re-queued the run) is
    # not the outcome of a run that succeeded.
    run.error_code = ""
    run.error_summary = ""
    with transaction.atomic():
        # A resumed pass read rows before it resumed, so it is judged whole.
        if run.resumed_from_id is None and empty_pass_keeps_rows(
            run.fetched, live_count(integration, record_type)
        ):
            run.error_summary = (
                "The source returned no records, so nothing was marked deleted; "
                "check the endpoint if rows really were removed."
            )
            run.deleted = 0
        else:
            run.deleted = mark_missing_deleted(integration, record_type, pass_number)
        finished = SyncRun.objects.filter(
            pk=run.pk, status=SyncStatus.RUNNING, lease_owner=owner
        ).update(
            status=SyncStatus.SUCCEEDED,
            deleted=run.deleted,
            error_code=run.error_code,
            error_summary=run.error_summary,
            cursor=None,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )
        if finished != 1:
            raise LeaseLost()
    logger.info(
        "sync.run.succeeded",
        extra={
            "integration": integration.name,
            "stream": run.stream,
            "run_id": run.pk,
            "created_count": run.created,
            "updated_count": run.updated,
            "unchanged_count": run.unchanged,
            "deleted_count": run.deleted,
            "failed_count": run.failed,
        },
    )


def _fail(run: SyncRun, code: str, summary: str, log_context: dict) -> None:
    with transaction.atomic():
        failed = SyncRun.objects.filter(pk=run.pk, status=SyncStatus.RUNNING).update(
            status=SyncStatus.FAILED,
            error_code=code[:50],
            error_summary=redact_text(summary)[:2000],
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )
        if failed:
            domain_events.sync_failed(run, run.integration, code, summary)
    logger.warning("sync.run.failed", extra={**log_context, "error_code": code})


def _requeue_after_rate_limit(
    run: SyncRun, error: errors.RateLimited, log_context: dict
) -> None:
    run.refresh_from_db()
    if run.attempts >= MAX_ATTEMPTS:
        _fail(run, error.code, str(error), log_context)
        return
    retry_at = error.retry_at or timezone.now() + timedelta(minutes=1)
    # The message that brought the run here was taken, so none waits for it
    # in the broker. Cleared, offered_at lets the sweeper send the run as
    # soon as retry_at passes, not only once the lost-message grace since its
    # first offer is over. (A message still queued for a run drained through
    # another one's finds it not due and does nothing.)
    SyncRun.objects.filter(pk=run.pk, status=SyncStatus.RUNNING).update(
        status=SyncStatus.QUEUED,
        next_attempt_at=retry_at,
        offered_at=None,
        error_code=error.code,
        error_summary=redact_text(str(error))[:2000],
        lease_owner="",
        lease_expires_at=None,
    )
    logger.info(
        "sync.run.rate_limited", extra={**log_context, "retry_at": retry_at.isoformat()}
    )


def _mark_unhealthy(integration: Integration, reason: str) -> None:
    with transaction.atomic():
        previous = (
            Integration.objects.filter(pk=integration.pk)
            .values_list("health_status", flat=True)
            .first()
        )
        Integration.objects.filter(pk=integration.pk).update(
            health_status=HealthStatus.UNHEALTHY,
            health_error=redact_text(reason)[:2000],
            health_checked_at=timezone.now(),
        )
        domain_events.health_changed(
            integration, previous or "", HealthStatus.UNHEALTHY, reason
        )
