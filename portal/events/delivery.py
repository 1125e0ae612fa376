"""Deliver events to sinks in batches, with retries, leases and dead letters.

A worker claims up to the sink's ``max_batch`` due deliveries with a lease,
hands them to the provider's ``deliver`` in one call and records the
outcome. Retryable failures wait in ``next_attempt_at`` (never a broker
countdown); after the last retry, or on a failure retrying cannot fix, a
delivery is dead until an admin replays it. A worker that dies mid-batch
leaves its lease to expire; the sweeper puts the batch back. Delivery is
at-least-once: a batch the sink took just before the worker died is sent
again, with the same idempotency keys. Deliveries sharing a coalescing key
(LMS write-backs of one progress row) are claimed and settled together and
sent as one message, the newest.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from integrations import errors
from integrations.models import Integration
from integrations.providers.base import DeliveryResult, Provider, SinkMessage
from integrations.redaction import redact_text
from integrations.registry import UnknownProvider, get_provider
from portal.events import sinkstate
from portal.events.models import Delivery, DeliveryStatus, SinkState
from portal.events.routing import DISPATCH_BATCH, dispatch_pass, render_message
from portal.events.writeback import deliver_write_backs

logger = logging.getLogger(__name__)

#: Waits before the retries of a failed delivery; after the last, dead.
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
#: A batch "delivering" this long lost its worker and is put back.
LEASE = timedelta(minutes=2)
#: Batches one task sends before it leaves the rest to the next task.
BATCHES_PER_TASK = 20
#: Dispatcher passes one sweep runs at most, each of up to DISPATCH_BATCH events.
DISPATCH_PASSES = 20
#: Statuses that hold a later event of the same key back (ordered sinks).
UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING, DeliveryStatus.FAILED)
#: Statuses of deliveries waiting to be sent, now or at their retry time.
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
#: Write-backs pushed per claim: one LMS call each, so a small batch keeps
#: a failing LMS from holding many rows at once.
WRITE_BACK_BATCH = 10
#: A write-back batch's lease, renewed before each row: one row may take
#: several LMS calls, each with its own timeouts and retries.
WRITE_BACK_LEASE = timedelta(minutes=10)
#: The error code of a delivery the sink took but refused for good.
REJECTED = "rejected_by_sink"


def _due(now: datetime) -> Q:
    return Q(status=DeliveryStatus.PENDING) | Q(
        status=DeliveryStatus.FAILED, next_attempt_at__lte=now
    )


def claim_batch(
    sink: Integration,
    owner: str,
    max_batch: int,
    ordered: bool,
    *,
    coalescing: bool = False,
    lease: timedelta = LEASE,
) -> list[Delivery]:
    """Lease up to ``max_batch`` due deliveries of ``sink``, oldest event first.

    For an ordered sink a delivery is taken only when every unfinished
    delivery of an earlier event of its ordering key (the learner, else the
    subject) is in the same batch. For a ``coalescing`` sink (LMS
    write-back) claims of the sink are taken one at a time, and a key is
    left alone while another worker holds one of its deliveries or one
    waits for its retry time: a row is never pushed by two workers at once,
    and a newer change does not skip the backoff of a failing one.
    """
    if not coalescing:
        return _claim(sink, owner, max_batch, ordered, lease)
    SinkState.objects.get_or_create(sink=sink)
    with transaction.atomic():
        # The lock orders the claims of this sink across workers.
        SinkState.objects.select_for_update().get(sink=sink)
        return _claim(sink, owner, max_batch, ordered, lease, coalescing=True)


def _claim(
    sink: Integration,
    owner: str,
    max_batch: int,
    ordered: bool,
    lease: timedelta,
    coalescing: bool = False,
) -> list[Delivery]:
    now = timezone.now()
    state = SinkState.objects.filter(sink=sink).first()
    if state is not None and state.paused_until and state.paused_until > now:
        return []
    candidates = _due_candidates(sink, now, max_batch * 5)
    if coalescing:
        busy = _busy_keys(sink, candidates, now)
        candidates = [c for c in candidates if c.coalesce_key not in busy]
    chosen = (
        _in_order(sink, candidates, max_batch)
        if ordered
        else _one_per_coalesce_key(candidates, max_batch)
    )
    if not chosen:
        return []

    ids = [delivery.pk for delivery in chosen]
    absorbed = _absorbed(sink, chosen)
    Delivery.objects.filter(
        Q(_due(now), pk__in=ids) | Q(pk__in=absorbed, status__in=WAITING)
    ).update(
        status=DeliveryStatus.DELIVERING,
        attempts=F("attempts") + 1,
        lease_owner=owner,
        lease_expires_at=now + lease,
        next_attempt_at=None,
    )
    return list(
        Delivery.objects.filter(
            pk__in=ids + absorbed, status=DeliveryStatus.DELIVERING, lease_owner=owner
        )
        .select_related("event")
        .order_by("event_id")
    )


def _busy_keys(
    sink: Integration, candidates: list[Delivery], now: datetime
) -> set[str]:
    """Return the candidates' coalescing keys another claim must not take now.

    A key is busy while one of its deliveries is out with a live lease, or
    failed and waiting for its retry time.
    """
    keys = {delivery.coalesce_key for delivery in candidates if delivery.coalesce_key}
    if not keys:
        return set()
    out = Q(status=DeliveryStatus.DELIVERING, lease_expires_at__gt=now)
    waiting = Q(status=DeliveryStatus.FAILED, next_attempt_at__gt=now)
    return set(
        Delivery.objects.filter(out | waiting, sink=sink, coalesce_key__in=keys)
        .values_list("coalesce_key", flat=True)
        .distinct()
    )


def renew_lease(batch: list[Delivery], lease: timedelta) -> bool:
    """Extend the lease of a claimed batch being sent; False if it was lost.

    Lost means the sweeper gave some of its rows back after the lease ran
    out, and another worker may hold them now.
    """
    if not batch:
        return True
    renewed = Delivery.objects.filter(
        pk__in=[delivery.pk for delivery in batch],
        status=DeliveryStatus.DELIVERING,
        lease_owner=batch[0].lease_owner,
    ).update(lease_expires_at=timezone.now() + lease)
    return renewed == len(batch)


def _one_per_coalesce_key(candidates: list[Delivery], max_batch: int) -> list[Delivery]:
    # Deliveries sharing a coalescing key go out as one message, so a batch
    # takes one of each key and fills its places with other keys.
    chosen: list[Delivery] = []
    keys: set[str] = set()
    for delivery in candidates:
        if delivery.coalesce_key:
            if delivery.coalesce_key in keys:
                continue
            keys.add(delivery.coalesce_key)
        chosen.append(delivery)
        if len(chosen) == max_batch:
            break
    return chosen


def _absorbed(sink: Integration, chosen: list[Delivery]) -> list[int]:
    """Return the other waiting deliveries of the chosen ones' coalescing keys.

    They are claimed with the batch, due or not (a failed one waiting for its
    retry time included), and settled by the one message of their key.
    """
    keys = {delivery.coalesce_key for delivery in chosen if delivery.coalesce_key}
    if not keys:
        return []
    chosen_ids = {delivery.pk for delivery in chosen}
    return [
        pk
        for pk in Delivery.objects.filter(
            sink=sink, coalesce_key__in=keys, status__in=WAITING
        ).values_list("pk", flat=True)
        if pk not in chosen_ids
    ]


def _due_candidates(sink: Integration, now: datetime, limit: int) -> list[Delivery]:
    """Return up to ``limit`` of the sink's due deliveries, oldest event first.

    Pending and retry-due rows are read apart and merged: each query then
    walks the (sink, status, event) index in order and stops at ``limit``,
    where one query with the OR of both sorted every due row of the sink at
    each claim, a cost that grew with the backlog. Only the columns the
    choice reads are loaded; the chosen rows are read whole once leased.
    """
    columns = ("id", "event_id", "ordering_key", "coalesce_key")
    pending = Delivery.objects.filter(sink=sink, status=DeliveryStatus.PENDING)
    retry_due = Delivery.objects.filter(
        sink=sink, status=DeliveryStatus.FAILED, next_attempt_at__lte=now
    )
    pending, retry_due = pending.only(*columns), retry_due.only(*columns)
    rows = [
        *pending.order_by("event_id")[:limit],
        *retry_due.order_by("event_id")[:limit],
    ]
    return sorted(rows, key=lambda delivery: delivery.event_id)[:limit]


def _in_order(
    sink: Integration, candidates: list[Delivery], max_batch: int
) -> list[Delivery]:
    keys = {delivery.ordering_key for delivery in candidates if delivery.ordering_key}
    if not keys:
        return candidates[:max_batch]
    # Only events before the last candidate can hold a candidate back; the
    # bound keeps the index scan to the head of the sink's queue.
    last = max(delivery.event_id for delivery in candidates)
    earlier: dict[str, list[int]] = {}
    for key, event_id in (
        Delivery.objects.filter(
            sink=sink, ordering_key__in=keys, status__in=UNFINISHED, event_id__lt=last
        )
        .order_by("event_id")
        .values_list("ordering_key", "event_id")
    ):
        earlier.setdefault(key, []).append(event_id)

    chosen: list[Delivery] = []
    taken: set[int] = set()
    for delivery in candidates:
        before = [
            event_id
            for event_id in earlier.get(delivery.ordering_key, [])
            if event_id < delivery.event_id
        ]
        if delivery.ordering_key and any(event_id not in taken for event_id in before):
            continue
        chosen.append(delivery)
        taken.add(delivery.event_id)
        if len(chosen) == max_batch:
            break
    return chosen


def coalesced(batch: list[Delivery]) -> dict[str, list[Delivery]]:
    """Group a claimed batch by coalescing key, each group oldest event first.

    A delivery without a key is a group of its own. The newest delivery of a
    group speaks for all of it: its key names the group's message.
    """
    groups: dict[str, list[Delivery]] = {}
    for delivery in sorted(batch, key=lambda delivery: delivery.event_id):
        groups.setdefault(delivery.coalesce_key or delivery.idempotency_key, []).append(
            delivery
        )
    return {members[-1].idempotency_key: members for members in groups.values()}


def messages_for(batch: list[Delivery]) -> list[SinkMessage]:
    """Return what the provider is given for a claimed batch: one per group."""
    return [
        SinkMessage(
            key=delivery.idempotency_key,
            kind=delivery.event.kind,
            subject=delivery.subject,
            text=delivery.message,
            occurred_at=delivery.event.occurred_at.isoformat(),
            payload=delivery.event.payload,
        )
        for delivery in (members[-1] for members in coalesced(batch).values())
    ]


def _deliver(
    provider: Provider, sink: Integration, batch: list[Delivery]
) -> DeliveryResult:
    messages = messages_for(batch)
    if provider.supports_sink:
        return provider.deliver(sink, messages)
    return deliver_write_backs(
        provider, sink, messages, renew=lambda: renew_lease(batch, WRITE_BACK_LEASE)
    )


def _for_members(groups: dict[str, list[Delivery]], by_key: dict[str, Any]) -> dict:
    """Spread what a sink said of a group's message to every member of it."""
    return {
        member.idempotency_key: value
        for key, value in by_key.items()
        for member in groups.get(key, [])
    }


