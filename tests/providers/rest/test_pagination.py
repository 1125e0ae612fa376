"""Every pagination style yields all items and resumes from any cursor."""

from __future__ import annotations

import json

import pytest

from integrations.errors import InvalidResponse
from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import TOKEN, read_pages

COURSE_IDS = [str(n) for n in range(1, 8)]

# The settings each style needs to match the fake's conventions.
STYLE_SETTINGS = {
    "link": {"size_param": "per_page"},
    "page": {},
    "offset": {},
    "cursor": {"size_param": "per_page"},
    "header_page": {"size_param": "per_page"},
}


def courses(count: int = 7) -> list[dict]:
    """Return ``count`` minimal course items, ids 1..count."""
    return [{"id": n, "name": f"Course {n}"} for n in range(1, count + 1)]


def course_endpoint(**extra) -> list[dict]:
    """Return one course endpoint reading /api/courses."""
    endpoint = {
        "stream": "courses",
        "path": "/api/courses",
        "record_type": "course",
        "fields": {"external_id": "id", "title": "name"},
    }
    endpoint.update(extra)
    return [endpoint]


def items_path_for(style: str) -> dict:
    """Return the endpoint keys a style's body shape needs."""
    return {"items_path": "data"} if style == "cursor" else {}


def ids(pages) -> list[str]:
    return [record["external_id"] for page in pages for record in page.records]


@pytest.mark.parametrize("style", list(STYLE_SETTINGS))
def test_each_style_yields_all_items_across_pages(style, make_integration):
    with JsonApiFake(
        collections={"courses": courses()}, token=TOKEN, pagination=style
    ) as fake:
        integration = make_integration(
            fake,
            pagination=style,
            page_size=3,
            endpoints=course_endpoint(**items_path_for(style)),
            **STYLE_SETTINGS[style],
        )

        pages = read_pages(integration, "courses")

        assert ids(pages) == COURSE_IDS
        assert [page.fetched for page in pages][:3] == [3, 3, 1]
        assert pages[-1].next_cursor is None
        assert all(page.next_cursor is not None for page in pages[:-1])
        assert all(page.failures == [] for page in pages)


@pytest.mark.parametrize("style", list(STYLE_SETTINGS))
def test_each_style_resumes_from_a_middle_cursor(style, make_integration):
    with JsonApiFake(
        collections={"courses": courses()}, token=TOKEN, pagination=style
    ) as fake:
        integration = make_integration(
            fake,
            pagination=style,
            page_size=3,
            endpoints=course_endpoint(**items_path_for(style)),
            **STYLE_SETTINGS[style],
        )
        first_page = read_pages(integration, "courses")[0]
        # The engine stores the cursor as JSON between runs.
        stored = json.loads(json.dumps(first_page.next_cursor))
        fake.clear()

        rest = read_pages(integration, "courses", stored)

        assert ids(rest) == COURSE_IDS[3:]
        assert fake.count("/api/courses") == len(rest)


def test_no_pagination_reads_the_whole_collection_once(make_integration):
    with JsonApiFake(
        collections={"courses": courses()}, token=TOKEN, pagination="none"
    ) as fake:
        integration = make_integration(
            fake, pagination="none", endpoints=course_endpoint()
        )

        pages = read_pages(integration, "courses")

        assert ids(pages) == COURSE_IDS
        assert len(pages) == 1
        assert pages[0].next_cursor is None
        assert fake.count("/api/courses") == 1


def test_page_numbers_with_custom_names_and_zero_start(make_integration):
    fake = JsonApiFake(
        collections={"courses": courses()},
        token=TOKEN,
        pagination="page",
        page_param="p",
        size_param="size",
        first_page=0,
    )
    with fake:
        integration = make_integration(
            fake,
            pagination="page",
            page_param="p",
            size_param="size",
            first_page=0,
            page_size=4,
            endpoints=course_endpoint(),
        )

        pages = read_pages(integration, "courses")

        assert ids(pages) == COURSE_IDS
        sent = [(r.arg("p"), r.arg("size")) for r in fake.requests_to("/api/courses")]
        assert sent == [("0", "4"), ("1", "4"), ("2", "4")]  # the last one is empty


