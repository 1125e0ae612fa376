"""Push learners' progress back to the LMS each course came from.

A change of progress queues a WriteBack row in the change's transaction; a
worker pushes it through the provider's ``push_progress`` after commit.
Failures that may pass are retried with growing delays; ones that will not
(bad credentials, a course the LMS no longer has) are parked as ``dead`` for
an admin to fix and replay. Several changes before a push coalesce into one
push of the latest values.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations import errors
from integrations.redaction import redact_text
from integrations.registry import UnknownProvider, get_provider
from portal.events.models import WriteBack, WriteBackStatus
from portal.events.outbox import emit
from portal.learning.models import Progress

logger = logging.getLogger(__name__)

#: Waits before the retries of a failed push; after the last one it is dead.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
#: A push this long "running" lost its worker and is offered again.
LEASE = timedelta(minutes=5)
#: A queued push not taken this long after it was offered is offered again.
LOST_MESSAGE_GRACE = timedelta(minutes=5)
_PENDING = (WriteBackStatus.QUEUED, WriteBackStatus.FAILED)


def queue_write_back(progress: Progress) -> WriteBack | None:
    """Queue a push of ``progress`` to its course's LMS; None if it has none.

    Call inside the transaction that changed the progress: the worker is
    sent the job only after commit.
    """
    integration = progress.integration
    try:
        provider = get_provider(integration.provider)
    except UnknownProvider:
        return None
    if not integration.enabled or not provider.write_back_enabled(integration):
        return None

    now = timezone.now()
    write_back = WriteBack.objects.filter(
        progress=progress, status__in=_PENDING
    ).first()
    if write_back is None:
        write_back = WriteBack.objects.create(
            integration=integration, progress=progress, offered_at=now
        )
    else:
        # Already waiting: it will push the latest values; push it soon.
        WriteBack.objects.filter(pk=write_back.pk).update(
            status=WriteBackStatus.QUEUED, next_attempt_at=None, offered_at=now
        )
    transaction.on_commit(lambda: _send([write_back.pk]))
    return write_back


def _send(write_back_ids: list[int]) -> None:
    from portal.events.tasks import push_write_back

    for write_back_id in write_back_ids:
        push_write_back.delay(write_back_id)


def _claim(write_back_id: int, owner: str) -> WriteBack | None:
    now = timezone.now()
    due = Q(status=WriteBackStatus.QUEUED) | Q(
        status=WriteBackStatus.FAILED, next_attempt_at__lte=now
    )
    row = WriteBack.objects.filter(due, pk=write_back_id).first()
    if row is None:
        return None
    claimed = WriteBack.objects.filter(due, pk=write_back_id).update(
        status=WriteBackStatus.RUNNING,
        attempts=row.attempts + 1,
        lease_owner=owner,
        lease_expires_at=now + LEASE,
        next_attempt_at=None,
    )
    if not claimed:
        return None
    return WriteBack.objects.select_related(
        "integration", "progress__course", "progress__learner"
    ).get(pk=write_back_id)


def execute_write_back(write_back_id: int, *, owner: str) -> WriteBack | None:
    """Push one queued write-back now; return it, or None if not due."""
    write_back = _claim(write_back_id, owner)
    if write_back is None:
        return None
    integration = write_back.integration
    log_context = {"integration": integration.name, "write_back_id": write_back.pk}

    try:
        provider = get_provider(integration.provider)
        client = provider.build_client(integration)
        result = provider.push_progress(integration, client, write_back.progress)
    except errors.IntegrationError as error:
        _record_failure(write_back, error, log_context)
    except UnknownProvider as error:
        _finish(write_back, WriteBackStatus.DEAD, "configuration_error", str(error))
    except Exception as error:
        logger.exception("events.write_back.crashed", extra=log_context)
        failure = errors.TransientError(f"Internal error: {type(error).__name__}")
        _record_failure(write_back, failure, log_context)
    else:
        with transaction.atomic():
            _finish(write_back, WriteBackStatus.SUCCEEDED, result=result or {})
            emit(
                "progress.written_back",
                subject=f"progress:{write_back.progress_id}",
                payload={"integration": integration.name, "write_back": write_back.pk},
            )
        logger.info("events.write_back.succeeded", extra=log_context)
    write_back.refresh_from_db()
    return write_back


def _record_failure(
    write_back: WriteBack, error: errors.IntegrationError, log_context: dict
) -> None:
    retry_at = None
    if error.retryable and write_back.attempts <= len(RETRY_DELAYS):
        delay = RETRY_DELAYS[write_back.attempts - 1]
        retry_at = getattr(error, "retry_at", None) or timezone.now() + delay
    status = WriteBackStatus.FAILED if retry_at else WriteBackStatus.DEAD
    _finish(write_back, status, error.code, str(error), next_attempt_at=retry_at)
    logger.warning(
        "events.write_back.failed",
        extra={**log_context, "error_code": error.code, "status": status},
    )


def _finish(
    write_back: WriteBack,
    status: str,
    error_code: str = "",
    error: str = "",
    *,
    result: dict | None = None,
    next_attempt_at=None,
) -> None:
    done = status in (WriteBackStatus.SUCCEEDED, WriteBackStatus.DEAD)
    WriteBack.objects.filter(pk=write_back.pk).update(
        status=status,
        error_code=error_code[:50],
        error=redact_text(error)[:2000],
        result=result if result is not None else write_back.result,
        next_attempt_at=next_attempt_at,
        finished_at=timezone.now() if done else None,
        lease_owner="",
        lease_expires_at=None,
    )


def replay(write_back: WriteBack) -> bool:
    """Queue a dead or failed write-back again from scratch (admin action)."""
    replayed = WriteBack.objects.filter(
        pk=write_back.pk,
        status__in=(WriteBackStatus.DEAD, WriteBackStatus.FAILED),
    ).update(
        status=WriteBackStatus.QUEUED,
        attempts=0,
        next_attempt_at=None,
        offered_at=timezone.now(),
        error_code="",
        error="",
    )
    if replayed:
        transaction.on_commit(lambda: _send([write_back.pk]))
    return replayed == 1


def sweep_write_backs() -> int:
    """Offer due retries, lost messages and pushes whose worker died again."""
    now = timezone.now()
    WriteBack.objects.filter(
        status=WriteBackStatus.RUNNING, lease_expires_at__lt=now
    ).update(
        status=WriteBackStatus.QUEUED,
        lease_owner="",
        lease_expires_at=None,
        offered_at=None,
    )
    due = WriteBack.objects.filter(
        Q(status=WriteBackStatus.FAILED, next_attempt_at__lte=now)
        | Q(status=WriteBackStatus.QUEUED, offered_at__isnull=True)
        | Q(status=WriteBackStatus.QUEUED, offered_at__lt=now - LOST_MESSAGE_GRACE)
    )
    ids = list(due.order_by("id").values_list("id", flat=True)[:500])
    if not ids:
        return 0
    with transaction.atomic():
        WriteBack.objects.filter(pk__in=ids).update(offered_at=now)
        transaction.on_commit(lambda: _send(ids))
    return len(ids)
