"""Ordered sinks keep one learner's events in order, across their courses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from portal.events.delivery import deliver_due, sweep
from portal.events.models import Delivery, DeliveryStatus, Event
from portal.events.outbox import emit
from portal.events.routing import ordering_key
from tests.events.sinks import event_key, make_rule

pytestmark = pytest.mark.django_db


def progress_event(progress_id: int, learner_id: int, kind="progress.updated"):
    """Emit a learner's progress event in its own committed change."""
    with transaction.atomic():
        return emit(
            kind,
            subject=f"progress:{progress_id}",
            payload={"integration": "lms", "learner_id": learner_id},
        )


def test_the_ordering_key_is_the_learner_else_the_subject():
    def event(payload):
        return Event(kind="progress.updated", subject="progress:5", payload=payload)

    assert ordering_key(event({"learner_id": 3})) == "learner:3"
    assert ordering_key(event({"learner_id": "3"})) == "progress:5"
    assert ordering_key(event({"learner_id": True})) == "progress:5"
    assert ordering_key(event({})) == "progress:5"


def test_one_learners_courses_arrive_in_order_others_are_not_held_back(
    discord_sink, discord_fake
):
    make_rule(discord_sink, "*")
    first_course = progress_event(10, learner_id=1)
    other_learner = progress_event(20, learner_id=2)
    second_course = progress_event(11, learner_id=1)
    completed = progress_event(11, learner_id=1, kind="course.completed")
    sweep()
    assert Delivery.objects.get(event=second_course).ordering_key == "learner:1"
    Delivery.objects.filter(event=first_course).update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )

    deliver_due(discord_sink, "worker-1")

    assert discord_fake.delivered_keys() == [event_key(other_learner, discord_sink)]
    waiting = Delivery.objects.filter(event__in=[second_course, completed])
    assert set(waiting.values_list("status", flat=True)) == {DeliveryStatus.PENDING}

    Delivery.objects.filter(event=first_course).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    deliver_due(discord_sink, "worker-1")

    assert discord_fake.delivered_keys()[1:] == [
        event_key(first_course, discord_sink),
        event_key(second_course, discord_sink),
        event_key(completed, discord_sink),
    ]