def _by_error(
    batch: list[Delivery], failed: dict[str, errors.IntegrationError]
) -> list[tuple[errors.IntegrationError, list[Delivery]]]:
    """Group the deliveries a sink did not get through by the error it raised."""
    grouped: dict[int, tuple[errors.IntegrationError, list[Delivery]]] = {}
    for delivery in batch:
        error = failed.get(delivery.idempotency_key)
        if error is not None:
            grouped.setdefault(id(error), (error, []))[1].append(delivery)
    return list(grouped.values())


def send_batch(sink: Integration, batch: list[Delivery]) -> None:
    """Hand a claimed batch to its sink and record what happened."""
    log_context = {"integration": sink.name, "batch": len(batch)}
    try:
        provider = get_provider(sink.provider)
        result = _deliver(provider, sink, batch)
    except errors.IntegrationError as error:
        record_failure(sink, batch, error)
    except UnknownProvider as error:
        failure = errors.ConfigurationError(str(error), integration=sink.name)
        record_failure(sink, batch, failure)
    except Exception as error:
        logger.exception("events.delivery.crashed", extra=log_context)
        failure = errors.TransientError(f"Internal error: {type(error).__name__}")
        record_failure(sink, batch, failure)
    else:
        groups = coalesced(batch)
        rejected = _for_members(groups, getattr(result, "rejected", None) or {})
        failed = _for_members(groups, getattr(result, "failed", None) or {})
        accepted = [
            d
            for d in batch
            if d.idempotency_key not in rejected and d.idempotency_key not in failed
        ]
        if accepted:
            record_success(sink, accepted)
        if rejected:
            record_rejected(sink, batch, rejected)
        for error, members in _by_error(batch, failed):
            record_failure(sink, members, error)
        logger.info(
            "events.delivery.delivered",
            extra={**log_context, "rejected": len(batch) - len(accepted)},
        )


