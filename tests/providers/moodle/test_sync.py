"""End-to-end syncs of the fake Moodle school through the sync engine."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from integrations.health import test_connection as preview_connection
from integrations.models import HealthStatus, SyncRun, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course, Enrollment, LearnerIdentity, Progress
from tests.fakes.json_api import JsonApiFake
from tests.fakes.moodle import WS_PATH
from tests.providers.moodle.helpers import (
    EXPECTED_COURSES,
    EXPECTED_ENROLLMENTS,
    EXPECTED_PROGRESS,
    LAB_DONE,
    read_pages,
)
from tests.providers.rest.helpers import TOKEN as REST_TOKEN
from tests.providers.rest.helpers import school_collections
from tests.sync.conftest import make_school_integration

pytestmark = pytest.mark.django_db


def live(model, integration) -> list[str]:
    """Return the sorted external ids of the integration's non-deleted rows."""
    return sorted(
        model.objects.filter(
            integration=integration, deleted_at__isnull=True
        ).values_list("external_id", flat=True)
    )


def by_stream(runs: list[SyncRun]) -> dict[str, SyncRun]:
    return {run.stream: run for run in runs}


def assert_matches_source(integration) -> None:
    assert live(Course, integration) == EXPECTED_COURSES
    assert live(Enrollment, integration) == EXPECTED_ENROLLMENTS
    assert live(Progress, integration) == EXPECTED_PROGRESS


# --- First sync, resyncs, deletions -----------------------------------------


def test_first_sync_stores_the_school_without_the_front_page(integration, moodle):
    runs = by_stream(run_sync_now(integration))

    assert list(runs) == ["courses", "enrollments", "progress"]
    assert all(run.status == SyncStatus.SUCCEEDED for run in runs.values())
    assert_matches_source(integration)
    assert not Course.objects.filter(external_id="1").exists()
    assert runs["courses"].created == 5
    assert runs["courses"].pages == 3  # two courses a page
    assert runs["enrollments"].created == 11
    assert runs["progress"].created == 7
    assert all(run.failed == 0 for run in runs.values())
    assert moodle.calls("core_course_get_courses") == 1


def test_first_sync_maps_states_roles_and_progress(integration, moodle):
    run_sync_now(integration)

    states = dict(Course.objects.values_list("external_id", "state"))
    assert states == {
        "21": "active",
        "22": "unpublished",
        "23": "active",
        "24": "completed",
        "25": "active",
    }
    roles = dict(Enrollment.objects.values_list("external_id", "role"))
    assert roles["21:610"] == "teacher"
    assert roles["21:611"] == "ta"
    assert roles["22:610"] == "designer"
    assert roles["24:501"] == "observer"

    done = Progress.objects.get(external_id="21:501")
    assert done.percent == Decimal("100.00")
    assert done.grade == "80.00"
    assert done.completed_at == datetime.fromtimestamp(LAB_DONE, tz=UTC)
    halfway = Progress.objects.get(external_id="21:502")
    assert (halfway.percent, halfway.grade, halfway.completed_at) == (
        Decimal("33.33"),
        "55.00",
        None,
    )
    assert Progress.objects.get(external_id="22:504").grade == "91.00"
    assert Progress.objects.get(external_id="23:502").percent == Decimal(0)
    learner = LearnerIdentity.objects.get(integration=integration, remote_user_id="501")
    assert learner.user.email == "m.lopez@school.example.edu"
    assert learner.display_name == "Maria Lopez"


def test_course_without_criteria_is_asked_about_completion_once(integration, moodle):
    run_sync_now(integration, streams=["courses"])
    moodle.call_log.clear()

    run_sync_now(integration, streams=["progress"])

    asked = [
        params["courseid"]
        for params in moodle.params_of("core_completion_get_course_completion_status")
    ]
    # 22 has no criteria and 23 has completion off: one call each, then no
    # more for their other learners; 24 has one learner.
    assert sorted(asked) == ["21", "21", "22", "23", "24"]
    assert moodle.calls("gradereport_user_get_grade_items") == 4


