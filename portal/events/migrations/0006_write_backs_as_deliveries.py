# LMS write-back moves from its own queue (WriteBack rows) into the event
# pipeline: each write-back becomes a delivery to its LMS integration, keyed
# for coalescing by its progress row. Every stored write-back is carried
# over with its status, attempts, retry time and error, so nothing queued,
# failed or dead is lost and dead ones stay replayable.

from django.db import migrations
from django.utils import timezone

#: WriteBack status to Delivery status.
STATUS = {
    "queued": "pending",
    "running": "pending",  # Its worker's lease is void after the move.
    "succeeded": "delivered",
    "failed": "failed",
    "dead": "dead",
}


#: Write-backs converted per query.
CHUNK = 500


def move_write_backs(apps, schema_editor):
    """Give every WriteBack an event and a delivery to its integration."""
    WriteBack = apps.get_model("events", "WriteBack")
    Event = apps.get_model("events", "Event")
    Delivery = apps.get_model("events", "Delivery")

    now = timezone.now()
    rows = WriteBack.objects.select_related("integration", "progress").order_by("id")
    chunk = []
    for write_back in rows.iterator(chunk_size=CHUNK):
        chunk.append(write_back)
        if len(chunk) == CHUNK:
            _move(chunk, Event, Delivery, now)
            chunk = []
    if chunk:
        _move(chunk, Event, Delivery, now)


def _move(write_backs, Event, Delivery, now):
    # Dispatched already: the events exist only to carry the deliveries, so
    # routing rules must not send them to other sinks as new changes.
    events = Event.objects.bulk_create(
        [_carrier(Event, write_back, now) for write_back in write_backs]
    )
    Delivery.objects.bulk_create(
        [
            _delivery(Delivery, write_back, event)
            for write_back, event in zip(write_backs, events, strict=True)
        ]
    )


def _carrier(Event, write_back, now):
    progress = write_back.progress
    return Event(
        kind="progress.updated",
        subject=f"progress:{progress.pk}",
        payload={
            "progress_id": progress.pk,
            "course_id": progress.course_id,
            "learner_id": progress.learner_id,
            "integration": write_back.integration.name,
            "percent": str(progress.percent),
            "completed_at": (
                progress.completed_at.isoformat() if progress.completed_at else None
            ),
            "changed": [],
            "source": "write_back_queue",
        },
        occurred_at=write_back.created_at,
        dispatched_at=now,
    )


def _delivery(Delivery, write_back, event):
    status = STATUS.get(write_back.status, "pending")
    return Delivery(
        idempotency_key=f"{event.pk}:{write_back.integration_id}",
        event=event,
        sink_id=write_back.integration_id,
        subject=event.subject,
        coalesce_key=f"progress:{write_back.progress_id}",
        status=status,
        attempts=write_back.attempts,
        next_attempt_at=write_back.next_attempt_at if status == "failed" else None,
        error_code=write_back.error_code,
        error=write_back.error,
        created_at=write_back.created_at,
        delivered_at=write_back.finished_at if status == "delivered" else None,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0005_delivery_coalesce_key"),
    ]

    # The data move is a migration of its own: PostgreSQL refuses schema
    # changes (the new column's index) in a transaction with pending
    # foreign-key checks from the rows written here.
    operations = [
        migrations.RunPython(move_write_backs, migrations.RunPython.noop),
    ]
