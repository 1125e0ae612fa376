"""The move of queued write-backs into the event pipeline loses none of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("events", "0004_delivery_ordering_key")]
AFTER = [("events", "0007_delete_writeback")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_every_write_back_becomes_a_delivery_with_its_state():
    old = migrate(BEFORE)
    integration = old.get_model("integrations", "Integration").objects.create(
        name="canvas-main", provider="canvas", base_url="https://canvas.example.edu"
    )
    learner = old.get_model("auth", "User").objects.create(username="ada")
    course = old.get_model("learning", "Course").objects.create(
        integration=integration, external_id="101", title="Logic"
    )
    progress = old.get_model("learning", "Progress").objects.create(
        integration=integration,
        external_id="101:7",
        course=course,
        learner=learner,
        percent=40,
    )
    WriteBack = old.get_model("events", "WriteBack")
    retry_at = timezone.now() + timedelta(minutes=5)
    for status, extra in [
        ("queued", {}),
        ("running", {"lease_owner": "gone", "attempts": 1}),
        ("failed", {"attempts": 2, "next_attempt_at": retry_at, "error_code": "x"}),
        ("dead", {"attempts": 6, "error_code": "authentication_failed", "error": "no"}),
        ("succeeded", {"attempts": 1, "finished_at": timezone.now()}),
    ]:
        WriteBack.objects.create(
            integration=integration, progress=progress, status=status, **extra
        )

    new = migrate(AFTER)

    deliveries = list(
        new.get_model("events", "Delivery")
        .objects.order_by("id")
        .select_related("event")
    )
    assert [d.status for d in deliveries] == [
        "pending",
        "pending",
        "failed",
        "dead",
        "delivered",
    ]
    assert {d.sink_id for d in deliveries} == {integration.pk}
    assert {d.coalesce_key for d in deliveries} == {f"progress:{progress.pk}"}
    failed, dead = deliveries[2], deliveries[3]
    assert (failed.attempts, failed.next_attempt_at) == (2, retry_at)
    assert (dead.error_code, dead.error) == ("authentication_failed", "no")
    assert deliveries[4].delivered_at is not None
    # The carrier events are not routed again to other sinks.
    assert all(d.event.dispatched_at is not None for d in deliveries)
    assert deliveries[0].event.payload["progress_id"] == progress.pk
    assert deliveries[0].event.payload["integration"] == "canvas-main"