def test_unchanged_resync_counts_and_skips_every_row(integration, moodle):
    run_sync_now(integration)

    runs = by_stream(run_sync_now(integration))

    for name, total in (("courses", 5), ("enrollments", 11), ("progress", 7)):
        assert runs[name].unchanged == total
        assert runs[name].created == runs[name].updated == runs[name].deleted == 0


def test_changes_between_syncs_update_only_what_changed(integration, moodle):
    run_sync_now(integration)
    moodle.update_course(23, fullname="Applied Statistics")
    moodle.set_state(21, 502, 702, 1, LAB_DONE)
    moodle.enrol(25, 502, "student")

    runs = by_stream(run_sync_now(integration))

    assert (runs["courses"].updated, runs["courses"].unchanged) == (1, 4)
    assert Course.objects.get(external_id="23").title == "Applied Statistics"
    assert (runs["enrollments"].created, runs["enrollments"].unchanged) == (1, 11)
    assert (runs["progress"].created, runs["progress"].updated) == (1, 1)
    finished = Progress.objects.get(external_id="21:502")
    assert finished.percent == Decimal(100)
    assert finished.completed_at == datetime.fromtimestamp(LAB_DONE, tz=UTC)


def test_vanished_records_are_marked_deleted_and_come_back(integration, moodle):
    run_sync_now(integration)
    moodle.unenrol(21, 502)
    moodle.delete_course(25)

    runs = by_stream(run_sync_now(integration))

    assert runs["courses"].deleted == 1
    assert runs["enrollments"].deleted == 1
    assert runs["progress"].deleted == 1
    assert Course.objects.get(external_id="25").deleted_at is not None
    assert Enrollment.objects.get(external_id="21:502").deleted_at is not None
    assert Progress.objects.get(external_id="21:502").deleted_at is not None

    moodle.enrol(21, 502, "student")
    run_sync_now(integration)
    assert Enrollment.objects.get(external_id="21:502").deleted_at is None


def test_full_resync_rewrites_every_row(integration, moodle):
    run_sync_now(integration)

    runs = by_stream(run_sync_now(integration, full=True))

    assert [runs[name].updated for name in ("courses", "enrollments", "progress")] == [
        5,
        11,
        7,
    ]
    assert all(run.unchanged == 0 for run in runs.values())


def test_suspended_enrolments_are_synced_when_asked(make_integration, moodle):
    integration = make_integration(moodle, only_active_enrolments=False)

    run_sync_now(integration)

    assert "21:503" in live(Enrollment, integration)
    onlyactive = [
        option
        for params in moodle.params_of("core_enrol_get_enrolled_users")
        for option in params["options"]
        if option["name"] == "onlyactive"
    ]
    assert onlyactive == []


def test_enrolled_users_are_read_in_windows_with_php_options(integration, moodle):
    run_sync_now(integration, streams=["courses", "enrollments"])

    calls = [
        params
        for params in moodle.params_of("core_enrol_get_enrolled_users")
        if params["courseid"] == "21"
    ]
    windows = [
        {option["name"]: option["value"] for option in params["options"]}
        for params in calls
    ]
    # Later windows start one user early, to check the list did not shift;
    # the last one comes back with only that user.
    assert [(w["limitfrom"], w["limitnumber"]) for w in windows] == [
        ("0", "2"),
        ("1", "3"),
        ("3", "3"),
    ]
    assert windows[0]["onlyactive"] == "1"
    assert windows[0]["sortby"] == "id"
    assert windows[0]["userfields"] == "id,fullname,firstname,lastname,email,roles"


def test_stream_resumes_inside_a_course_from_its_cursor(integration, moodle):
    run_sync_now(integration, streams=["courses"])
    course = Course.objects.get(integration=integration, external_id="21")

    pages = read_pages(
        integration, "enrollments", {"course": course.pk, "offset": 2, "last_user": 502}
    )

    ids = [record["external_id"] for page in pages for record in page.records]
    assert ids[:2] == ["21:610", "21:611"]
    assert "21:501" not in ids
    assert pages[-1].next_cursor is None


