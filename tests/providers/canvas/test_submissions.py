"""The Canvas submissions stream, end to end through the engine and the fake."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from integrations.models import SyncRun, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.events.models import Event
from portal.learning.models import LearnerIdentity, Submission
from tests.fakes.faulty import server_error
from tests.providers.canvas.helpers import TOKEN, make_canvas_integration

pytestmark = pytest.mark.django_db

SUBMISSIONS = r"/api/v1/courses/\d+/students/submissions"
#: Published assignments times their courses' students (enrollments not
#: deleted): 101 has 2001, 2002 and students 501, 502, 503; 102 has 2004,
#: 2005 and 501, 504; 104 has 2006 and 502.
PAIRS = {
    (2001, 501),
    (2001, 502),
    (2001, 503),
    (2002, 501),
    (2002, 502),
    (2002, 503),
    (2004, 501),
    (2004, 504),
    (2005, 501),
    (2005, 504),
    (2006, 502),
}
PREREQUISITES = ["courses", "assignments", "enrollments"]


@pytest.fixture
def integration(db, canvas):
    """Return a Canvas integration with submissions on, two items a page."""
    integration = make_canvas_integration(
        canvas, account_id=1, per_page=2, sync_submissions=True
    )
    run_sync_now(integration, streams=PREREQUISITES)
    return integration


def sync_submissions(integration, **options) -> SyncRun:
    [run] = run_sync_now(integration, streams=["submissions"], **options)
    return run


def live_pairs() -> set[tuple[int, int]]:
    return {
        (int(row.assignment.external_id), int(row.learner_identity))
        for row in _live_rows()
    }


def _live_rows():
    rows = list(
        Submission.objects.filter(deleted_at__isnull=True).select_related("assignment")
    )
    remote = dict(LearnerIdentity.objects.values_list("user_id", "remote_user_id"))
    for row in rows:
        row.learner_identity = remote[row.learner_id]
    return rows


def handed_in() -> list[Event]:
    return list(Event.objects.filter(kind="assignment.submitted").order_by("id"))


def test_the_stream_is_off_unless_asked_for(db, canvas):
    integration = make_canvas_integration(canvas, account_id=1)

    runs = run_sync_now(integration)

    assert "submissions" not in [run.stream for run in runs]


def test_every_student_and_published_assignment_is_synced_page_by_page(
    integration, canvas
):
    canvas.submit(2001, 501, "2025-09-14T18:00:00Z")
    canvas.submit(2002, 502, "2025-10-03T08:00:00Z", late=True, seconds_late=115200)
    canvas.update_submission(2001, 501, workflow_state="graded", score=8.5, grade="8.5")

    run = sync_submissions(integration)

    assert run.status == SyncStatus.SUCCEEDED
    assert live_pairs() == PAIRS
    assert run.fetched == len(PAIRS)
    assert run.pages >= 7  # two a page, course by course
    requests = canvas.requests_to("/api/v1/courses/101/students/submissions")
    assert all(r.query["student_ids[]"] == ["all"] for r in requests)
    assert len(requests) == 3  # six submissions, two a page: Link rel="next"
    assert [bool(r.arg("page")) for r in requests] == [False, True, True]
    graded = Submission.objects.get(assignment__external_id="2001", state="graded")
    assert (graded.score, graded.grade, graded.attempt) == (Decimal("8.50"), "8.5", 1)
    assert graded.submitted_at.isoformat() == "2025-09-14T18:00:00+00:00"
    assert graded.url.endswith("/courses/101/assignments/2001/submissions/501")
    late = Submission.objects.get(assignment__external_id="2002", late=True)
    assert late.state == "submitted"
    assert Submission.objects.filter(state="unsubmitted").count() == len(PAIRS) - 2


def test_events_are_written_once_and_not_on_an_unchanged_resync(integration, canvas):
    canvas.submit(2001, 501)
    first = sync_submissions(integration)
    assert len(handed_in()) == 1

    again = sync_submissions(integration)

    assert (again.unchanged, again.created, again.updated) == (len(PAIRS), 0, 0)
    assert len(handed_in()) == 1
    [event] = handed_in()
    row = Submission.objects.get(pk=event.payload["submission_id"])
    assert event.payload["course_id"] == row.assignment.course_id
    assert event.payload["attempt"] == 1
    assert first.created == len(PAIRS)


def test_handing_in_later_and_a_new_attempt_each_emit_one_event(integration, canvas):
    sync_submissions(integration)
    assert handed_in() == []

    canvas.submit(2005, 504, "2025-10-21T09:00:00Z", late=True)
    sync_submissions(integration)
    canvas.update_submission(2005, 504, workflow_state="graded", score=70, grade="70")
    sync_submissions(integration)
    canvas.update_submission(2005, 504, redo_request=True)
    sync_submissions(integration)
    canvas.submit(2005, 504, "2025-10-25T09:00:00Z", redo_request=False)
    sync_submissions(integration)

    events = handed_in()
    assert [(e.payload["attempt"], e.payload["late"]) for e in events] == [
        (1, True),
        (2, True),
    ]
    row = Submission.objects.get(pk=events[0].payload["submission_id"])
    assert (row.state, row.attempt) == ("submitted", 2)


def test_a_returned_submission_is_stored_as_returned(integration, canvas):
    canvas.submit(2004, 501)
    canvas.update_submission(2004, 501, workflow_state="graded", redo_request=True)

    sync_submissions(integration)

    assert Submission.objects.get(state="returned").assignment.external_id == "2004"


def test_submissions_gone_from_canvas_are_marked_deleted(integration, canvas):
    sync_submissions(integration)
    canvas.delete_assignment(2002)

    run = sync_submissions(integration)

    assert run.deleted == 3
    assert live_pairs() == {pair for pair in PAIRS if pair[0] != 2002}


def test_a_rejected_token_fails_the_run_as_an_authentication_error(integration, canvas):
    canvas.token = "revoked"

    run = sync_submissions(integration)

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert not Submission.objects.exists()


@pytest.mark.parametrize("status", [429, 403])
def test_throttled_pages_are_waited_out(db, canvas, status):
    integration = make_canvas_integration(
        canvas,
        account_id=1,
        per_page=2,
        sync_submissions=True,
        rate_limit_refill=100000,
    )
    run_sync_now(integration, streams=PREREQUISITES)
    canvas.throttle_next(2, status=status)

    run = sync_submissions(integration)

    assert run.status == SyncStatus.SUCCEEDED
    assert live_pairs() == PAIRS


def test_a_failed_page_fails_the_run_and_the_next_run_resumes_emitting_once(
    integration, canvas
):
    for assignment_id, user_id in sorted(PAIRS):
        canvas.submit(assignment_id, user_id)
    canvas.inject(server_error(500), times=30, links_only=True, path=SUBMISSIONS)

    failed = sync_submissions(integration)

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert failed.cursor is not None
    stored = Submission.objects.count()
    assert 0 < stored < len(PAIRS)
    assert len(handed_in()) == stored

    canvas.clear_faults()
    resumed = sync_submissions(integration)

    assert resumed.status == SyncStatus.SUCCEEDED
    assert resumed.resumed_from_id == failed.pk
    assert live_pairs() == PAIRS
    events = handed_in()
    assert len(events) == len(PAIRS)
    assert len({e.payload["submission_id"] for e in events}) == len(PAIRS)


def test_a_batch_rolled_back_by_a_cancelled_run_leaves_no_event(
    integration, canvas, settings
):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1
    for assignment_id, user_id in sorted(PAIRS):
        canvas.submit(assignment_id, user_id)

    def cancel_after_first_batch(run: SyncRun) -> None:
        if run.status == SyncStatus.RUNNING and run.pages == 1:
            # An admin cancels while the second batch is being stored.
            SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.CANCELLED)

    run = sync_submissions(integration, progress=cancel_after_first_batch)

    assert run.status == SyncStatus.CANCELLED
    assert run.pages == 1
    stored = set(Submission.objects.values_list("pk", flat=True))
    assert len(stored) == 2  # the first page; the second was rolled back
    assert {e.payload["submission_id"] for e in handed_in()} == stored


# --- the fake's listing, checked with plain HTTP ------------------------------


def test_the_fake_lists_as_canvas_documents(canvas):
    url = f"{canvas.url}/api/v1/courses/101/students/submissions"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    canvas.submit(2001, 502)

    own = requests.get(url, headers=auth, timeout=5)
    submitted = requests.get(
        url,
        params={"student_ids[]": "all", "workflow_state": "submitted"},
        headers=auth,
        timeout=5,
    )
    unknown = requests.get(
        url,
        params={"student_ids[]": "all", "assignment_ids[]": "2003"},
        headers=auth,
        timeout=5,
    )

    assert own.json() == []  # without student_ids: the caller's, an admin's none
    assert [(s["assignment_id"], s["user_id"]) for s in submitted.json()] == [
        (2001, 502)
    ]
    assert 'rel="current"' in submitted.headers["Link"]
    assert unknown.status_code == 403  # 2003 is unpublished
    assert unknown.json() == {"error": "invalid assignment ids requested"}


def test_a_grade_not_posted_to_the_learner_is_not_stored_until_it_is(
    integration, canvas
):
    canvas.submit(2004, 501)
    canvas.update_submission(
        2004, 501, workflow_state="graded", score=4.0, grade="F", posted_at=None
    )

    sync_submissions(integration)

    row = Submission.objects.get(assignment__external_id="2004", state="submitted")
    assert (row.score, row.grade) == (None, "")

    canvas.update_submission(2004, 501, posted_at="2026-03-02T10:00:00Z")
    sync_submissions(integration)

    row.refresh_from_db()
    assert (row.state, row.score, row.grade) == ("graded", Decimal("4.00"), "F")
