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
from integrations.redaction import redact_text
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
    renew: Callable[[], None] | None = None,
) -> DeliveryResult:
    """Push the progress of each message to the LMS; one message per row.

    A failure that concerns the whole integration (refused credentials or
    rights, a rate limit, an outage, a crash) stops the batch: raised when
    nothing was settled yet, else named in ``failed`` for this row and the
    rest, so the rows already pushed are not pushed again. A row the LMS
    refuses for good (its course is not set up for write-back, a refused
    grade) is ``failed`` alone and the batch goes on: it is dead at once
    and counts against the sink, so an admin hears of it. A learner with no
    account in the LMS is ``rejected``: nothing about the sink. ``renew``
    is called before each push to keep the batch's lease.
    """
    from portal.learning.models import Progress

    ids = [message.payload.get("progress_id") for message in messages]
    rows = Progress.objects.select_related("course", "learner").in_bulk(
        [progress_id for progress_id in ids if isinstance(progress_id, int)]
    )
    client = provider.build_client(integration)

    delivered = 0
    details: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    failed: dict[str, errors.IntegrationError] = {}
    for number, (message, progress_id) in enumerate(zip(messages, ids, strict=True)):
        if renew is not None:
            renew()
        progress = rows.get(progress_id)
        if progress is None or progress.deleted_at is not None:
            rejected[message.key] = (
                f"Progress {progress_id} no longer exists in the portal; nothing to "
                "write back."
            )
            continue
        failure = _push(provider, integration, client, progress)
        if isinstance(failure, dict):
            _announce(integration, progress.pk, message.key, failure)
            details[message.key] = failure
            delivered += 1
        elif isinstance(failure, errors.NotFound):
            rejected[message.key] = redact_text(str(failure))
        elif not (failure.retryable or isinstance(failure, INTEGRATION_WIDE)):
            failed[message.key] = failure
        elif not (delivered or rejected or failed):
            raise failure
        else:
            failed.update({later.key: failure for later in messages[number:]})
            break
    return DeliveryResult(
        delivered=delivered, details=details, rejected=rejected, failed=failed
    )


def _push(
    provider: Provider, integration: Integration, client: Any, progress: Any
) -> dict[str, Any] | errors.IntegrationError:
    """Return what the push did, or the typed error it ended with."""
    try:
        return provider.push_progress(integration, client, progress) or {}
    except errors.IntegrationError as error:
        return error
    except Exception as error:
        # A bug on one row must not mark the rows already pushed as failed.
        logger.exception(
            "events.write_back.crashed",
            extra={"integration": integration.name, "progress_id": progress.pk},
        )
        return errors.TransientError(f"Internal error: {type(error).__name__}")


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
