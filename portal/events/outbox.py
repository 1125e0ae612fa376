"""Record domain events in the same transaction as the change.

Apps that act on events (achievements) register a listener with
:func:`listen`. The dispatcher runs it on each pass's events, in the
transaction that marks them dispatched (:func:`notify`): a consumer of the
outbox, so a rolled-back change reaches no listener, each committed event
reaches each listener once, and the write that emits pays nothing for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from portal.events.models import Event

logger = logging.getLogger(__name__)

#: What an app runs on committed events, in the dispatcher's transaction.
Listener = Callable[[Sequence[Event]], None]
_listeners: dict[str, list[Listener]] = {}
# alias -> (fields written, INSERT statement, whether it returns the id)
_STATEMENTS: dict[str, tuple[list[Field], str, bool]] = {}


def listen(kinds: Iterable[str], listener: Listener) -> None:
    """Run ``listener`` on every committed event of ``kinds``, once.

    The dispatcher calls it with a pass's events of those kinds (oldest
    first), in the transaction that marks them dispatched; events it emits
    are dispatched by a later pass. Apps register in ``AppConfig.ready()``;
    registering twice is harmless.
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
    event = Event(kind=kind, subject=subject, payload=payload or {})
    _insert(event)
    if transaction.get_autocommit():
        logger.debug("events.emitted_outside_transaction", extra={"kind": kind})
    return event


def emit_all(events: list[Event]) -> None:
    """Write several unsaved events in one query (a synced page's)."""
    if events:
        Event.objects.bulk_create(events)


def _insert(event: Event) -> None:
    """INSERT ``event`` with one prepared statement and set its id.

    The row ``Event.objects.create`` writes, each value prepared by its
    field as the ORM prepares it, without the ORM building the query again
    at every call: that cost more than the INSERT itself, and made the
    event double the cost of a progress write (bench/events.py). Event has
    no save() override and no signal receivers for this to skip.
    """
    alias = router.db_for_write(Event)
    connection = connections[alias]
    fields, sql, returns_id = _STATEMENTS.get(alias) or _statement(connection)
    raw = [field.pre_save(event, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in raw):
        # A database default or another expression needs the ORM's compiler.
        event.save(force_insert=True, using=alias)
        return
    values = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, raw, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if returns_id:
            event.pk = cursor.fetchone()[0]
        else:
            event.pk = connection.ops.last_insert_id(
                cursor, Event._meta.db_table, Event._meta.pk.column
            )
    event._state.adding = False
    event._state.db = alias


def _statement(connection: BaseDatabaseWrapper) -> tuple[list[Field], str, bool]:
    meta = Event._meta
    fields = [field for field in meta.concrete_fields if field is not meta.pk]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    # Names from the model, quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    # SQLite's cursor knows the rowid it just assigned, which costs less
    # than RETURNING; PostgreSQL's does not.
    returns_id = connection.vendor != "sqlite" and (
        connection.features.can_return_columns_from_insert
    )
    if returns_id:
        returning, _ = connection.ops.return_insert_columns([meta.pk])
        sql = f"{sql} {returning}"
    _STATEMENTS[connection.alias] = (fields, sql, returns_id)
    return fields, sql, returns_id


def notify(events: Sequence[Event]) -> None:
    """Run the listeners of each kind on ``events`` (the dispatcher's pass).

    Each listener runs in a savepoint: one that fails is logged and its
    writes undone, and the pass goes on, so a broken listener cannot stop
    events from reaching their sinks.
    """
    connection = connections[router.db_for_write(Event)]
    by_kind: dict[str, list[Event]] = {}
    for event in events:
        if event.kind in _listeners:
            by_kind.setdefault(event.kind, []).append(event)
    for kind, chosen in by_kind.items():
        for listener in _listeners[kind]:
            try:
                with transaction.atomic():
                    listener(chosen)
                    # Deferred foreign keys would fail only at the pass's
                    # commit, taking every event of it down: check them here,
                    # where a failure undoes this listener alone (PostgreSQL;
                    # SQLite would check every table, so it is left to the
                    # listener not to write a dangling reference).
                    if connection.vendor == "postgresql":
                        connection.check_constraints()
            except Exception:
                logger.exception(
                    "events.listener.failed",
                    extra={"kind": kind, "events": len(chosen)},
                )