def deliver_due(sink: Integration, owner: str) -> int:
    """Send the sink's due deliveries batch by batch; return how many arrived."""
    try:
        provider = get_provider(sink.provider)
    except UnknownProvider:
        logger.warning("events.delivery.unknown_sink", extra={"integration": sink.name})
        return 0
    if not (provider.supports_sink or provider.supports_write_back) or not sink.enabled:
        return 0

    write_back = not provider.supports_sink
    size = WRITE_BACK_BATCH if write_back else provider.max_batch
    delivered = 0
    for _ in range(BATCHES_PER_TASK):
        batch = claim_batch(
            sink,
            owner,
            max(size, 1),
            provider.ordered,
            coalescing=write_back,
            lease=WRITE_BACK_LEASE if write_back else LEASE,
        )
        if not batch:
            break
        send_batch(sink, batch)
        ids = [delivery.pk for delivery in batch]
        arrived = Delivery.objects.filter(
            pk__in=ids, status=DeliveryStatus.DELIVERED
        ).count()
        refused = Delivery.objects.filter(
            pk__in=ids, status=DeliveryStatus.DEAD, error_code=REJECTED
        ).count()
        delivered += arrived
        if arrived + refused < len(batch):
            # The sink is failing: the rest waits for its retry time.
            break
    return delivered


