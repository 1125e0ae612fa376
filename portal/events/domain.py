"""The domain events the integrations framework emits, in one place.

Each helper writes its event with :func:`portal.events.outbox.emit`; call
it inside the transaction of the change it describes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from integrations.redaction import redact_text
from portal.events.models import Event
from portal.events.outbox import emit, emit_all

if TYPE_CHECKING:
    from integrations.models import Integration, SyncRun
    from portal.learning.models import Progress, Submission

_MAX_REASON = 500
_COMPLETE = Decimal(100)


def is_complete(percent: Any, completed_at: datetime | None) -> bool:
    """Tell whether progress counts as completed: a completion time or 100 %."""
    return completed_at is not None or Decimal(str(percent or 0)) >= _COMPLETE


def _progress_payload(progress: Progress, integration_name: str) -> dict[str, Any]:
    completed_at = progress.completed_at
    return {
        "progress_id": progress.pk,
        "course_id": progress.course_id,
        "learner_id": progress.learner_id,
        "integration": integration_name,
        "percent": str(progress.percent),
        "completed_at": completed_at.isoformat() if completed_at else None,
    }


def progress_updated(
    progress: Progress, integration_name: str, fields: list[str], source: str
) -> None:
    """Record a change of a learner's progress (``progress.updated``)."""
    emit(
        "progress.updated",
        subject=f"progress:{progress.pk}",
        payload={
            **_progress_payload(progress, integration_name),
            "changed": fields,
            "source": source,
        },
    )


def course_completed_event(
    progress: Progress, integration_name: str, source: str
) -> Event:
    """Return the unsaved ``course.completed`` event of a progress row."""
    return Event(
        kind="course.completed",
        subject=f"progress:{progress.pk}",
        payload={**_progress_payload(progress, integration_name), "source": source},
    )


def course_completed(progress: Progress, integration_name: str, source: str) -> None:
    """Record that a learner completed a course (``course.completed``).

    Call only when the progress has just become complete (see
    :func:`is_complete`), inside the transaction that changed it.
    """
    event = course_completed_event(progress, integration_name, source)
    emit(event.kind, subject=event.subject, payload=event.payload)


def courses_completed(events: list[Event]) -> None:
    """Write several ``course.completed`` events in one query (a synced page)."""
    emit_all(events)


def assignment_submitted_event(
    submission: Submission, course_id: int, integration_name: str
) -> Event:
    """Return the unsaved ``assignment.submitted`` event of a submission row.

    ``course_id`` is the assignment's course, so routing rules' course filter
    applies. Write it in the transaction that stored the submission.
    """
    submitted_at = submission.submitted_at
    return Event(
        kind="assignment.submitted",
        subject=f"submission:{submission.pk}",
        payload={
            "submission_id": submission.pk,
            "assignment_id": submission.assignment_id,
            "course_id": course_id,
            "learner_id": submission.learner_id,
            "integration": integration_name,
            "submitted_at": submitted_at.isoformat() if submitted_at else None,
            "attempt": submission.attempt,
            "late": submission.late,
            "source": "sync",
        },
    )


def assignments_submitted(events: list[Event]) -> None:
    """Write several ``assignment.submitted`` events in one query (a synced page).

    Through :func:`emit_all`, so the outbox's listeners hear of them too.
    """
    emit_all(events)


def sync_failed(
    run: SyncRun, integration: Integration, code: str, summary: str
) -> None:
    """Record that a sync run failed (``sync.failed``)."""
    emit(
        "sync.failed",
        subject=f"integration:{integration.name}",
        payload={
            "integration": integration.name,
            "provider": integration.provider,
            "stream": run.stream,
            "run_id": run.pk,
            "error_code": code,
            "error": redact_text(summary)[:_MAX_REASON],
        },
    )


def health_changed(
    integration: Integration, previous: str, status: str, reason: str
) -> None:
    """Record an integration's health status change (``integration.health_changed``).

    Nothing is written when the status stayed the same.
    """
    if previous == status:
        return
    emit(
        "integration.health_changed",
        subject=f"integration:{integration.name}",
        payload={
            "integration": integration.name,
            "provider": integration.provider,
            "previous": previous,
            "status": status,
            "reason": redact_text(reason)[:_MAX_REASON],
        },
    )
