"""Record domain events in the same transaction as the change."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from portal.events.models import Event

logger = logging.getLogger(__name__)


def emit(
    kind: str, *, subject: str = "", payload: dict[str, Any] | None = None
) -> Event:
    """Write an event row; call it inside the transaction of the change.

    Outside a transaction the event is committed on its own, which is only
    right when there is no change to go with it.
    """
    if not kind:
        raise ValueError("An event needs a kind, e.g. 'progress.updated'.")
    event = Event.objects.create(kind=kind, subject=subject, payload=payload or {})
    if transaction.get_autocommit():
        logger.debug("events.emitted_outside_transaction", extra={"kind": kind})
    return event