def test_offset_with_custom_names(make_integration):
    fake = JsonApiFake(
        collections={"courses": courses()},
        token=TOKEN,
        pagination="offset",
        offset_param="skip",
        limit_param="take",
    )
    with fake:
        integration = make_integration(
            fake,
            pagination="offset",
            offset_param="skip",
            limit_param="take",
            page_size=5,
            endpoints=course_endpoint(),
        )

        pages = read_pages(integration, "courses")

        assert ids(pages) == COURSE_IDS
        sent = [
            (r.arg("skip"), r.arg("take")) for r in fake.requests_to("/api/courses")
        ]
        assert sent == [("0", "5"), ("5", "5"), ("7", "5")]  # the last one is empty


def test_body_cursor_at_a_nested_path(make_integration):
    fake = JsonApiFake(
        collections={"courses": courses()},
        token=TOKEN,
        pagination="cursor",
        page_size=3,
        envelope="result.items",
        cursor_key="meta.next",
        cursor_param="after",
    )
    with fake:
        integration = make_integration(
            fake,
            pagination="cursor",
            cursor_path="meta.next",
            cursor_param="after",
            endpoints=course_endpoint(items_path="result.items"),
        )

        pages = read_pages(integration, "courses")

        assert ids(pages) == COURSE_IDS
        assert [r.arg("after") is None for r in fake.requests_to("/api/courses")] == [
            True,
            False,
            False,
        ]


def test_page_limit_asks_for_fewer_items(make_integration):
    with JsonApiFake(
        collections={"courses": courses()}, token=TOKEN, pagination="page"
    ) as fake:
        integration = make_integration(
            fake, pagination="page", endpoints=course_endpoint()
        )

        first = next(iter(read_pages(integration, "courses", page_limit=2)))

        assert first.fetched == 2
        assert fake.requests_to("/api/courses")[0].arg("per_page") == "2"


def test_endpoint_params_are_sent_with_every_page(make_integration):
    with JsonApiFake(
        collections={"courses": courses()}, token=TOKEN, page_size=3
    ) as fake:
        params = {"include": ["term", "teachers"], "published": True, "account": 7}
        integration = make_integration(fake, endpoints=course_endpoint(params=params))

        read_pages(integration, "courses")

        requests = fake.requests_to("/api/courses")
        assert len(requests) == 3
        for request in requests:
            assert request.query["include"] == ["term", "teachers"]
            assert request.arg("published") == "true"
            assert request.arg("account") == "7"


def test_body_without_the_declared_list_raises_invalid_response(make_integration):
    with JsonApiFake(
        collections={"courses": courses()}, token=TOKEN, envelope="data"
    ) as fake:
        integration = make_integration(fake, endpoints=course_endpoint())

        with pytest.raises(InvalidResponse) as caught:
            read_pages(integration, "courses")

        assert "items_path" in str(caught.value)


def test_items_path_that_is_not_a_list_raises_invalid_response(make_integration):
    with JsonApiFake(
        collections={"courses": courses()}, token=TOKEN, envelope="data"
    ) as fake:
        integration = make_integration(
            fake, endpoints=course_endpoint(items_path="data.0")
        )

        with pytest.raises(InvalidResponse) as caught:
            read_pages(integration, "courses")

        assert "Expected a list at 'data.0'" in str(caught.value)


def test_items_are_read_again_after_the_data_changes(make_integration):
    with JsonApiFake(collections={"courses": courses(3)}, token=TOKEN) as fake:
        integration = make_integration(fake, endpoints=course_endpoint())
        assert ids(read_pages(integration, "courses")) == ["1", "2", "3"]

        fake.add("courses", {"id": 4, "name": "Course 4"})
        fake.update("courses", 2, name="Course two")
        fake.delete("courses", 1)
        pages = read_pages(integration, "courses")

        assert [(r["external_id"], r["title"]) for r in pages[0].records] == [
            ("2", "Course two"),
            ("3", "Course 3"),
            ("4", "Course 4"),
        ]