def record_success(sink: Integration, batch: list[Delivery]) -> None:
    """Mark a batch delivered and tell the sink's state it works."""
    now = timezone.now()
    with transaction.atomic():
        # Only rows this worker still holds: a batch whose lease expired may
        # be another worker's by now.
        Delivery.objects.filter(
            pk__in=[delivery.pk for delivery in batch],
            status=DeliveryStatus.DELIVERING,
            lease_owner=batch[0].lease_owner,
        ).update(
            status=DeliveryStatus.DELIVERED,
            delivered_at=now,
            error_code="",
            error="",
            lease_owner="",
            lease_expires_at=None,
        )
        sinkstate.record_delivered(sink)


def record_rejected(
    sink: Integration, batch: list[Delivery], rejected: dict[str, str]
) -> None:
    """Make the deliveries the sink refused for good dead, each with its reason.

    The sink itself worked, so its state is not marked failing: a refused
    event (too old, invalid for the service) says nothing about the sink.
    """
    with transaction.atomic():
        for delivery in batch:
            reason = rejected.get(delivery.idempotency_key)
            if reason is None:
                continue
            Delivery.objects.filter(
                pk=delivery.pk,
                status=DeliveryStatus.DELIVERING,
                lease_owner=delivery.lease_owner,
            ).update(
                status=DeliveryStatus.DEAD,
                error_code=REJECTED,
                error=redact_text(str(reason))[:2000] or "Refused by the sink.",
                lease_owner="",
                lease_expires_at=None,
            )
    logger.warning(
        "events.delivery.rejected",
        extra={"integration": sink.name, "rejected": len(rejected)},
    )


def record_failure(
    sink: Integration, batch: list[Delivery], error: errors.IntegrationError
) -> None:
    """Schedule a retry of a failed batch, or make it dead after the last.

    The deliveries of one coalescing key share one fate, set by the one of
    them tried most: one retry time, one count of attempts, and one dead
    delivery for the sink's broken-sink count.
    """
    retry_at = getattr(error, "retry_at", None)
    rate_limited = isinstance(error, errors.RateLimited)
    message = redact_text(str(error))[:2000]
    dead = 0
    with transaction.atomic():
        for members in coalesced(batch).values():
            lead = max(members, key=lambda delivery: delivery.attempts)
            status, next_at, attempts = _after_failure(lead, error, retry_at)
            dead += status == DeliveryStatus.DEAD
            Delivery.objects.filter(
                pk__in=[member.pk for member in members],
                status=DeliveryStatus.DELIVERING,
                lease_owner=lead.lease_owner,
            ).update(
                status=status,
                next_attempt_at=next_at,
                attempts=attempts,
                error_code=error.code[:50],
                error=message,
                lease_owner="",
                lease_expires_at=None,
            )
        if rate_limited:
            sinkstate.pause(sink, retry_at or timezone.now() + RETRY_DELAYS[0])
        else:
            sinkstate.record_failed(sink, error)
        if dead:
            sinkstate.record_dead(sink, dead, error)
    logger.warning(
        "events.delivery.failed",
        extra={
            "integration": sink.name,
            "batch": len(batch),
            "dead": dead,
            "error_code": error.code,
        },
    )


