"""Moodle assignments and submissions (mod_assign), through the engine and the fake."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from integrations.models import SyncRun, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.events.models import Event
from portal.learning.models import Assignment, LearnerIdentity, Submission
from tests.fakes.faulty import server_error
from tests.fakes.moodle import MoodleFake
from tests.providers.moodle.helpers import TOKEN, build_school

pytestmark = pytest.mark.django_db

#: The school's assign activities: 702 and 703 in course 21, 801 in 22; an
#: assignment's id is its instance (cmid + 1000 in the fake).
LAB, PORTAL, ESSAY = 1702, 1703, 1801
DUE = 1736300000
BEFORE, AFTER = DUE - 3600, DUE + 3600


@pytest.fixture
def integration(make_integration, moodle):
    """Return an integration with submissions on, one item a call, synced once."""
    moodle.set_assignment(LAB, duedate=DUE)
    integration = make_integration(moodle, page_size=1, sync_submissions=True)
    runs = run_sync_now(integration, streams=["courses", "enrollments"])
    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    return integration


def sync(integration, *streams: str) -> dict[str, SyncRun]:
    runs = run_sync_now(
        integration, streams=list(streams or ["assignments", "submissions"])
    )
    return {run.stream: run for run in runs}


def rows() -> dict[str, Submission]:
    return {
        row.external_id: row
        for row in Submission.objects.filter(deleted_at__isnull=True)
    }


def handed_in() -> list[Event]:
    return list(Event.objects.filter(kind="assignment.submitted").order_by("id"))


def test_the_streams_are_off_unless_asked_for(make_integration, moodle):
    integration = make_integration(moodle)

    runs = run_sync_now(integration)

    assert [run.stream for run in runs] == ["courses", "enrollments", "progress"]
    assert moodle.calls("mod_assign_get_assignments") == 0


def test_assignments_of_the_synced_courses_are_stored(integration, moodle):
    runs = sync(integration, "assignments")

    assert runs["assignments"].status == SyncStatus.SUCCEEDED
    stored = {
        row.external_id: row for row in Assignment.objects.select_related("course")
    }
    assert set(stored) == {str(LAB), str(PORTAL), str(ESSAY)}
    lab = stored[str(LAB)]
    assert (lab.title, lab.course.external_id) == ("Lab report", "21")
    assert lab.points_possible == Decimal("25.00")
    assert lab.due_at == datetime.fromtimestamp(DUE, tz=UTC)
    assert stored[str(ESSAY)].due_at is None
    # One course a call (page_size 1), the admin not enrolled in any of them.
    calls = moodle.params_of("mod_assign_get_assignments")
    assert [call["courseids"] for call in calls] == [
        [c] for c in ("21", "22", "23", "24", "25")
    ]
    assert {call["includenotenrolledcourses"] for call in calls} == {"1"}


def test_latest_attempts_become_submissions_with_their_grades(integration, moodle):
    moodle.submit_assignment(LAB, 501, BEFORE)
    moodle.grade_assignment(LAB, 501, 20)
    moodle.submit_assignment(LAB, 502, AFTER)
    moodle.submit_assignment(ESSAY, 504, BEFORE, status="draft")

    runs = sync(integration)

    assert runs["submissions"].status == SyncStatus.SUCCEEDED
    assert runs["submissions"].pages == 3  # one assignment a call
    stored = rows()
    assert set(stored) == {f"{LAB}:501", f"{LAB}:502", f"{ESSAY}:504"}
    graded = stored[f"{LAB}:501"]
    assert (graded.state, graded.score, graded.grade, graded.attempt) == (
        "graded",
        Decimal("20.00"),
        "20",
        1,
    )
    assert graded.submitted_at == datetime.fromtimestamp(BEFORE, tz=UTC)
    assert not graded.late
    late = stored[f"{LAB}:502"]
    assert (late.state, late.late, late.score) == ("submitted", True, None)
    draft = stored[f"{ESSAY}:504"]
    assert (draft.state, draft.submitted_at) == ("unsubmitted", None)
    linked = LearnerIdentity.objects.get(integration=integration, remote_user_id="501")
    assert graded.learner_id == linked.user_id  # the enrolment's learner


def test_events_once_per_hand_in_and_per_new_attempt(integration, moodle):
    moodle.submit_assignment(LAB, 501, BEFORE, status="draft")
    sync(integration)
    assert handed_in() == []

    moodle.submit_assignment(LAB, 501, BEFORE)
    sync(integration)
    moodle.grade_assignment(LAB, 501, 12)
    sync(integration)
    unchanged = sync(integration)["submissions"]
    moodle.reopen_assignment(LAB, 501, AFTER)
    sync(integration)
    returned = rows()[f"{LAB}:501"].state
    moodle.submit_assignment(LAB, 501, AFTER + 60)
    sync(integration)

    assert unchanged.unchanged == 1 and unchanged.updated == 0
    assert returned == "returned"
    events = handed_in()
    assert [(e.payload["attempt"], e.payload["late"]) for e in events] == [
        (1, False),
        (2, True),
    ]
    row = rows()[f"{LAB}:501"]
    assert events[1].payload["submission_id"] == row.pk
    assert events[1].payload["course_id"] == row.assignment.course_id
    assert (row.state, row.attempt, row.score) == ("submitted", 2, None)


def test_a_team_submission_is_not_a_learners(integration, moodle):
    moodle.submit_assignment(ESSAY, 0, BEFORE, groupid=7)
    moodle.submit_assignment(ESSAY, 501, BEFORE)

    run = sync(integration)["submissions"]

    assert set(rows()) == {f"{ESSAY}:501"}
    assert run.failed == 0


def test_an_assignment_the_token_may_not_grade_is_a_counted_failure(
    integration, moodle
):
    moodle.submit_assignment(LAB, 501, BEFORE)
    moodle.submit_assignment(ESSAY, 504, BEFORE)
    moodle.set_assignment(ESSAY, hidden=True)

    run = sync(integration)["submissions"]

    assert run.status == SyncStatus.SUCCEEDED
    assert set(rows()) == {f"{LAB}:501"}
    assert run.failed == 2  # the submissions and the grades warning
    assert run.failures[0]["external_id"] == f"assignment:{ESSAY}"
    assert "No access rights" in run.failures[0]["reason"]


def test_submissions_gone_from_moodle_are_marked_deleted(integration, moodle):
    moodle.submit_assignment(LAB, 501, BEFORE)
    moodle.submit_assignment(ESSAY, 504, BEFORE)
    sync(integration)
    del moodle.assign_submissions[(ESSAY, 504)]

    run = sync(integration)["submissions"]

    assert run.deleted == 1
    assert set(rows()) == {f"{LAB}:501"}


def test_a_revoked_token_fails_the_run_as_an_authentication_error(integration, moodle):
    sync(integration, "assignments")
    moodle.revoke_tokens()

    run = sync(integration, "submissions")["submissions"]

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "authentication_failed"


def test_a_function_missing_from_the_service_is_named(make_integration, provider):
    allowed = [
        name for name in MoodleFake().functions if name != "mod_assign_get_grades"
    ]
    with build_school(MoodleFake(token=TOKEN, functions=allowed)) as fake:
        integration = make_integration(fake, sync_submissions=True)
        report = provider.check_health(integration, provider.build_client(integration))
        runs = {run.stream: run for run in run_sync_now(integration)}

    assert report.status == "unhealthy"
    assert report.details["missing_required_functions"] == ["mod_assign_get_grades"]
    failed = runs["submissions"]
    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "permission_denied"
    assert runs["assignments"].status == SyncStatus.SUCCEEDED


def test_a_failed_call_fails_the_run_and_the_next_run_resumes_emitting_once(
    integration, moodle
):
    for assignment, learner in ((LAB, 501), (LAB, 502), (PORTAL, 501), (ESSAY, 504)):
        moodle.submit_assignment(assignment, learner, BEFORE)
    sync(integration, "assignments")
    moodle.fail_next(
        server_error(500), function="mod_assign_get_submissions", times=30, after=1
    )

    failed = sync(integration, "submissions")["submissions"]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert failed.cursor == {"after": Assignment.objects.get(external_id=str(LAB)).pk}
    assert set(rows()) == {f"{LAB}:501", f"{LAB}:502"}
    assert len(handed_in()) == 2

    moodle.clear_faults()
    resumed = sync(integration, "submissions")["submissions"]

    assert resumed.status == SyncStatus.SUCCEEDED
    assert resumed.resumed_from_id == failed.pk
    assert len(rows()) == 4
    events = handed_in()
    assert len(events) == len({e.payload["submission_id"] for e in events}) == 4


# --- the fake's mod_assign functions, checked with plain HTTP ------------------


def ws(fake: MoodleFake, function: str, **form) -> dict:
    response = requests.post(
        f"{fake.url}/webservice/rest/server.php",
        params={"wsfunction": function, "moodlewsrestformat": "json"},
        data={"wstoken": TOKEN, **form},
        timeout=5,
    )
    assert response.status_code == 200  # errors too, as Moodle answers them
    return response.json()


def test_the_fake_answers_refusals_as_warnings_and_bad_calls_as_exceptions(moodle):
    moodle.submit_assignment(LAB, 501, BEFORE)
    moodle.reopen_assignment(LAB, 501, AFTER)

    not_enrolled = ws(moodle, "mod_assign_get_assignments", **{"courseids[0]": "21"})
    missing_ids = ws(moodle, "mod_assign_get_submissions")
    latest = ws(moodle, "mod_assign_get_submissions", **{"assignmentids[0]": LAB})

    assert not_enrolled["courses"] == []
    assert not_enrolled["warnings"][0]["warningcode"] == "2"
    assert missing_ids["errorcode"] == "invalidparameter"
    assert missing_ids["exception"] == "invalid_parameter_exception"
    [only] = latest["assignments"][0]["submissions"]
    assert (only["attemptnumber"], only["status"]) == (1, "reopened")


def test_a_grade_in_a_marking_workflow_waits_until_it_is_released(integration, moodle):
    moodle.set_assignment(LAB, markingworkflow=True)
    moodle.submit_assignment(LAB, 501, BEFORE)
    moodle.grade_assignment(LAB, 501, 20)
    moodle.marking_states[(LAB, 501)] = "readyforrelease"

    sync(integration)

    marked = rows()[f"{LAB}:501"]
    assert (marked.state, marked.score, marked.grade) == ("submitted", None, "")

    moodle.marking_states[(LAB, 501)] = "released"
    sync(integration)

    released = rows()[f"{LAB}:501"]
    assert (released.state, released.score) == ("graded", Decimal("20.00"))
