"""Keyset pagination: every row once, in order, both ways; bad cursors refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from integrations.models import Integration
from portal.learning.models import Course
from tests.api.conftest import make_course

TITLES = ["delta", "alpha", "charlie", "alpha", "bravo", "alpha", "echo"]
BASE = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def staff_client(db) -> APIClient:
    """Create 23 courses with repeated and missing values; return a staff client."""
    staff = get_user_model().objects.create_user(
        "pager", "p@example.edu", "pw-p-123456", is_staff=True
    )
    integration = Integration.objects.create(name="lms", provider="rest")
    for number in range(23):
        starts = None if number % 4 == 0 else BASE + timedelta(days=number % 3)
        make_course(
            integration,
            f"c{number}",
            title=TITLES[number % len(TITLES)],
            starts_at=starts,
        )
    client = APIClient()
    client.force_authenticate(staff)
    return client


def expected_order(field: str, descending: bool) -> list[int]:
    """Sort the courses as the API documents: NULLs last, ties by id."""
    rows = [(getattr(course, field), course.pk) for course in Course.objects.all()]
    present = sorted((row for row in rows if row[0] is not None), reverse=descending)
    missing = sorted((row for row in rows if row[0] is None), reverse=descending)
    return [pk for _, pk in present + missing]


def walk(client: APIClient, first_url: str, params: dict, link: str) -> list[list[int]]:
    """Follow ``link`` from the first page; return each page's ids."""
    response = client.get(first_url, params)
    pages = []
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        if not body[link]:
            return pages
        response = client.get(body[link])


@pytest.mark.parametrize("field", ["id", "title", "starts_at", "updated_at"])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_hold_every_row_once_in_order(staff_client, field, descending):
    ordering = f"-{field}" if descending else field

    pages = walk(
        staff_client, "/api/v1/courses/", {"ordering": ordering, "page_size": 4}, "next"
    )

    flat = [pk for page in pages for pk in page]
    assert flat == expected_order(field, descending)
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]


@pytest.mark.parametrize("ordering", ["title", "-starts_at"])
def test_previous_links_walk_back_over_the_same_pages(staff_client, ordering):
    forward = walk(
        staff_client, "/api/v1/courses/", {"ordering": ordering, "page_size": 5}, "next"
    )
    response = staff_client.get(
        "/api/v1/courses/", {"ordering": ordering, "page_size": 5}
    )
    while response.json()["next"]:
        response = staff_client.get(response.json()["next"])

    backward = [[row["id"] for row in response.json()["results"]]]
    while response.json()["previous"]:
        response = staff_client.get(response.json()["previous"])
        backward.append([row["id"] for row in response.json()["results"]])

    assert list(reversed(backward)) == forward


def test_the_first_page_has_no_previous_and_the_last_no_next(staff_client):
    first = staff_client.get("/api/v1/courses/", {"page_size": 100}).json()

    assert first["previous"] is None
    assert first["next"] is None
    assert len(first["results"]) == 23


def test_links_keep_the_filters_and_page_size(staff_client):
    body = staff_client.get(
        "/api/v1/courses/", {"page_size": 2, "integration": "lms", "ordering": "-id"}
    ).json()

    assert "integration=lms" in body["next"]
    assert "page_size=2" in body["next"]
    assert "ordering=-id" in body["next"]
    assert body["next"].startswith("http://testserver/api/v1/courses/?")


def test_rows_added_while_paging_neither_repeat_nor_shift_pages(staff_client):
    first = staff_client.get("/api/v1/courses/", {"page_size": 10}).json()
    integration = Integration.objects.get()
    # A row that sorts before the cursor, and one after it.
    make_course(integration, "late", title="zulu")

    second = staff_client.get(first["next"]).json()

    first_ids = [row["id"] for row in first["results"]]
    second_ids = [row["id"] for row in second["results"]]
    assert not set(first_ids) & set(second_ids)
    assert second_ids[0] > first_ids[-1]


def _cursor(payload: dict) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("cursor", "ordering"),
    [
        ("!!!", "id"),
        ("bm90IGpzb24", "id"),
        (_cursor({"o": "title", "d": "n", "p": ["alpha", 1]}), "id"),
        (_cursor({"o": "id", "d": "x", "p": [1]}), "id"),
        (_cursor({"o": "id", "d": "n", "p": [1, 2]}), "id"),
        (_cursor({"o": "id", "d": "n", "p": ["abc"]}), "id"),
        (_cursor({"o": "id", "d": "n", "p": [2**70]}), "id"),
        (_cursor({"o": "id", "d": "n", "p": [None]}), "id"),
        (_cursor({"o": "id", "d": "n", "p": [True]}), "id"),
        (_cursor({"o": "-starts_at", "d": "n", "p": ["yesterday", 1]}), "-starts_at"),
        (
            _cursor({"o": "-starts_at", "d": "n", "p": ["2025-01-01T00:00:00", 1]}),
            "-starts_at",
        ),
        (_cursor({"o": "title", "d": "n", "p": ["a\x00b", 1]}), "title"),
        (_cursor(["id", "n", [1]]), "id"),
        ("A" * 3000, "id"),
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(staff_client, cursor, ordering):
    response = staff_client.get(
        "/api/v1/courses/", {"cursor": cursor, "ordering": ordering}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["details"]) == ["cursor"]


def test_a_cursor_may_stand_on_a_null_value(staff_client):
    # Positioned on a NULL start with a huge id: only the remaining NULLs
    # (which sort last) follow, by id descending.
    cursor = _cursor({"o": "-starts_at", "d": "n", "p": [None, 10**9]})

    response = staff_client.get(
        "/api/v1/courses/", {"cursor": cursor, "ordering": "-starts_at"}
    )

    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    nulls = Course.objects.filter(starts_at__isnull=True).order_by("-id")
    assert ids == [course.pk for course in nulls]


def test_a_cursor_made_for_another_ordering_is_refused(staff_client):
    by_title = staff_client.get(
        "/api/v1/courses/", {"ordering": "title", "page_size": 2}
    ).json()
    cursor = by_title["next"].split("cursor=")[1].split("&")[0]

    response = staff_client.get("/api/v1/courses/", {"cursor": cursor})

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["cursor"]


@pytest.mark.parametrize("size", ["0", "501", "ten", "-3"])
def test_page_size_must_be_1_to_500(staff_client, size):
    response = staff_client.get("/api/v1/courses/", {"page_size": size})

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["page_size"]


@pytest.mark.parametrize(
    "ordering", ["external_id", "integration", "?", "--id", "deleted_at"]
)
def test_only_whitelisted_fields_order(staff_client, ordering):
    response = staff_client.get("/api/v1/courses/", {"ordering": ordering})

    assert response.status_code == 400
    assert "ordering" in response.json()["details"]


def test_the_page_query_has_no_offset(staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = staff_client.get("/api/v1/courses/", {"page_size": 3}).json()
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(first["next"])

    (sql,) = [query["sql"] for query in queries.captured_queries]
    assert "OFFSET" not in sql.upper()
    assert "LIMIT 4" in sql.upper()
