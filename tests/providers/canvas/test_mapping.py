"""Canvas's JSON (the fixtures, in Canvas's documented shapes) to portal records."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.providers.canvas.sync import (
    ItemError,
    assignment_record,
    course_record,
    enrollment_record,
    learner_ref,
    map_items,
    progress_record,
)
from tests.providers.canvas.helpers import load_fixture

BASE = "https://canvas.example.edu"


def fixture_item(name: str, item_id: int) -> dict:
    return copy.deepcopy(next(i for i in load_fixture(name) if i["id"] == item_id))


def enrollment(item_id: int) -> dict:
    return fixture_item("enrollments.json", item_id)


# --- courses ------------------------------------------------------------------


def test_course_maps_every_field():
    record = course_record(fixture_item("courses.json", 101), BASE + "/")

    assert record == {
        "type": "course",
        "external_id": "101",
        "title": "Introduction to Biology",
        "code": "BIO-101",
        "state": "active",
        "starts_at": datetime(2025, 9, 1, 7, tzinfo=UTC),
        "ends_at": datetime(2025, 12, 19, 23, tzinfo=UTC),
        "url": "https://canvas.example.edu/courses/101",
        "remote_created_at": datetime(2025, 6, 12, 14, 3, 11, tzinfo=UTC),
    }


@pytest.mark.parametrize(
    ("workflow_state", "state"),
    [
        ("unpublished", "unpublished"),
        ("created", "unpublished"),
        ("claimed", "unpublished"),
        ("available", "active"),
        ("completed", "completed"),
        ("deleted", "deleted"),
    ],
)
def test_course_workflow_states_map_to_portal_states(workflow_state, state):
    item = fixture_item("courses.json", 101)
    item["workflow_state"] = workflow_state

    assert course_record(item, BASE)["state"] == state


def test_course_without_dates_takes_the_terms():
    record = course_record(fixture_item("courses.json", 102), BASE)

    assert record["starts_at"] == datetime(2025, 8, 25, 6, tzinfo=UTC)
    assert record["ends_at"] == datetime(2025, 12, 20, 7, tzinfo=UTC)


def test_course_without_dates_or_term_has_none():
    item = fixture_item("courses.json", 102)
    del item["term"]

    record = course_record(item, BASE)

    assert record["starts_at"] is None and record["ends_at"] is None


def test_nicknamed_course_keeps_its_real_name():
    item = fixture_item("courses.json", 101)
    item["original_name"] = item["name"]
    item["name"] = "Bio (my nickname)"

    assert course_record(item, BASE)["title"] == "Introduction to Biology"


def test_offset_dates_become_aware_utc_instants():
    item = fixture_item("courses.json", 101)
    item["start_at"] = "2012-06-01T00:00:00-06:00"

    assert course_record(item, BASE)["starts_at"] == datetime(2012, 6, 1, 6, tzinfo=UTC)


# --- assignments --------------------------------------------------------------


def test_assignment_maps_every_field():
    record = assignment_record(
        fixture_item("assignments.json", 2002), "101", include_unpublished=False
    )

    assert record == {
        "type": "assignment",
        "external_id": "2002",
        "course_external_id": "101",
        "title": "Lab report 1",
        "due_at": datetime(2025, 10, 1, 23, 59, tzinfo=UTC),
        "points_possible": Decimal("25.50"),
        "remote_created_at": datetime(2025, 8, 20, 15, tzinfo=UTC),
        "remote_updated_at": datetime(2025, 8, 21, 9, 12, 44, tzinfo=UTC),
    }


def test_unpublished_assignment_is_skipped_unless_asked_for():
    item = fixture_item("assignments.json", 2003)

    assert assignment_record(item, "101", include_unpublished=False) is None
    record = assignment_record(item, "101", include_unpublished=True)
    assert record["title"] == "Field trip reflection (draft)"
    assert record["due_at"] is None


def test_deleted_assignment_is_skipped():
    item = fixture_item("assignments.json", 2001)
    item["workflow_state"] = "deleted"

    assert assignment_record(item, "101", include_unpublished=True) is None


def test_ungraded_assignment_has_no_points():
    item = fixture_item("assignments.json", 2001)
    item["points_possible"] = None

    record = assignment_record(item, "101", include_unpublished=False)

    assert record["points_possible"] is None


# --- enrollments and learners ---------------------------------------------------


@pytest.mark.parametrize(
    ("canvas_type", "role"),
    [
        ("StudentEnrollment", "student"),
        ("TeacherEnrollment", "teacher"),
        ("TaEnrollment", "ta"),
        ("DesignerEnrollment", "designer"),
        ("ObserverEnrollment", "observer"),
    ],
)
def test_enrollment_types_map_to_roles(canvas_type, role):
    item = enrollment(3001)
    item["type"] = canvas_type

    assert enrollment_record(item, "101")["role"] == role


@pytest.mark.parametrize(
    ("canvas_state", "state"),
    [
        ("active", "active"),
        ("invited", "invited"),
        ("creation_pending", "invited"),
        ("completed", "completed"),
        ("inactive", "inactive"),
        ("rejected", "inactive"),
        ("deleted", "deleted"),
    ],
)
def test_enrollment_states_map_to_portal_states(canvas_state, state):
    item = enrollment(3001)
    item["enrollment_state"] = canvas_state

    assert enrollment_record(item, "101")["state"] == state


def test_enrollment_maps_every_field():
    record = enrollment_record(enrollment(3001), "101")

    assert record == {
        "type": "enrollment",
        "external_id": "3001",
        "course_external_id": "101",
        "learner": {
            "remote_user_id": "501",
            "email": "ada@example.edu",
            "name": "Ada Byron",
        },
        "role": "student",
        "state": "active",
        "remote_created_at": datetime(2025, 8, 20, 16, tzinfo=UTC),
        "remote_updated_at": datetime(2025, 8, 28, 9, 30, tzinfo=UTC),
    }


def test_learner_email_falls_back_to_an_email_login():
    item = enrollment(3001)
    del item["user"]["email"]

    assert learner_ref(item)["email"] == "ada@example.edu"  # login_id


def test_learner_without_email_or_email_login_has_no_email():
    ref = learner_ref(enrollment(3003))

    assert ref == {"remote_user_id": "503", "name": "Alan Turing"}


def test_unknown_enrollment_type_is_an_item_error_naming_it():
    item = enrollment(3001)
    item["type"] = "StudentViewEnrollment"

    with pytest.raises(ItemError, match="type: unknown value 'StudentViewEnrollment'"):
        enrollment_record(item, "101")


# --- progress -------------------------------------------------------------------


def module(count: int, done: int, completed_at: str | None = None) -> dict:
    return {
        "requirement_count": count,
        "requirement_completed_count": done,
        "next_requirement_url": None,
        "completed_at": completed_at,
    }


def test_progress_percent_is_module_completion_when_the_course_has_requirements():
    record = progress_record(enrollment(3001), "101", module(8, 6))

    assert record == {
        "type": "progress",
        "external_id": "101:501",
        "course_external_id": "101",
        "learner": {
            "remote_user_id": "501",
            "email": "ada@example.edu",
            "name": "Ada Byron",
        },
        "percent": Decimal("75.00"),
        "grade": "86.25%",
        "completed_at": None,
    }


def test_completed_modules_give_the_completion_time():
    record = progress_record(
        enrollment(3002), "101", module(8, 8, "2025-11-30T16:20:00Z")
    )

    assert record["percent"] == Decimal("100.00")
    assert record["completed_at"] == datetime(2025, 11, 30, 16, 20, tzinfo=UTC)


def test_without_requirements_the_percent_is_the_current_score_and_grade_the_letter():
    record = progress_record(enrollment(3005), "102", module(0, 0))

    assert (record["percent"], record["grade"]) == (Decimal("88.40"), "B+")


def test_a_final_grade_override_wins():
    item = enrollment(3005)
    item["grades"].update(override_grade="A-", override_score=91.0)

    record = progress_record(item, "102", None)

    assert (record["percent"], record["grade"]) == (Decimal("91.00"), "A-")


def test_scores_beyond_100_are_limited_and_no_score_is_zero():
    item = enrollment(3001)
    item["grades"]["current_score"] = 104.5
    assert progress_record(item, "101", None)["percent"] == Decimal("100")

    record = progress_record(enrollment(3003), "101", None)
    assert (record["percent"], record["grade"]) == (Decimal("0"), "")


def test_more_completed_than_required_counts_as_done():
    record = progress_record(enrollment(3001), "101", module(4, 5))

    assert record["percent"] == Decimal("100.00")


# --- pages ------------------------------------------------------------------------


def test_map_items_keeps_good_records_and_explains_bad_ones():
    good = fixture_item("courses.json", 101)
    nameless = fixture_item("courses.json", 102)
    nameless["name"] = ""

    records, failures = map_items(
        [good, nameless, "not an object"], lambda item: course_record(item, BASE)
    )

    assert [r["external_id"] for r in records] == ["101"]
    assert failures == [
        {"external_id": "102", "reason": "name: the course has no name"},
        {"external_id": "", "reason": "item 2 of the page is not a JSON object"},
    ]
