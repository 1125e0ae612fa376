"""Synced progress that reaches completion writes ``course.completed``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from integrations.models import Integration
from integrations.sync.upsert import store_page
from portal.events.models import Event
from portal.learning.models import Course, Progress

pytestmark = pytest.mark.django_db


@pytest.fixture
def lms() -> Integration:
    """Return an LMS integration with one synced course."""
    integration = Integration.objects.create(name="lms", provider="rest")
    Course.objects.create(
        integration=integration, external_id="c1", title="Course", content_hash="h"
    )
    return integration


def progress_record(learner: str, percent: float, completed_at=None) -> dict:
    """Return a normalized progress record of ``learner`` in course c1."""
    return {
        "external_id": f"p-{learner}",
        "course_external_id": "c1",
        "learner": {"remote_user_id": learner, "email": f"{learner}@example.edu"},
        "percent": percent,
        "completed_at": completed_at,
    }


def store(integration: Integration, records: list[dict], pass_number: int = 1):
    """Store one progress page in its own transaction."""
    with transaction.atomic():
        return store_page(integration, "progress", records, pass_number)


def completions() -> list[Event]:
    """Return the course.completed events, oldest first."""
    return list(Event.objects.filter(kind="course.completed").order_by("id"))


def test_created_and_updated_rows_that_complete_emit_one_event_each(lms):
    done = datetime(2026, 3, 1, tzinfo=UTC)
    store(lms, [progress_record("u1", 100), progress_record("u2", 40)])
    assert [e.payload["progress_id"] for e in completions()] == [
        Progress.objects.get(external_id="p-u1").pk
    ]

    store(lms, [progress_record("u1", 100), progress_record("u2", 70, done)], 2)

    u2 = Progress.objects.get(external_id="p-u2")
    events = completions()
    assert len(events) == 2
    assert events[1].subject == f"progress:{u2.pk}"
    assert events[1].payload["learner_id"] == u2.learner_id
    assert events[1].payload["completed_at"] == done.isoformat()
    assert events[1].payload["source"] == "sync"
    assert events[1].payload["integration"] == "lms"


def test_a_completed_row_changing_again_emits_nothing_more(lms):
    store(lms, [progress_record("u1", 100)])

    store(lms, [progress_record("u1", 100, datetime(2026, 3, 1, tzinfo=UTC))], 2)

    assert len(completions()) == 1


def test_a_rolled_back_page_emits_nothing(lms):
    with pytest.raises(RuntimeError), transaction.atomic():
        store_page(lms, "progress", [progress_record("u1", 100)], 1)
        assert len(completions()) == 1
        raise RuntimeError("rolled back")

    assert not Event.objects.exists()
    assert not Progress.objects.exists()
