"""Captured Moodle payloads become the portal's normalized records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.providers.moodle.sync import (
    DEFAULT_ROLE_MAP,
    ItemError,
    MoodleConfig,
    completion_time,
    course_record,
    course_totals,
    enrollment_record,
    grade_text,
    is_site_course,
    progress_percent,
)
from tests.providers.moodle.helpers import load_fixture

BASE_URL = "https://moodle.school.example.edu"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


class StubMoodle:
    """Stands in for a MoodleClient where only its name is read."""

    integration = "moodle-mapping"


def by_id(items: list[dict], item_id: int) -> dict:
    return next(item for item in items if item["id"] == item_id)


def test_front_page_is_recognised_by_its_site_format():
    courses = load_fixture("courses.json")

    assert [course["id"] for course in courses if is_site_course(course)] == [1]


def test_course_maps_every_field():
    course = by_id(load_fixture("courses.json"), 21)

    record = course_record(course, BASE_URL + "/", NOW)

    assert record == {
        "type": "course",
        "external_id": "21",
        "title": "Organic Chemistry",
        "code": "CHEM-231",
        "state": "active",
        "starts_at": datetime(2025, 1, 6, tzinfo=UTC),
        "ends_at": datetime(2100, 1, 1, tzinfo=UTC),
        "url": "https://moodle.school.example.edu/course/view.php?id=21",
        "remote_created_at": datetime(2024, 12, 1, tzinfo=UTC),
        "remote_updated_at": datetime(2025, 1, 15, tzinfo=UTC),
    }


def test_hidden_course_is_unpublished_and_an_open_end_is_none():
    record = course_record(by_id(load_fixture("courses.json"), 22), BASE_URL, NOW)

    assert record["state"] == "unpublished"
    assert record["ends_at"] is None


def test_course_past_its_end_date_is_completed():
    record = course_record(by_id(load_fixture("courses.json"), 24), BASE_URL, NOW)

    assert record["state"] == "completed"
    assert record["ends_at"] == datetime(2024, 12, 19, tzinfo=UTC)


def test_course_seen_without_update_rights_has_no_visibility_or_times():
    # Callers without moodle/course:update get only the basic fields.
    basic = {
        "id": 30,
        "shortname": "BIO",
        "categoryid": 2,
        "fullname": "Biology",
        "displayname": "Biology",
        "summary": "",
        "summaryformat": 1,
        "format": "topics",
        "startdate": 0,
        "enddate": 0,
    }

    record = course_record(basic, BASE_URL, NOW)

    assert record["state"] == "active"
    assert record["starts_at"] is None
    assert "remote_updated_at" not in record


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "id: expected a numeric id"),
        ({"id": 0}, "id: 0 is not a valid id"),
        ({"fullname": ""}, "fullname: the item has none"),
        ({"startdate": "soon"}, "startdate: 'soon' is not a Unix time"),
    ],
)
def test_unreadable_course_says_which_field(change, reason):
    course = {**by_id(load_fixture("courses.json"), 21), **change}

    with pytest.raises(ItemError) as raised:
        course_record(course, BASE_URL, NOW)

    assert raised.value.reason.startswith(reason)


def test_enrolled_student_maps_to_a_learner_with_email_and_name():
    user = by_id(load_fixture("enrolled_users.json"), 501)

    record = enrollment_record("21", user, MoodleConfig())

    assert record == {
        "type": "enrollment",
        "external_id": "21:501",
        "course_external_id": "21",
        "learner": {
            "remote_user_id": "501",
            "email": "m.lopez@school.example.edu",
            "name": "Maria Lopez",
        },
        "role": "student",
        "state": "active",
    }


def test_most_powerful_role_wins_by_sort_order():
    user = by_id(load_fixture("enrolled_users.json"), 610)

    assert enrollment_record("21", user, MoodleConfig())["role"] == "designer"
    teacher_first = MoodleConfig(role_map={**DEFAULT_ROLE_MAP, "manager": "teacher"})
    assert enrollment_record("21", user, teacher_first)["role"] == "teacher"


def test_user_without_roles_or_email_is_an_observer_without_email():
    user = by_id(load_fixture("enrolled_users.json"), 777)

    record = enrollment_record("21", user, MoodleConfig())

    assert record["role"] == "observer"
    assert record["learner"] == {"remote_user_id": "777", "name": "Visiting Scholar"}


def test_unmapped_custom_role_is_a_failure_naming_the_role():
    user = {**by_id(load_fixture("enrolled_users.json"), 501)}
    user["roles"] = [
        {"roleid": 9, "name": "Mentor", "shortname": "mentor", "sortorder": 9}
    ]

    with pytest.raises(ItemError, match="mentor are not mapped.*role_map"):
        enrollment_record("21", user, MoodleConfig())


def test_course_total_is_read_per_user_from_the_grade_report():
    totals = course_totals(load_fixture("grade_items.json"), StubMoodle())

    assert set(totals) == {501, 502}
    assert grade_text(totals[501]) == "80.00"
    assert grade_text(totals[502]) == ""
    assert grade_text(None) == ""


def test_progress_counts_every_finished_state_of_tracked_activities():
    statuses = load_fixture("activities_completion_status.json")["statuses"]

    # Complete-pass and complete-fail both count as done, as Moodle's
    # dashboard does: 2 of 4 tracked activities.
    assert progress_percent(statuses, course_completed=False) == Decimal("50.00")
    assert progress_percent(statuses, course_completed=True) == Decimal(100)
    assert progress_percent([], course_completed=False) == Decimal(0)
    untracked = [{**status, "tracking": 0} for status in statuses]
    assert progress_percent(untracked, course_completed=False) == Decimal(0)


def test_course_completion_time_is_the_last_criterion_for_all_aggregation():
    status = load_fixture("course_completion_status.json")["completionstatus"]

    assert completion_time(status) == datetime.fromtimestamp(1737500000, tz=UTC)
    assert completion_time({**status, "aggregation": 2}) == datetime.fromtimestamp(
        1736300000, tz=UTC
    )
    assert completion_time({**status, "completions": []}) is None
