"""Listeners run once on committed events, in the dispatcher's pass."""

from __future__ import annotations

import pytest
from django.db import transaction

from portal.events import outbox
from portal.events.models import Event
from portal.events.outbox import emit, emit_all, listen
from portal.events.routing import dispatch_events

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


def test_the_dispatcher_runs_a_kinds_listeners_once_on_committed_events(calls):
    with transaction.atomic():
        emit("thing.done", subject="a")
        emit("other.kind", subject="b")
    assert calls == []  # The write that emits pays nothing for listeners.

    dispatch_events()
    dispatch_events()

    assert calls == [("thing.done", ["a"], True)]
    assert Event.objects.filter(kind="listener.wrote").count() == 1


def test_a_pass_calls_each_listener_once_with_its_kinds_events(
    calls, django_assert_num_queries
):
    events = [Event(kind="thing.done", subject=f"s{n}") for n in range(3)]
    events.append(Event(kind="other.kind", subject="x"))
    with transaction.atomic(), django_assert_num_queries(1):
        emit_all(events)

    dispatch_events()

    assert calls == [("thing.done", ["s0", "s1", "s2"], True)]


def test_a_rolled_back_change_reaches_no_listener(calls):
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("thing.done", subject="a")
        raise RuntimeError("the change fails")

    dispatch_events()

    assert calls == []
    assert not Event.objects.exists()


def test_a_failing_listener_is_undone_and_the_events_still_dispatched(calls):
    def broken(events) -> None:
        Event.objects.create(kind="half.written")
        raise RuntimeError("a bug in the listener")

    listen(["thing.done"], broken)
    emit("thing.done", subject="a")

    dispatch_events()

    assert not Event.objects.filter(kind="half.written").exists()
    assert calls == [("thing.done", ["a"], True)]
    assert not Event.objects.filter(
        dispatched_at__isnull=True, kind="thing.done"
    ).exists()


def test_emit_all_of_nothing_writes_nothing(calls, django_assert_num_queries):
    with django_assert_num_queries(0):
        emit_all([])

    assert calls == []
