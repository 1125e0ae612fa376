"""Synced submissions handed in write ``assignment.submitted``, once each."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations.models import Integration
from integrations.sync.upsert import store_page
from portal.events.models import Delivery, Event, RoutingRule
from portal.events.routing import dispatch_events
from portal.learning.models import Assignment, Course, Submission

pytestmark = pytest.mark.django_db

HANDED_IN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def lms() -> Integration:
    """Return an LMS integration with one course and its assignment a1."""
    integration = Integration.objects.create(name="lms", provider="rest")
    course = Course.objects.create(
        integration=integration, external_id="c1", title="Course", content_hash="h"
    )
    Assignment.objects.create(
        integration=integration,
        course=course,
        external_id="a1",
        title="Essay",
        content_hash="h",
    )
    return integration


def submission(learner: str, state: str = "unsubmitted", **values) -> dict:
    """Return a normalized submission record of ``learner`` for assignment a1."""
    return {
        "type": "submission",
        "external_id": f"s-{learner}",
        "assignment_external_id": "a1",
        "learner": {"remote_user_id": learner, "email": f"{learner}@example.edu"},
        "state": state,
        **values,
    }


def store(integration: Integration, records: list[dict], pass_number: int = 1):
    """Store one submissions page in its own transaction."""
    with transaction.atomic():
        return store_page(integration, "submission", records, pass_number)


def handed_in() -> list[Event]:
    """Return the assignment.submitted events, oldest first."""
    return list(Event.objects.filter(kind="assignment.submitted").order_by("id"))


def test_a_new_submitted_row_emits_its_event_with_the_course(lms):
    store(
        lms,
        [
            submission("u1", "submitted", submitted_at=HANDED_IN, attempt=1, late=True),
            submission("u2"),
        ],
    )

    row = Submission.objects.get(external_id="s-u1")
    [event] = handed_in()
    assert event.subject == f"submission:{row.pk}"
    assert event.payload == {
        "submission_id": row.pk,
        "assignment_id": row.assignment_id,
        "course_id": Course.objects.get().pk,
        "learner_id": row.learner_id,
        "integration": "lms",
        "submitted_at": HANDED_IN.isoformat(),
        "attempt": 1,
        "late": True,
        "source": "sync",
    }


def test_handing_in_later_emits_once_and_grading_emits_nothing(lms):
    store(lms, [submission("u1")])
    assert handed_in() == []

    store(lms, [submission("u1", "submitted", submitted_at=HANDED_IN, attempt=1)], 2)
    store(lms, [submission("u1", "submitted", submitted_at=HANDED_IN, attempt=1)], 3)
    store(
        lms,
        [
            submission(
                "u1",
                "graded",
                submitted_at=HANDED_IN,
                attempt=1,
                score=Decimal("8.50"),
                grade="8.5",
            )
        ],
        4,
    )

    assert len(handed_in()) == 1
    row = Submission.objects.get()
    assert (row.state, row.score, row.grade) == ("graded", Decimal("8.50"), "8.5")


def test_a_new_attempt_emits_again_and_a_same_attempt_edit_does_not(lms):
    store(lms, [submission("u1", "submitted", submitted_at=HANDED_IN, attempt=1)])
    edited = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    store(lms, [submission("u1", "submitted", submitted_at=edited, attempt=1)], 2)
    again = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)

    store(lms, [submission("u1", "submitted", submitted_at=again, attempt=2)], 3)

    events = handed_in()
    assert [event.payload["attempt"] for event in events] == [1, 2]
    assert events[1].payload["submitted_at"] == again.isoformat()


def test_a_rolled_back_page_emits_nothing(lms):
    record = submission("u1", "submitted", submitted_at=HANDED_IN, attempt=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        store_page(lms, "submission", [record], 1)
        assert len(handed_in()) == 1
        raise RuntimeError("rolled back")

    assert not Event.objects.exists()
    assert not Submission.objects.exists()


def test_a_submission_of_an_assignment_not_synced_fails_alone(lms):
    records = [
        {**submission("u1", "submitted", submitted_at=HANDED_IN)},
        {**submission("u2"), "assignment_external_id": "missing"},
    ]

    result = store(lms, records)

    assert (result.created, result.failed) == (1, 1)
    assert "assignment 'missing' is not synced" in result.failures[0]["reason"]
    assert len(handed_in()) == 1


def test_the_event_is_routed_by_the_course_filter(lms):
    sink = Integration.objects.create(name="chat", provider="discord")
    other = Integration.objects.create(name="other-chat", provider="discord")
    RoutingRule.objects.create(
        name="essays",
        sink=sink,
        event_kinds="assignment.*",
        course_filter="c1",
        template="Learner {{ learner_id }} handed in attempt {{ attempt }}",
    )
    RoutingRule.objects.create(
        name="elsewhere", sink=other, event_kinds="*", course_filter="c2"
    )
    store(lms, [submission("u1", "submitted", submitted_at=HANDED_IN, attempt=1)])

    dispatch_events()

    [delivery] = Delivery.objects.all()
    learner = Submission.objects.get().learner_id
    assert delivery.sink_id == sink.pk
    assert delivery.message == f"Learner {learner} handed in attempt 1"
    assert delivery.ordering_key == f"learner:{learner}"


@pytest.mark.parametrize("size", [20, 80])
def test_a_page_handed_in_costs_the_same_queries_whatever_its_size(lms, size):
    learners = [f"u{number}" for number in range(size)]
    store(lms, [submission(learner) for learner in learners])
    handed = [
        submission(learner, "submitted", submitted_at=HANDED_IN, attempt=1)
        for learner in learners
    ]

    with CaptureQueriesContext(connection) as queries:
        store(lms, handed, 2)

    assert len(handed_in()) == size
    sql = [query["sql"] for query in queries.captured_queries]
    # Django splits a bulk UPDATE into batches on SQLite; everything else
    # is once a page: savepoint and release, rows, parents and learners
    # loaded, the previous submission times, the courses, one INSERT of
    # every event.
    batches = sum(text.startswith('UPDATE "learning_submission"') for text in sql)
    assert len(sql) - batches == 8
    assert sum(text.startswith('INSERT INTO "events_event"') for text in sql) == 1
