"""End-to-end syncs of the Canvas provider through the engine, against the fake."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from integrations.models import SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    LearnerIdentity,
    Progress,
)
from tests.providers.canvas.helpers import make_canvas_integration, read_pages

pytestmark = pytest.mark.django_db

STREAMS = ["courses", "assignments", "enrollments", "progress"]
COURSES = ["101", "102", "103", "104", "105"]
ASSIGNMENTS = ["2001", "2002", "2004", "2005", "2006"]
ENROLLMENTS = ["3001", "3002", "3003", "3004", "3005", "3006", "3008", "3009", "3010"]
PROGRESS = ["101:501", "101:502", "101:503", "102:501", "102:504", "104:502"]


def by_stream(runs):
    return {run.stream: run for run in runs}


def live(model) -> list[str]:
    return sorted(
        model.objects.filter(deleted_at__isnull=True).values_list(
            "external_id", flat=True
        )
    )


def test_first_sync_stores_every_stream(integration, canvas):
    runs = by_stream(run_sync_now(integration))

    assert list(runs) == STREAMS
    assert {run.status for run in runs.values()} == {SyncStatus.SUCCEEDED}
    assert live(Course) == COURSES
    assert live(Assignment) == ASSIGNMENTS
    assert live(Enrollment) == ENROLLMENTS
    assert live(Progress) == PROGRESS
    assert runs["courses"].created == 5
    assert runs["courses"].pages == 3
    assert runs["assignments"].fetched == 6  # the unpublished one is read, skipped
    assert runs["assignments"].failed == 0
    assert all(run.cursor is None for run in runs.values())


def test_first_sync_maps_states_roles_and_learners(integration, canvas):
    run_sync_now(integration)

    states = dict(Course.objects.values_list("external_id", "state"))
    assert states == {
        "101": "active",
        "102": "active",
        "103": "unpublished",
        "104": "completed",
        "105": "deleted",
    }
    enrollment = Enrollment.objects.get(external_id="3009")
    assert (enrollment.role, enrollment.state) == ("student", "deleted")
    assert Enrollment.objects.get(external_id="3010").role == "teacher"
    ada = LearnerIdentity.objects.get(integration=integration, remote_user_id="501")
    assert ada.email == "ada@example.edu"
    assert ada.user.email == "ada@example.edu"
    # One person in two courses is one portal user.
    assert Enrollment.objects.filter(learner=ada.user).count() == 2
    turing = LearnerIdentity.objects.get(integration=integration, remote_user_id="503")
    assert turing.email == ""  # Canvas gave neither an email nor an email login
    assert turing.user.username == "canvas-test-503"
    assert get_user_model().objects.filter(email="grace@example.edu").count() == 1


def test_progress_combines_module_completion_and_grades(integration, canvas):
    run_sync_now(integration)

    rows = {
        row.external_id: (row.percent, row.grade, row.completed_at)
        for row in Progress.objects.all()
    }
    assert rows["101:501"][:2] == (Decimal("75.00"), "86.25%")
    assert rows["101:502"][:2] == (Decimal("100.00"), "93%")
    assert rows["101:502"][2].isoformat() == "2025-11-30T16:20:00+00:00"
    assert rows["101:503"][:2] == (Decimal("0.00"), "")
    # Course 102 has no module requirements: the score is the percent.
    assert rows["102:501"][:2] == (Decimal("88.40"), "B+")
    assert rows["102:504"][:2] == (Decimal("61.00"), "D")
    assert rows["104:502"][:2] == (Decimal("100.00"), "A")


def test_unchanged_resync_counts_and_skips_every_record(integration, canvas):
    run_sync_now(integration)
    stamps = {
        model: dict(model.objects.values_list("external_id", "updated_at"))
        for model in (Course, Assignment, Enrollment, Progress)
    }

    runs = by_stream(run_sync_now(integration))

    expected = {"courses": 5, "assignments": 5, "enrollments": 9, "progress": 6}
    for stream, count in expected.items():
        run = runs[stream]
        assert (run.unchanged, run.created, run.updated, run.deleted) == (
            count,
            0,
            0,
            0,
        ), stream
    for model, before in stamps.items():
        assert dict(model.objects.values_list("external_id", "updated_at")) == before


def test_incremental_resync_writes_only_what_changed(integration, canvas):
    run_sync_now(integration)
    canvas.update_course(101, name="Introduction to Biology II")
    canvas.update_assignment(
        2005, points_possible=120.0, updated_at="2025-09-02T10:00:00Z"
    )
    canvas.update_enrollment(3006, enrollment_state="active")
    canvas.set_grades(101, 501, current_score=91.5)
    canvas.set_module_progress(101, 501, 8, 7)
    canvas.add_user(505, "Hedy Lamarr", "hedy@example.edu")
    canvas.add_enrollment(101, 505, id=3100)
    canvas.add_assignment(102, id=2100, name="Problem set 2")

    runs = by_stream(run_sync_now(integration))

    assert (runs["courses"].updated, runs["courses"].unchanged) == (1, 4)
    assert Course.objects.get(external_id="101").title == "Introduction to Biology II"
    assert (runs["assignments"].created, runs["assignments"].updated) == (1, 1)
    assert Assignment.objects.get(external_id="2005").points_possible == Decimal("120")
    assert (runs["enrollments"].created, runs["enrollments"].updated) == (1, 1)
    assert Enrollment.objects.get(external_id="3006").state == "active"
    assert (runs["progress"].created, runs["progress"].updated) == (1, 1)
    assert runs["progress"].unchanged == 5
    ada = Progress.objects.get(external_id="101:501")
    assert (ada.percent, ada.grade) == (Decimal("87.50"), "91.5%")


def test_deleted_items_are_marked_or_take_the_deleted_state(integration, canvas):
    run_sync_now(integration)
    canvas.delete_assignment(2002)
    canvas.remove_enrollment(3002)
    canvas.update_enrollment(3001, enrollment_state="deleted")
    canvas.update_course(102, workflow_state="deleted")

    runs = by_stream(run_sync_now(integration))

    # Canvas lists a deleted course with its state: the row says "deleted".
    assert Course.objects.get(external_id="102").state == "deleted"
    assert Course.objects.get(external_id="102").deleted_at is None
    # Assignments Canvas stops listing, and those of a deleted course, vanish.
    assert runs["assignments"].deleted == 3
    assert live(Assignment) == ["2001", "2006"]
    assert Assignment.objects.get(external_id="2002").deleted_at is not None
    # A removed enrollment vanishes; a deleted one keeps its row, state deleted.
    assert Enrollment.objects.get(external_id="3002").deleted_at is not None
    assert Enrollment.objects.get(external_id="3001").state == "deleted"
    assert "102:501" not in live(Progress)
    assert "101:502" not in live(Progress)


def test_vanished_course_is_marked_deleted_and_comes_back(integration, canvas):
    run_sync_now(integration, streams=["courses"])
    canvas.remove_course(103)

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.deleted == 1
    assert Course.objects.get(external_id="103").deleted_at is not None
    canvas.add_course(id=103, name="History of Computing", workflow_state="available")
    run = run_sync_now(integration, streams=["courses"])[0]
    row = Course.objects.get(external_id="103")
    assert (row.deleted_at, row.state, run.updated) == (None, "active", 1)


def test_full_resync_rewrites_every_row(integration, canvas):
    run_sync_now(integration)

    runs = by_stream(run_sync_now(integration, full=True))

    assert runs["courses"].updated == 5
    assert runs["enrollments"].updated == 9
    assert runs["courses"].unchanged == runs["enrollments"].unchanged == 0


def test_settings_choose_what_is_synced(db, canvas):
    integration = make_canvas_integration(
        canvas,
        account_id=1,
        enrollment_types=["ta", "designer", "observer"],
        include_completed=False,
        include_unpublished_assignments=True,
        module_progress="off",
    )

    run_sync_now(integration)

    assert live(Course) == ["101", "102", "103", "105"]
    assert live(Assignment) == ["2001", "2002", "2003", "2004", "2005"]
    roles = dict(Enrollment.objects.values_list("external_id", "role"))
    assert roles == {"3007": "ta", "3011": "designer", "3012": "observer"}
    assert Enrollment.objects.get(external_id="3012").state == "inactive"
    # Without module progress the percent is the current score.
    assert Progress.objects.get(external_id="101:501").percent == Decimal("86.25")


def test_per_user_module_progress_asks_once_per_learner(db, canvas):
    integration = make_canvas_integration(
        canvas, account_id=1, module_progress="per_user"
    )

    run_sync_now(integration, streams=["courses"])
    canvas.clear()
    run_sync_now(integration, streams=["progress"])

    assert Progress.objects.get(external_id="101:501").percent == Decimal("75.00")
    assert canvas.count("/api/v1/courses/101/users/501/progress") == 1
    assert canvas.count("/api/v1/courses/101/bulk_user_progress") == 0
    per_user = [r for r in canvas.requests if r.path.endswith("/progress")]
    assert len(per_user) == 6


def test_courses_of_the_tokens_user_without_an_account(db, canvas):
    canvas.my_course_ids = {101, 104}
    integration = make_canvas_integration(canvas)

    run_sync_now(integration, streams=["courses"])

    assert live(Course) == ["101", "104"]
    (request,) = canvas.requests_to("/api/v1/courses")
    assert request.query["state[]"] == [
        "unpublished",
        "available",
        "completed",
        "deleted",
    ]
    assert request.query["include[]"] == ["term"]
    assert request.arg("per_page") == "100"


def test_per_course_stream_resumes_inside_a_course_from_its_cursor(integration, canvas):
    run_sync_now(integration, streams=["courses"])
    first_course = Course.objects.get(external_id="101")
    pages = read_pages(integration, "enrollments")
    cursors = [page.next_cursor for page in pages]
    # Course 101 has four enrollments: two pages, the first pointing inside it.
    assert cursors[0]["course"] == first_course.pk
    assert "page=bookmark" in cursors[0]["url"]
    assert cursors[1] == {"after": first_course.pk}
    assert cursors[-1] is None

    canvas.clear()
    resumed = read_pages(integration, "enrollments", cursors[0])

    # Later courses are read ahead concurrently, so only course 101's own
    # requests have an order: the resumed one starts at the stored URL.
    course_101 = [r for r in canvas.requests if "/courses/101/" in r.path]
    assert course_101[0].target == cursors[0]["url"].removeprefix(canvas.url)
    ids = [r["external_id"] for page in resumed for r in page.records]
    assert ids == ["3003", "3004", "3005", "3006", "3008", "3009", "3010"]


def test_connection_test_previews_every_stream_without_writing(integration, canvas):
    from integrations.health import test_connection

    run_sync_now(integration, streams=["courses"])
    canvas.update_course(101, name="Biology, renamed")

    report = test_connection(integration)

    assert report.ok
    previews = {preview.stream: preview for preview in report.streams}
    assert list(previews) == STREAMS
    assert (previews["courses"].would_update, previews["courses"].unchanged) == (1, 1)
    assert previews["assignments"].would_create == 2  # course 101's first page
    assert previews["assignments"].would_delete is None  # only a part was read
    assert Course.objects.get(external_id="101").title == "Introduction to Biology"
    assert not Assignment.objects.exists()


def test_per_course_streams_read_several_courses_at_once(db, canvas):
    integration = make_canvas_integration(canvas, account_id=1, concurrency=3)
    run_sync_now(integration, streams=["courses"])
    # Hold the first assignments request open: read one course at a time,
    # nothing else would arrive until it is answered.
    held_number = canvas.count() + 1
    reached, release = canvas.hold(held_number)
    arrived_while_held: list[int] = []

    def watch() -> None:
        if reached.wait(30):
            for _ in range(3000):  # up to 30 s for the other courses' requests
                if canvas.count() >= held_number + 2:
                    break
                time.sleep(0.01)
            arrived_while_held.append(canvas.count() - held_number)
        release.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        (run,) = run_sync_now(integration, streams=["assignments"])
    finally:
        release.set()
        watcher.join()

    assert arrived_while_held and arrived_while_held[0] >= 2
    assert run.status == SyncStatus.SUCCEEDED
    assert run.cursor is None
    assert live(Assignment) == ASSIGNMENTS