def _after_failure(
    delivery: Delivery, error: errors.IntegrationError, retry_at: datetime | None
) -> tuple[str, datetime | None, int]:
    attempts = delivery.attempts
    if isinstance(error, errors.RateLimited):
        # The sink asked to wait: the attempt does not count against retries.
        attempts = max(attempts - 1, 0)
        return (
            DeliveryStatus.FAILED,
            retry_at or timezone.now() + RETRY_DELAYS[0],
            attempts,
        )
    if not error.retryable or attempts > len(RETRY_DELAYS):
        return DeliveryStatus.DEAD, None, attempts
    return DeliveryStatus.FAILED, timezone.now() + RETRY_DELAYS[attempts - 1], attempts


def replay(delivery: Delivery) -> bool:
    """Queue a dead or failed delivery again from scratch (admin action)."""
    message = delivery.message
    if delivery.error_code == "template_error" and delivery.rule is not None:
        try:
            message = render_message(delivery.rule, delivery.event)
        except Exception:
            return False
    replayed = Delivery.objects.filter(
        pk=delivery.pk, status__in=(DeliveryStatus.DEAD, DeliveryStatus.FAILED)
    ).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=None,
        message=message,
        error_code="",
        error="",
    )
    if replayed:
        transaction.on_commit(lambda: send_to_workers([delivery.sink_id]))
    return replayed == 1


def recover_expired_leases() -> int:
    """Put back batches whose worker died (lease expired); return how many rows."""
    return Delivery.objects.filter(
        status=DeliveryStatus.DELIVERING, lease_expires_at__lt=timezone.now()
    ).update(status=DeliveryStatus.PENDING, lease_owner="", lease_expires_at=None)


def sinks_with_due_work() -> list[int]:
    """Return the sinks that have deliveries due now."""
    # Two EXISTS per integration, pending and retry-due apart, so each is
    # answered from the (sink, status, event) index: a DISTINCT over the
    # due rows read the whole backlog, and one EXISTS with the OR of both
    # walked every delivery the sink ever had.
    pending = Delivery.objects.filter(
        sink=OuterRef("pk"), status=DeliveryStatus.PENDING
    )
    retry_due = Delivery.objects.filter(
        sink=OuterRef("pk"),
        status=DeliveryStatus.FAILED,
        next_attempt_at__lte=timezone.now(),
    )
    return list(
        Integration.objects.filter(Exists(pending) | Exists(retry_due))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def sweep() -> list[int]:
    """Dispatch new events, recover lost batches; return the sinks with work."""
    # Several passes, each its own transaction: one pass of DISPATCH_BATCH
    # an interval was the pipeline's ceiling, and one pass of everything
    # would hold the write lock for long.
    for _ in range(DISPATCH_PASSES):
        try:
            handled, _ = dispatch_pass()
        except Exception:
            # A pass that cannot commit must not stop lost batches from being
            # recovered and due deliveries from being sent.
            logger.exception("events.dispatch.failed")
            break
        if handled < DISPATCH_BATCH:
            # The backlog is empty, or another dispatcher holds the pass.
            break
    recovered = recover_expired_leases()
    if recovered:
        logger.warning("events.delivery.leases_recovered", extra={"count": recovered})
    return sinks_with_due_work()


def send_to_workers(sink_ids: list[int]) -> None:
    """Send one delivery task per sink to the workers."""
    from portal.events.tasks import deliver_to_sink

    for sink_id in sink_ids:
        deliver_to_sink.delay(sink_id)
