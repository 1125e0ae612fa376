"""emit(): the event row written in the change's transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from portal.events.models import Event
from portal.events.outbox import emit

pytestmark = pytest.mark.django_db


def test_emit_writes_the_row_the_orm_reads_back(django_assert_num_queries):
    payload = {"learner_id": 7, "percent": "42.50", "changed": ["percent"], "ok": None}
    before = timezone.now()

    with transaction.atomic():
        # One INSERT: no listener takes this kind.
        with django_assert_num_queries(1):
            event = emit("report.ready", subject="progress:7", payload=payload)

    stored = Event.objects.get(pk=event.pk)
    assert (stored.kind, stored.subject, stored.payload) == (
        "report.ready",
        "progress:7",
        payload,
    )
    assert stored.occurred_at == event.occurred_at
    assert before <= stored.occurred_at <= timezone.now()
    assert stored.dispatched_at is None
    assert event._state.adding is False
    assert event.payload == payload


def test_emitted_events_get_increasing_ids_and_are_saved_like_any_row():
    first = emit("sync.failed")
    second = emit("sync.failed", subject="integration:lms")
    second.dispatched_at = timezone.now() - timedelta(minutes=1)
    second.save(update_fields=["dispatched_at"])

    assert first.pk < second.pk
    assert first.payload == {} and Event.objects.get(pk=first.pk).payload == {}
    assert Event.objects.filter(dispatched_at__isnull=False).get() == second


def test_an_event_emitted_in_a_rolled_back_change_is_gone():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            emit("progress.updated", subject="progress:1")
            raise RuntimeError("the change failed")

    assert not Event.objects.exists()


def test_an_event_needs_a_kind():
    with pytest.raises(ValueError, match="kind"):
        emit("")