# --- Sources that change under the sync -------------------------------------


def test_user_list_shifting_between_windows_is_read_again(integration, moodle):
    run_sync_now(integration, streams=["courses"])
    serve = moodle._serve_webservice
    seen = {"windows": 0}

    def shift_after_first_window(request):
        reply = serve(request)
        if b"core_enrol_get_enrolled_users" in request.target.encode():
            seen["windows"] += 1
            if seen["windows"] == 1:
                # 501 leaves course 21 after the first window was read:
                # every later user moves one place up the list.
                moodle.unenrol(21, 501)
        return reply

    moodle.route("*", WS_PATH, shift_after_first_window)

    run = run_sync_now(integration, streams=["enrollments"])[0]

    # Read by offset alone, the second window would have started at 611 and
    # 610 would have been skipped (and marked deleted at the end).
    assert run.status == SyncStatus.SUCCEEDED
    assert {"21:502", "21:610", "21:611"} <= set(live(Enrollment, integration))
    # 501 was stored before it left; the next pass no longer sees it.
    run_sync_now(integration, streams=["enrollments"])
    assert "21:501" not in live(Enrollment, integration)


def test_course_deleted_after_the_courses_stream_loses_its_rows(integration, moodle):
    run_sync_now(integration)
    moodle.delete_course(22)

    run = run_sync_now(integration, streams=["enrollments"])[0]

    assert run.status == SyncStatus.SUCCEEDED
    assert run.deleted == 3
    assert [e for e in live(Enrollment, integration) if e.startswith("22:")] == []


def test_missing_function_does_not_pass_for_a_deleted_course(integration, moodle):
    run_sync_now(integration, streams=["courses"])
    moodle.fail_next(
        _moodle_error(
            "invalidrecord", "Can't find data record in database table course."
        ),
        function="core_enrol_get_enrolled_users",
    )
    moodle.fail_next(
        _moodle_error(
            "invalidrecord", "Can't find data record in database table course."
        ),
        function="core_course_get_courses",
    )

    run = run_sync_now(integration, streams=["enrollments"])[0]

    # Moodle could not tell the course from the function: both said
    # "invalidrecord", so the course is treated as gone only when asked.
    assert run.status == SyncStatus.SUCCEEDED
    assert "21:501" not in live(Enrollment, integration)

    moodle.fail_next(
        _moodle_error(
            "invalidrecord", "Can't find data record in database table course."
        ),
        function="core_enrol_get_enrolled_users",
    )
    failed = run_sync_now(integration, streams=["enrollments"])[0]
    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "not_found"


def _moodle_error(code: str, message: str):
    from tests.fakes.server import Reply

    return Reply.json(
        {
            "exception": "dml_missing_record_exception",
            "errorcode": code,
            "message": message,
        }
    )


# --- Identity across integrations -------------------------------------------


def test_same_learner_in_moodle_and_a_rest_lms_is_one_portal_user(integration, moodle):
    with JsonApiFake(
        collections=school_collections(),
        token=REST_TOKEN,
        envelopes={"progress": "result.items"},
    ) as school:
        rest = make_school_integration(school, "rest-lms")
        run_sync_now(rest)
        run_sync_now(integration)

    users = get_user_model().objects.filter(email__iexact="m.lopez@school.example.edu")
    assert users.count() == 1
    maria = users.get()
    identities = LearnerIdentity.objects.filter(user=maria)
    assert sorted(identity.integration.provider for identity in identities) == [
        "moodle",
        "rest",
    ]
    assert (
        Enrollment.objects.filter(learner=maria, integration=integration).count() == 3
    )
    assert Enrollment.objects.filter(learner=maria, integration=rest).exists()


# --- Preview -----------------------------------------------------------------


def test_connection_test_previews_without_writing(integration, moodle):
    report = preview_connection(integration)

    assert report.ok
    assert report.health.status == HealthStatus.HEALTHY
    previews = {preview.stream: preview for preview in report.streams}
    assert previews["courses"].would_create == 2
    assert Course.objects.count() == 0
    assert Enrollment.objects.count() == 0
