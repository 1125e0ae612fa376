"""Every pagination style, followed to the end and resumed from a stored cursor."""

from __future__ import annotations

import json

import pytest

from integrations.errors import InvalidResponse, TransientError, UnsafeURLError
from integrations.http.auth import QueryApiKey
from integrations.http.pagination import (
    BodyCursorPagination,
    HeaderPagePagination,
    LinkHeaderPagination,
    OffsetPagination,
    PageNumberPagination,
)
from tests import leakcheck
from tests.fakes.faulty import FaultyServer, server_error
from tests.fakes.server import Reply, links_header
from tests.http.support import make_client

ITEMS = [{"id": number} for number in range(1, 48)]
SECRET_TOKEN = leakcheck.secret("moodle-token-5a4b3c2d1e0f")


@pytest.fixture
def server():
    with FaultyServer() as fake:
        yield fake
    assert not fake.errors, "a fake handler raised"


def collect(pages):
    """Return (all items, cursors) of an iterator of fetched pages."""
    items, cursors = [], []
    for page in pages:
        items.extend(page.items)
        cursors.append(page.next_cursor)
    return items, cursors


def resume_after_first_page(client, path, **kwargs):
    """Fetch one page, store its cursor as JSON, resume from it in a new run."""
    first = next(client.paginate(path, **kwargs))
    stored = json.loads(json.dumps(first.next_cursor))
    rest, cursors = collect(client.paginate(path, cursor=stored, **kwargs))
    return first.items + rest, cursors


def test_link_header_pages_are_followed_as_given(server):
    server.serve_link_pages("/api/v1/courses", ITEMS, per_page=10)
    client = make_client(server.url)

    items, cursors = collect(
        client.paginate(
            "/api/v1/courses",
            params={"per_page": 10, "include[]": "term"},
            pagination=LinkHeaderPagination(),
        )
    )

    assert items == ITEMS
    assert cursors[-1] is None
    assert all(cursor["url"].startswith(server.url) for cursor in cursors[:-1])
    sent = server.requests_to("/api/v1/courses")
    assert len(sent) == 5
    # Later pages use the service's opaque bookmark and keep its parameters.
    assert sent[1].arg("page") != "2"
    assert sent[1].arg("include[]") == "term"


def test_link_header_pagination_resumes_from_a_stored_cursor(server):
    server.serve_link_pages("/api/v1/courses", ITEMS, per_page=10)
    client = make_client(server.url)

    items, cursors = resume_after_first_page(
        client,
        "/api/v1/courses",
        params={"per_page": 10},
        pagination=LinkHeaderPagination(),
    )

    assert items == ITEMS
    assert cursors[-1] is None


def test_link_cursor_never_holds_the_query_credential(server):
    # A service that echoes the token in its links must not get it into the
    # cursor, which is stored in the database.
    def handler(request):
        page = int(request.arg("page") or 1)
        token = request.arg("wstoken")
        headers = {}
        if page < 3:
            next_url = f"{server.url}/list?wstoken={token}&page={page + 1}"
            headers["Link"] = links_header([(next_url, "next")])
        return Reply.json([page], headers=headers)

    server.route("GET", "/list", handler)
    client = make_client(server.url, auth=QueryApiKey("wstoken", SECRET_TOKEN))

    items, cursors = collect(
        client.paginate("/list", pagination=LinkHeaderPagination())
    )

    assert items == [1, 2, 3]
    assert cursors == [
        {"url": f"{server.url}/list?page=2"},
        {"url": f"{server.url}/list?page=3"},
        None,
    ]
    assert all(request.arg("wstoken") == SECRET_TOKEN for request in server.requests)


def test_link_to_another_host_is_refused(server):
    server.reply(
        "GET",
        "/list",
        Reply.json(
            [1], headers={"Link": '<https://elsewhere.example/list?page=2>; rel="next"'}
        ),
    )
    client = make_client(server.url)
    pages = client.paginate("/list", pagination=LinkHeaderPagination())

    assert next(pages).next_cursor == {"url": "https://elsewhere.example/list?page=2"}
    with pytest.raises(UnsafeURLError):
        next(pages)


def test_link_pointing_at_the_same_page_is_invalid(server):
    server.reply(
        "GET",
        "/list",
        Reply.json([1], headers={"Link": f'<{server.url}/list?page=1>; rel="next"'}),
    )
    client = make_client(server.url)

    pages = client.paginate("/list", pagination=LinkHeaderPagination())
    next(pages)
    with pytest.raises(InvalidResponse, match="same page"):
        next(pages)


def test_page_numbers_are_followed_until_an_empty_page(server):
    server.serve_page_numbers("/courses", ITEMS)
    client = make_client(server.url)

    items, cursors = collect(
        client.paginate("/courses", pagination=PageNumberPagination(size=20))
    )

    assert items == ITEMS
    # The short third page does not end the walk: only the empty fourth does,
    # so a server that caps page sizes cannot end a pass early.
    assert cursors == [{"page": 2}, {"page": 3}, {"page": 4}, None]
    assert [request.arg("page") for request in server.requests] == ["1", "2", "3", "4"]
    assert {request.arg("per_page") for request in server.requests} == {"20"}


