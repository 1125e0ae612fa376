"""Listeners run on the events just written, inside the change's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from portal.events import outbox
from portal.events.models import Event
from portal.events.outbox import emit, emit_all, listen

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, list[str], bool]]:
    """Register a recording listener on ``thing.done`` alone, for one test."""
    monkeypatch.setattr(outbox, "_listeners", {})
    seen: list[tuple[str, list[str], bool]] = []

    def record(events) -> None:
        seen.append(
            (
                events[0].kind,
                [event.subject for event in events],
                all(event.pk is not None for event in events),
            )
        )
        # A write of the listener's own, to show it shares the transaction.
        Event.objects.create(kind="listener.wrote", subject=events[0].subject)

    listen(["thing.done"], record)
    listen(["thing.done"], record)
    return seen


def test_emit_runs_the_kinds_listeners_once_with_the_saved_event(calls):
    with transaction.atomic():
        emit("thing.done", subject="a")
        emit("other.kind", subject="b")

    assert calls == [("thing.done", ["a"], True)]
    assert Event.objects.filter(kind="listener.wrote").count() == 1


def test_emit_all_writes_in_one_query_and_calls_once_per_kind(
    calls, django_assert_num_queries
):
    events = [Event(kind="thing.done", subject=f"s{n}") for n in range(3)]
    events.append(Event(kind="other.kind", subject="x"))

    with transaction.atomic():
        # One INSERT of the events, one of the listener's row.
        with django_assert_num_queries(2):
            emit_all(events)

    assert calls == [("thing.done", ["s0", "s1", "s2"], True)]


def test_what_a_listener_wrote_rolls_back_with_the_change(calls):
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("thing.done", subject="a")
        raise RuntimeError("the change fails")

    assert not Event.objects.exists()


def test_emit_all_of_nothing_writes_nothing(calls, django_assert_num_queries):
    with django_assert_num_queries(0):
        emit_all([])

    assert calls == []
