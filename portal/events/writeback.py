"""LMS write-back: a built-in sink of the event pipeline.

A ``progress.updated`` event that did not come from the LMS itself is routed
by the dispatcher, with no routing rule, to the integration its course came
from when that integration takes write-backs (Canvas with its portal
assignment, Moodle with a write-back grade item). The delivery carries the
coalescing key ``progress:<id>``: however many changes a row has before a
worker gets to it, one push sends the row's latest values, and the older
deliveries are settled with it. Retries, dead letters, replay and broken-sink
flags are the pipeline's (``portal/events/delivery.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction

from integrations import errors
from integrations.providers.base import DeliveryResult, Provider, SinkMessage
from integrations.registry import UnknownProvider, get_provider
from portal.events.models import Delivery, Event
from portal.events.outbox import emit

if TYPE_CHECKING:
    from integrations.models import Integration

logger = logging.getLogger(__name__)

#: The event kind that asks for a write-back.
WRITE_BACK_KIND = "progress.updated"
#: Sources whose progress came from the LMS: writing it back would echo.
FROM_THE_LMS = frozenset({"sync"})
#: Failures that say nothing about one row: the batch stops.
INTEGRATION_WIDE = (
    errors.AuthenticationFailed,
    errors.PermissionDenied,
    errors.CredentialDecryptionError,
    errors.UnsafeURLError,
)


def coalesce_key(progress_id: int) -> str:
    """Return the key under which a progress row's write-backs coalesce."""
    return f"progress:{progress_id}"


class WriteBackTargets:
    """Find, once per dispatcher pass, which integrations take write-backs."""

    def __init__(self) -> None:
        self._by_name: dict[str, Integration | None] = {}

    def target_for(self, event: Event) -> Integration | None:
        """Return the integration ``event``'s progress is written back to, if any."""
        payload = event.payload if isinstance(event.payload, dict) else {}
        if event.kind != WRITE_BACK_KIND or payload.get("source") in FROM_THE_LMS:
            return None
        progress_id = payload.get("progress_id")
        name = payload.get("integration")
        if not isinstance(progress_id, int) or not isinstance(name, str):
            return None
        if name not in self._by_name:
            self._by_name[name] = _write_back_integration(name)
        return self._by_name[name]


def _write_back_integration(name: str) -> Integration | None:
    from integrations.models import Integration

    # A disabled integration still gets its deliveries: they wait, and go
    # out once it is enabled again, so no change made meanwhile is lost.
    integration = Integration.objects.filter(name=name).first()
    if integration is None:
        return None
    try:
        provider = get_provider(integration.provider)
    except UnknownProvider:
        return None
    if not provider.supports_write_back or not provider.write_back_enabled(integration):
        return None
    return integration


def write_back_delivery(event: Event, target: Integration, key: str) -> Delivery:
    """Return the unsaved delivery of ``event``'s write-back to ``target``."""
    return Delivery(
        idempotency_key=key,
        event=event,
        sink_id=target.pk,
        subject=event.subject,
        coalesce_key=coalesce_key(event.payload["progress_id"]),
    )


def deliver_write_backs(
    provider: Provider,
    integration: Integration,
    messages: Sequence[SinkMessage],
    renew: Callable[[], bool] | None = None,
) -> DeliveryResult:
    """Push the progress of each message to the LMS; one message per row.

    A failure that concerns the whole integration (refused credentials or
    rights, a rate limit, an outage) stops the batch: raised when
    nothing was settled yet, else named in ``failed`` for this row and the
    rest, so the rows already pushed are not pushed again. A row the LMS
    refuses for good (its course is not set up for write-back, a refused
    grade, a 404) or a crash on one row is ``failed`` alone and the batch
    goes on: it counts against the sink, so an admin hears of it. A learner
    with no account in the LMS is ``rejected``: nothing about the sink.
    ``renew`` is called before each push to keep the batch's lease; when it
    says the lease is lost the batch stops.
    """
    from portal.learning.models import LearnerIdentity, Progress

    ids = [message.payload.get("progress_id") for message in messages]
    rows = Progress.objects.select_related("course", "learner").in_bulk(
        [progress_id for progress_id in ids if isinstance(progress_id, int)]
    )
    linked = set(
        LearnerIdentity.objects.filter(
            integration=integration,
            user_id__in={row.learner_id for row in rows.values()},
        ).values_list("user_id", flat=True)
    )
    client = provider.build_client(integration)

    delivered = 0
    details: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    failed: dict[str, errors.IntegrationError] = {}
    for number, (message, progress_id) in enumerate(zip(messages, ids, strict=True)):
        if renew is not None and not renew():
            # The lease is lost (a push outlived it): another worker has
            # these rows now, so this one stops before pushing any again.
            logger.warning(
                "events.write_back.lease_lost", extra={"integration": integration.name}
            )
            break
        progress = rows.get(progress_id)
        if progress is None or progress.deleted_at is not None:
            rejected[message.key] = (
                f"Progress {progress_id} no longer exists in the portal; nothing to "
                "write back."
            )
            continue
        if progress.learner_id not in linked:
            # Nothing about the LMS: this learner has no account there.
            rejected[message.key] = (
                f"Learner {progress.learner_id} has no account in "
                f"'{integration.name}' (no enrollment of theirs was synced)."
            )
            continue
        outcome, crashed = _push(provider, integration, client, progress)
        if isinstance(outcome, dict):
            _announce(integration, progress.pk, message.key, outcome)
            details[message.key] = outcome
            delivered += 1
        elif crashed or not (
            outcome.retryable or isinstance(outcome, INTEGRATION_WIDE)
        ):
            # This row's own failure (a bug on it, or the LMS refusing it
            # for good: a course without the portal's grade item): retried
            # or dead alone, counted against the sink; the rest go on.
            failed[message.key] = outcome
        elif not (delivered or rejected or failed):
            raise outcome
        else:
            failed.update({later.key: outcome for later in messages[number:]})
            break
    return DeliveryResult(
        delivered=delivered, details=details, rejected=rejected, failed=failed
    )


def _push(
    provider: Provider, integration: Integration, client: Any, progress: Any
) -> tuple[dict[str, Any] | errors.IntegrationError, bool]:
    """Return what the push did, or the typed error it ended with; and if it
    crashed (a bug, not an answer of the LMS)."""
    try:
        return provider.push_progress(integration, client, progress) or {}, False
    except errors.IntegrationError as error:
        return error, False
    except Exception as error:
        logger.exception(
            "events.write_back.crashed",
            extra={"integration": integration.name, "progress_id": progress.pk},
        )
        return errors.TransientError(f"Internal error: {type(error).__name__}"), True


def _announce(
    integration: Integration, progress_id: int, key: str, result: dict[str, Any]
) -> None:
    # Its own small transaction: the push already happened, and the record
    # of it must not wait for (or roll back with) the rest of the batch.
    with transaction.atomic():
        emit(
            "progress.written_back",
            subject=f"progress:{progress_id}",
            payload={
                "integration": integration.name,
                "progress_id": progress_id,
                "delivery": key,
                "result": result,
            },
        )
    logger.info(
        "events.write_back.pushed",
        extra={"integration": integration.name, "progress_id": progress_id},
    )
