"""Record domain events in the same transaction as the change.

Apps that act on events as they are written (achievements) register a
listener with :func:`listen`; :func:`emit` and :func:`emit_all` call it in
the writer's transaction, so its writes share the change's fate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import transaction

from portal.events.models import Event

logger = logging.getLogger(__name__)

#: What an app runs on events just written, inside their transaction.
Listener = Callable[[Sequence[Event]], None]
_listeners: dict[str, list[Listener]] = {}


def listen(kinds: Iterable[str], listener: Listener) -> None:
    """Run ``listener`` on every event of ``kinds`` when it is written.

    The listener gets the events of one write (one for :func:`emit`, a
    synced page's for :func:`emit_all`) in the transaction that writes
    them, so what it writes commits or rolls back with the change. Apps
    register in ``AppConfig.ready()``; registering twice is harmless.
    """
    for kind in kinds:
        registered = _listeners.setdefault(kind, [])
        if listener not in registered:
            registered.append(listener)


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
    _notify([event])
    return event


def emit_all(events: list[Event]) -> None:
    """Write several unsaved events in one query, then run their listeners."""
    if not events:
        return
    Event.objects.bulk_create(events)
    _notify(events)


def _notify(events: Sequence[Event]) -> None:
    by_kind: dict[str, list[Event]] = {}
    for event in events:
        if event.kind in _listeners:
            by_kind.setdefault(event.kind, []).append(event)
    for kind, chosen in by_kind.items():
        for listener in _listeners[kind]:
            listener(chosen)