def test_page_numbers_end_on_an_empty_page_when_items_divide_evenly(server):
    server.serve_page_numbers("/courses", ITEMS[:40])
    client = make_client(server.url)

    items, cursors = collect(
        client.paginate("/courses", pagination=PageNumberPagination(size=20))
    )

    assert items == ITEMS[:40]
    assert cursors == [{"page": 2}, {"page": 3}, None]


def test_page_number_pagination_resumes_and_honours_start(server):
    server.serve_page_numbers(
        "/courses", ITEMS, page_param="p", size_param="n", start=0
    )
    client = make_client(server.url)

    items, _ = resume_after_first_page(
        client,
        "/courses",
        pagination=PageNumberPagination(
            page_param="p", size_param="n", size=15, start=0
        ),
    )

    assert items == ITEMS
    assert server.requests[0].arg("p") == "0"


def test_offsets_are_followed_by_the_count_received(server):
    server.serve_offsets("/users", ITEMS, max_limit=100)
    client = make_client(server.url)

    items, cursors = resume_after_first_page(
        client,
        "/users",
        params={"active": "true"},
        pagination=OffsetPagination(limit=25),
        items_path="results",
    )

    assert items == ITEMS
    assert cursors == [{"offset": 47}, None]
    assert [request.arg("offset") for request in server.requests] == ["0", "25", "47"]
    assert {request.arg("active") for request in server.requests} == {"true"}


def test_body_cursor_tokens_are_passed_back(server):
    server.serve_body_cursor("/conversations", ITEMS, page_size=20)
    client = make_client(server.url)
    style = BodyCursorPagination(cursor_path="meta.next_cursor", cursor_param="cursor")

    first = next(client.paginate("/conversations", pagination=style, items_path="data"))
    stored = json.loads(json.dumps(first.next_cursor))
    rest, cursors = collect(
        client.paginate(
            "/conversations", pagination=style, items_path="data", cursor=stored
        )
    )

    assert first.items + rest == ITEMS
    assert cursors[-1] is None
    assert server.requests[0].arg("cursor") is None
    assert server.requests[1].arg("cursor") == first.next_cursor["cursor"]
    assert first.next_cursor["cursor"] == first.response.json()["meta"]["next_cursor"]


def test_body_cursor_of_the_wrong_type_is_invalid(server):
    server.reply(
        "GET", "/c", Reply.json({"data": [1], "meta": {"next_cursor": {"a": 1}}})
    )
    client = make_client(server.url)

    with pytest.raises(InvalidResponse, match="meta.next_cursor"):
        list(
            client.paginate(
                "/c",
                pagination=BodyCursorPagination(cursor_path="meta.next_cursor"),
                items_path="data",
            )
        )


def test_header_pages_follow_x_next_page(server):
    server.serve_header_pages("/projects/1/issues", ITEMS, per_page=20)
    client = make_client(server.url)

    items, cursors = resume_after_first_page(
        client,
        "/projects/1/issues",
        params={"per_page": 20},
        pagination=HeaderPagePagination(),
    )

    assert items == ITEMS
    assert cursors == [{"page": "3"}, None]
    assert [request.arg("page") for request in server.requests] == [None, "2", "3"]


def test_items_that_are_not_a_list_name_the_path(server):
    server.reply("GET", "/wrapped", Reply.json({"results": {"id": 1}}))
    server.reply("GET", "/bare", Reply.json({"results": []}))
    client = make_client(server.url)

    with pytest.raises(InvalidResponse, match="'results'") as caught:
        list(
            client.paginate(
                "/wrapped", pagination=OffsetPagination(), items_path="results"
            )
        )
    assert caught.value.url == f"{server.url}/wrapped?offset=0&limit=100"
    with pytest.raises(InvalidResponse, match="items_path"):
        list(client.paginate("/bare", pagination=LinkHeaderPagination()))
    with pytest.raises(InvalidResponse, match="no 'data.items'"):
        list(
            client.paginate(
                "/bare", pagination=LinkHeaderPagination(), items_path="data.items"
            )
        )


def test_a_failing_page_raises_after_the_pages_before_it(server):
    def handler(request):
        if request.arg("page") == "2":
            return server_error(500)
        return Reply.json(ITEMS[:10])

    server.route("GET", "/courses", handler)
    client = make_client(server.url)
    pages = client.paginate("/courses", pagination=PageNumberPagination(size=10))

    first = next(pages)
    with pytest.raises(TransientError):
        next(pages)

    assert first.next_cursor == {"page": 2}


@pytest.mark.parametrize(
    ("pagination", "cursor", "message"),
    [
        (LinkHeaderPagination(), {"page": 2}, "'url'"),
        (PageNumberPagination(), {"page": "two"}, "'page'"),
        (OffsetPagination(), {"offset": -5}, "'offset'"),
        (BodyCursorPagination(), {"next": "x"}, "'cursor'"),
    ],
)
def test_bad_cursor_is_refused_with_its_key_named(server, pagination, cursor, message):
    client = make_client(server.url)

    with pytest.raises(ValueError, match=message):
        next(client.paginate("/x", pagination=pagination, cursor=cursor))

    assert server.count() == 0


def test_bad_pagination_settings_are_refused():
    with pytest.raises(ValueError, match="size must be a positive integer"):
        PageNumberPagination(size=0)
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        OffsetPagination(limit=-1)
