"""Items of each record type become normalized records; bad items are reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from integrations.providers.rest.sync import Endpoint, RecordMapper
from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import (
    TOKEN,
    read_pages,
    read_records,
    school_collections,
)


def mapper(record_type: str, fields: dict, **extra) -> RecordMapper:
    """Return a mapper for an endpoint of ``record_type`` with ``fields``."""
    return RecordMapper(
        Endpoint(stream="s", path="/s", record_type=record_type, fields=fields, **extra)
    )


@pytest.fixture
def school(make_integration, fake):
    """Return an integration with the school mappings, reading the fixtures."""
    return make_integration(fake)


def test_courses_map_nested_paths_dates_and_state(school):
    records = read_records(school, "courses")

    assert records[0] == {
        "type": "course",
        "external_id": "1001",
        "title": "Organic Chemistry I",
        "code": "CHEM-231",
        "state": "active",
        "starts_at": datetime(2025, 1, 13, 8, 0, tzinfo=UTC),
        "ends_at": datetime(2025, 5, 9, 17, 0, tzinfo=timezone(timedelta(hours=-5))),
        "url": "https://school.example.edu/courses/1001",
        "remote_created_at": datetime(2024, 11, 2, 14, 12, 9, tzinfo=UTC),
        "remote_updated_at": datetime(2025, 1, 2, 10, 0, tzinfo=UTC),
    }
    second = records[1]
    assert second["external_id"] == "c-1002"
    assert second["code"] == "2040"
    assert second["state"] == "unpublished"
    assert second["starts_at"] == datetime(2025, 2, 1, tzinfo=UTC)
    assert second["ends_at"] is None
    assert second["remote_updated_at"] == datetime(
        2025, 1, 20, 16, 45, 31, 250000, tzinfo=UTC
    )
    assert records[2]["state"] == "completed"


def test_assignments_map_course_ids_points_and_unix_times(school):
    records = read_records(school, "assignments")

    assert [r["course_external_id"] for r in records] == [
        "1001",
        "1001",
        "c-1002",
        "c-1002",
    ]
    assert [r["points_possible"] for r in records] == [
        Decimal("20.00"),
        Decimal("37.50"),
        Decimal("15.00"),
        None,
    ]
    assert records[0]["due_at"] == datetime(2025, 1, 27, 23, 59, tzinfo=UTC)
    assert records[2]["due_at"] is None
    assert records[3]["due_at"] == datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC)
    assert records[1] == {
        "type": "assignment",
        "external_id": "7002",
        "course_external_id": "1001",
        "title": "Lab report: recrystallization",
        "due_at": datetime(2025, 2, 14, 23, 59, tzinfo=UTC),
        "points_possible": Decimal("37.50"),
        "remote_updated_at": datetime(2025, 1, 5, 12, 5, tzinfo=UTC),
    }


def test_enrollments_map_learner_role_and_state(school):
    records = read_records(school, "enrollments")

    assert records[0] == {
        "type": "enrollment",
        "external_id": "55001",
        "course_external_id": "1001",
        "learner": {
            "remote_user_id": "501",
            "email": "m.lopez@school.example.edu",
            "name": "Maria Lopez",
        },
        "role": "student",
        "state": "active",
        "remote_created_at": datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
        "remote_updated_at": datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
    }
    assert [(r["role"], r["state"]) for r in records] == [
        ("student", "active"),
        ("student", "invited"),
        ("teacher", "active"),
        ("ta", "completed"),
    ]
    assert records[3]["course_external_id"] == "c-1002"


def test_progress_maps_composite_ids_percent_and_grade(school):
    records = read_records(school, "progress")

    assert [r["external_id"] for r in records] == ["1001:501", "1001:502", "c-1002:501"]
    assert [r["percent"] for r in records] == [
        Decimal("87.50"),
        Decimal("100.00"),
        Decimal("12.33"),
    ]
    assert [r["grade"] for r in records] == ["B+", "94", ""]
    assert records[1]["completed_at"] == datetime(2025, 4, 30, 15, 10, tzinfo=UTC)
    assert records[0]["completed_at"] is None
    assert records[0]["learner"] == {
        "remote_user_id": "501",
        "email": "m.lopez@school.example.edu",
        "name": "Maria Lopez",
    }


def test_bad_items_are_page_failures_and_the_rest_still_map(make_integration):
    items = school_collections()["progress"]
    items[1]["completion"]["percent"] = 140
    items.insert(0, {"course": {"id": 1001}, "completion": {"percent": 5}})
    items.append("not an object")
    collections = {**school_collections(), "progress": items}
    with JsonApiFake(
        collections=collections, token=TOKEN, envelopes={"progress": "result.items"}
    ) as fake:
        integration = make_integration(fake)

        pages = read_pages(integration, "progress")

        assert len(pages) == 1
        page = pages[0]
        assert page.fetched == 5
        assert [r["external_id"] for r in page.records] == ["1001:501", "c-1002:501"]
        assert page.failures == [
            {
                "external_id": None,
                "reason": "external_id: the item has no value at 'user.id'",
            },
            {
                "external_id": "1001:502",
                "reason": "percent: 140.00 is outside 0 to 100",
            },
            {"external_id": None, "reason": "item 4 of the page is not a JSON object"},
        ]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"id": 1}, "title: the item has no value at 'name'"),
        ({"id": 1, "name": None}, "title: the item has no value at 'name'"),
        (
            {"id": 1, "name": {"en": "Biology"}},
            "title: expected text at 'name', got a mapping",
        ),
        (
            {"id": 1, "name": "A", "start": "next monday"},
            "starts_at: the value at 'start' is",
        ),
        (
            {"id": 1, "name": "A", "start": "2025-13-45"},
            "starts_at: the value at 'start' is",
        ),
        (
            {"id": 1, "name": "A", "start": True},
            "starts_at: expected an ISO 8601 date at",
        ),
        (
            {"id": 1, "name": "A", "status": "archived"},
            "state: 'archived' is not a course",
        ),
        ({"id": 1, "name": "A", "status": ["x"]}, "state: expected text, got a list"),
        (
            {"id": True, "name": "A"},
            "external_id: the value at 'id' is not a usable id",
        ),
        (
            {"id": "  ", "name": "A"},
            "external_id: the value at 'id' is not a usable id",
        ),
    ],
)
def test_course_item_problems_are_reasons_not_exceptions(item, reason):
    course = mapper(
        "course",
        {"external_id": "id", "title": "name", "starts_at": "start", "state": "status"},
        state_map={"published": "active"},
    )

    records, failures = course.map_items([item])

    assert records == []
    assert len(failures) == 1
    assert failures[0]["reason"].startswith(reason), failures[0]["reason"]


def test_unmapped_state_reason_says_where_to_map_it():
    course = mapper("course", {"external_id": "id", "title": "name", "state": "status"})

    _, failures = course.map_items([{"id": 9, "name": "A", "status": "archived"}])

    assert failures == [
        {
            "external_id": "9",
            "reason": "state: 'archived' is not a course state (unpublished, active, "
            "completed, deleted); map it in state_map",
        }
    ]


def test_boolean_remote_states_map_through_true_and_false():
    assignment_like = mapper(
        "course",
        {"external_id": "id", "title": "name", "state": "published"},
        state_map={"true": "active", "false": "unpublished"},
    )

    records, _ = assignment_like.map_items(
        [
            {"id": 1, "name": "A", "published": True},
            {"id": 2, "name": "B", "published": False},
        ]
    )

    assert [r["state"] for r in records] == ["active", "unpublished"]


def test_portal_values_pass_without_a_map():
    enrollment = mapper(
        "enrollment",
        {
            "external_id": "id",
            "course_external_id": "course",
            "learner_id": "user",
            "role": "role",
            "state": "state",
        },
    )

    records, failures = enrollment.map_items(
        [{"id": 1, "course": 5, "user": 6, "role": "observer", "state": "inactive"}]
    )

    assert failures == []
    assert records[0]["role"] == "observer"
    assert records[0]["state"] == "inactive"
    assert records[0]["learner"] == {"remote_user_id": "6"}


def test_missing_optional_fields_clear_or_are_left_out():
    progress = mapper(
        "progress",
        {
            "external_id": "id",
            "course_external_id": "course_id",
            "learner_id": "user_id",
            "learner_email": "email",
            "percent": "percent",
            "grade": "grade",
            "completed_at": "completed_at",
        },
    )

    records, failures = progress.map_items([{"id": 1, "course_id": 2, "user_id": 3}])

    assert failures == []
    assert records == [
        {
            "type": "progress",
            "external_id": "1",
            "course_external_id": "2",
            "learner": {"remote_user_id": "3", "email": ""},
            "grade": "",
            "completed_at": None,
        }
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-04T05:06:07Z", datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2025-03-04T05:06:07", datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2025-03-04 05:06", datetime(2025, 3, 4, 5, 6, tzinfo=UTC)),
        ("2025-03-04", datetime(2025, 3, 4, tzinfo=UTC)),
        (
            "2025-03-04T05:06:07+09:30",
            datetime(
                2025, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=9, minutes=30))
            ),
        ),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1741064767.5, datetime(2025, 3, 4, 5, 6, 7, 500000, tzinfo=UTC)),
    ],
)
def test_dates_become_aware_datetimes(value, expected):
    assignment = mapper(
        "assignment",
        {"external_id": "id", "course_external_id": "c", "title": "t", "due_at": "due"},
    )

    records, failures = assignment.map_items(
        [{"id": 1, "c": 1, "t": "T", "due": value}]
    )

    assert failures == []
    assert records[0]["due_at"] == expected
    assert records[0]["due_at"].tzinfo is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Decimal("0.00")),
        (100, Decimal("100.00")),
        ("66.666", Decimal("66.67")),
        (" 42 ", Decimal("42.00")),
        (0.1, Decimal("0.10")),
    ],
)
def test_percent_becomes_a_two_place_decimal(value, expected):
    progress = mapper(
        "progress",
        {
            "external_id": "id",
            "course_external_id": "c",
            "learner_id": "u",
            "percent": "p",
        },
    )

    records, failures = progress.map_items([{"id": 1, "c": 1, "u": 1, "p": value}])

    assert failures == []
    assert records[0]["percent"] == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-0.5, "percent: -0.50 is outside 0 to 100"),
        (100.01, "percent: 100.01 is outside 0 to 100"),
        ("NaN", "percent: the value at 'p' is not a finite number"),
        ("ten", "percent: the value at 'p' is not a number"),
        (True, "percent: expected a number at 'p', got a boolean"),
    ],
)
def test_bad_percent_is_a_failure_with_the_reason(value, reason):
    progress = mapper(
        "progress",
        {
            "external_id": "id",
            "course_external_id": "c",
            "learner_id": "u",
            "percent": "p",
        },
    )

    records, failures = progress.map_items([{"id": 7, "c": 1, "u": 1, "p": value}])

    assert records == []
    assert failures == [{"external_id": "7", "reason": reason}]


def test_list_indexes_in_paths():
    course = mapper("course", {"external_id": "ids.0", "title": "names.1.text"})

    records, failures = course.map_items(
        [{"ids": [44, 45], "names": [{"text": "short"}, {"text": "Long name"}]}]
    )

    assert failures == []
    assert records[0]["external_id"] == "44"
    assert records[0]["title"] == "Long name"


def test_oversized_points_are_a_failure():
    assignment = mapper(
        "assignment",
        {
            "external_id": "id",
            "course_external_id": "c",
            "title": "t",
            "points_possible": "p",
        },
    )

    _, failures = assignment.map_items([{"id": 1, "c": 1, "t": "T", "p": 1e12}])

    assert failures == [
        {"external_id": "1", "reason": "points_possible: 1000000000000.00 is too large"}
    ]
