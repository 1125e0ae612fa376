"""A real JSON API on loopback, configurable the way public APIs differ.

It serves collections of items (courses, assignments, enrollments, progress
or any other name) at ``/api/<collection>``, pages them in the style chosen
(Link header, page numbers, offset/limit, body cursor, ``X-Next-Page``
header or none), checks credentials in the style chosen (answering 401 with
``WWW-Authenticate`` when they are missing or wrong), counts every request,
and lets a test change the data between syncs or script failures.

Used by the generic REST provider's tests, the end-to-end sync tests, and
the docs' "try it locally" example::

    python -m tests.fakes.json_api --port 8765

which serves a small demo data set with bearer token ``demo-token``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.fakes.server import (
    FakeServer,
    RecordedRequest,
    Reply,
    _RequestHandler,
    _Server,
)

AUTH_STYLES = ("bearer", "header", "query", "basic", "none")
PAGINATION_STYLES = ("link", "page", "offset", "cursor", "header_page", "none")


@dataclass
class ScriptedFailure:
    """A reply to give instead of the real one, for the next matching requests."""

    reply: Reply
    path: str | None = None
    remaining: int = 1


class JsonApiFake(FakeServer):
    """A JSON API on 127.0.0.1, built on FakeServer; use as a context manager.

    Every option is a plain attribute and may be changed while the server
    runs (``fake.pagination = "offset"``). ``envelope`` is a dotted path the
    items are wrapped in (``"data"`` gives ``{"data": [...]}``), and
    ``envelopes`` overrides it per collection; the cursor style always
    wraps, in ``"data"`` unless told otherwise, and puts the next cursor at
    ``cursor_key``. FakeServer's ``route``/``reply`` still work, so a test
    can put a faulty reply (tests/fakes/faulty.py) in front of a collection.
    """

    def __init__(
        self,
        *,
        collections: dict[str, list[dict[str, Any]]] | None = None,
        auth: str = "bearer",
        token: str = "test-token",
        auth_header: str = "X-API-Key",
        auth_param: str = "api_key",
        username: str = "portal",
        password: str = "test-password",
        pagination: str = "link",
        page_size: int = 10,
        max_page_size: int = 100,
        page_param: str = "page",
        size_param: str = "per_page",
        first_page: int = 1,
        offset_param: str = "offset",
        limit_param: str = "limit",
        cursor_param: str = "cursor",
        cursor_key: str = "next_cursor",
        next_page_header: str = "X-Next-Page",
        envelope: str | None = None,
        envelopes: dict[str, str] | None = None,
        prefix: str = "/api",
        host: str = "127.0.0.1",
    ) -> None:
        if auth not in AUTH_STYLES:
            raise ValueError(f"auth must be one of {AUTH_STYLES}, not {auth!r}")
        if pagination not in PAGINATION_STYLES:
            raise ValueError(
                f"pagination must be one of {PAGINATION_STYLES}, not {pagination!r}"
            )
        super().__init__(host)
        self.collections: dict[str, list[dict[str, Any]]] = copy.deepcopy(
            collections or {}
        )
        self.auth = auth
        self.token = token
        self.auth_header = auth_header
        self.auth_param = auth_param
        self.username = username
        self.password = password
        self.pagination = pagination
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.page_param = page_param
        self.size_param = size_param
        self.first_page = first_page
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.cursor_param = cursor_param
        self.cursor_key = cursor_key
        self.next_page_header = next_page_header
        self.envelope = envelope
        self.envelopes = dict(envelopes or {})
        self.prefix = prefix.rstrip("/")
        self._failures: list[ScriptedFailure] = []
        self._data_lock = threading.RLock()
        self.route(
            "*",
            re.compile(re.escape(self.prefix) + r"/(?P<collection>[^/]+)"),
            self._serve,
        )
        self.route("*", f"{self.prefix}/me", self._serve_me)

    @property
    def base_url(self) -> str:
        """Return the server's root URL: the integration's base URL."""
        return self.url

    def path(self, collection: str) -> str:
        """Return the path of a collection, e.g. ``/api/courses``."""
        return f"{self.prefix}/{collection}"

    def collection_url(self, collection: str) -> str:
        """Return the absolute URL of a collection."""
        return self.url_for(self.path(collection))

    def listen(self, port: int) -> None:
        """Bind ``port`` (0: a free one) without serving yet: the script's mode."""
        # FakeServer.start() always takes a free port and serves from a
        # thread; the script needs the port the docs name, in the foreground.
        server = _Server((self.host, port), _RequestHandler)
        server.fake = self
        self._server = server

    def serve_forever(self) -> None:
        """Serve what ``listen`` bound, in the calling thread, until Ctrl-C."""
        server = self._server
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            self._server = None

    # --- data ---------------------------------------------------------------

    def set_items(self, collection: str, items: Iterable[dict[str, Any]]) -> None:
        """Replace a collection's items (created if new)."""
        with self._data_lock:
            self.collections[collection] = copy.deepcopy(list(items))

    def items(self, collection: str) -> list[dict[str, Any]]:
        """Return a copy of a collection's items."""
        with self._data_lock:
            return copy.deepcopy(self.collections.get(collection, []))

    def add(self, collection: str, *items: dict[str, Any]) -> None:
        """Append items to a collection (created if new)."""
        with self._data_lock:
            self.collections.setdefault(collection, []).extend(
                copy.deepcopy(list(items))
            )

    def update(self, collection: str, item_id: Any, **changes: Any) -> dict[str, Any]:
        """Change top-level keys of the item whose ``id`` is ``item_id``; return it."""
        with self._data_lock:
            item = self._find(collection, item_id)
            item.update(copy.deepcopy(changes))
            return copy.deepcopy(item)

    def delete(self, collection: str, item_id: Any) -> None:
        """Remove the item whose ``id`` is ``item_id``."""
        with self._data_lock:
            item = self._find(collection, item_id)
            self.collections[collection].remove(item)

    def _find(self, collection: str, item_id: Any) -> dict[str, Any]:
        for item in self.collections.get(collection, []):
            if item.get("id") == item_id:
                return item
        raise KeyError(f"{collection} has no item with id {item_id!r}")

    # --- scripted failures and the request log ------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to ``path``, if given) with ``status``.

        ``body`` is sent as JSON, or as it is (as HTML) when it is bytes;
        afterwards the fake answers normally again.
        """
        if isinstance(body, bytes):
            reply = Reply(
                status, body, headers, content_type="text/html; charset=utf-8"
            )
        else:
            if body is None:
                body = {"error": f"scripted failure {status}"}
            reply = Reply.json(body, status, headers)
        with self._data_lock:
            self._failures.append(ScriptedFailure(reply, path, remaining=times))

    def request_count(self, path: str | None = None) -> int:
        """Return how many requests arrived (to ``path``, if given)."""
        return self.count(path)

    def _take_failure(self, path: str) -> Reply | None:
        with self._data_lock:
            for failure in self._failures:
                if failure.path is None or failure.path == path:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    return failure.reply
        return None

    # --- answering ----------------------------------------------------------

    def _serve_me(self, request: RecordedRequest) -> Reply:
        return self._guarded(
            request, lambda: Reply.json({"id": "fake-user", "name": "Fake"})
        )

    def _serve(self, request: RecordedRequest) -> Reply:
        return self._guarded(request, lambda: self._listing(request))

    def _guarded(self, request: RecordedRequest, answer: Any) -> Reply:
        failure = self._take_failure(request.path)
        if failure is not None:
            return failure
        authenticated, challenge = self._check_auth(request)
        if not authenticated:
            return Reply.json(
                {"error": "unauthorized", "message": "Missing or invalid credentials."},
                401,
                {"WWW-Authenticate": challenge},
            )
        if request.method != "GET":
            return Reply.json({"error": "method_not_allowed"}, 405, {"Allow": "GET"})
        try:
            return answer()
        except _BadRequest as error:
            return Reply.json({"error": "bad_request", "message": str(error)}, 400)

    def _listing(self, request: RecordedRequest) -> Reply:
        collection = request.match.group("collection")
        with self._data_lock:
            if collection not in self.collections:
                body = {
                    "error": "not_found",
                    "message": f"No collection at {request.path}.",
                }
                return Reply.json(body, 404)
            items = copy.deepcopy(self.collections[collection])
            envelope = self.envelopes.get(collection, self.envelope)
        status, headers, body = self._page(request, items, envelope)
        return Reply.json(body, status, headers)

    def _page(
        self,
        request: RecordedRequest,
        items: list[dict[str, Any]],
        envelope: str | None,
    ) -> tuple[int, dict[str, str], Any]:
        style = self.pagination
        params = request.query
        if style == "none":
            return 200, {}, _wrap(items, envelope)
        if style == "offset":
            limit = self._size(params, self.limit_param)
            offset = _int_param(params, self.offset_param, 0, minimum=0)
            return 200, {}, _wrap(items[offset : offset + limit], envelope)
        if style == "cursor":
            size = self._size(params, self.size_param)
            offset = _decode_cursor(params.get(self.cursor_param, [""])[0])
            window = items[offset : offset + size]
            following = offset + size
            next_cursor = _encode_cursor(following) if following < len(items) else None
            body = _wrap(window, envelope or "data")
            _put(body, self.cursor_key, next_cursor)
            return 200, {}, body

        size = self._size(params, self.size_param)
        page = _int_param(
            params, self.page_param, self.first_page, minimum=self.first_page
        )
        start = (page - self.first_page) * size
        window = items[start : start + size]
        last_page = self.first_page + max(0, (len(items) - 1) // size)
        headers: dict[str, str] = {}
        if style == "link":
            headers["Link"] = self._link_header(request, page, last_page)
        elif style == "header_page":
            # GitLab's shape: X-Next-Page is present but empty on the last page.
            headers[self.next_page_header] = str(page + 1) if page < last_page else ""
            headers["X-Page"] = str(page)
            headers["X-Per-Page"] = str(size)
            headers["X-Total"] = str(len(items))
            headers["X-Total-Pages"] = str(last_page - self.first_page + 1)
        return 200, headers, _wrap(window, envelope)

    def _size(self, params: dict[str, list[str]], name: str) -> int:
        size = _int_param(params, name, self.page_size, minimum=1)
        return min(size, self.max_page_size)

    def _link_header(self, request: RecordedRequest, page: int, last_page: int) -> str:
        # Like Canvas, the links leave out a query-string credential.
        secret = self.auth_param if self.auth == "query" else None
        kept = {
            name: values for name, values in request.query.items() if name != secret
        }

        def link(number: int, rel: str) -> str:
            query = urlencode({**kept, self.page_param: [str(number)]}, doseq=True)
            return f'<{self.url_for(request.path)}?{query}>; rel="{rel}"'

        links = [link(page, "current")]
        if page < last_page:
            links.append(link(page + 1, "next"))
        if page > self.first_page:
            links.append(link(page - 1, "prev"))
        links.append(link(self.first_page, "first"))
        links.append(link(last_page, "last"))
        return ", ".join(links)

    # --- credentials --------------------------------------------------------

    def _check_auth(self, request: RecordedRequest) -> tuple[bool, str]:
        """Return whether the credentials are right, and the 401 challenge."""
        authorization = request.header("Authorization") or ""
        if self.auth == "none":
            return True, ""
        if self.auth == "bearer":
            challenge = 'Bearer realm="json-api"'
            if authorization:
                challenge += ', error="invalid_token"'
            return authorization == f"Bearer {self.token}", challenge
        if self.auth == "header":
            sent = request.header(self.auth_header)
            return (
                sent == self.token,
                f'ApiKey realm="json-api", header="{self.auth_header}"',
            )
        if self.auth == "query":
            sent = request.arg(self.auth_param)
            return (
                sent == self.token,
                f'ApiKey realm="json-api", param="{self.auth_param}"',
            )
        return self._basic_ok(authorization), 'Basic realm="json-api", charset="UTF-8"'

    def _basic_ok(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.username}:{self.password}"


class _BadRequest(ValueError):
    """The request's parameters are malformed."""


def _int_param(
    params: dict[str, list[str]], name: str, default: int, *, minimum: int
) -> int:
    values = params.get(name)
    if not values or values[0] == "":
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None
    if value < minimum:
        raise _BadRequest(f"{name} must be at least {minimum}")
    return value


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode("ascii")


def _decode_cursor(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise _BadRequest("invalid cursor") from None
    match = re.fullmatch(r"offset:(\d+)", text)
    if not match:
        raise _BadRequest("invalid cursor")
    return int(match.group(1))


def _wrap(items: list[dict[str, Any]], envelope: str | None) -> Any:
    if not envelope:
        return items
    body: dict[str, Any] = {}
    _put(body, envelope, items)
    return body


def _put(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        body = body.setdefault(key, {})
    body[last] = value


# --- demo data --------------------------------------------------------------


def demo_collections() -> dict[str, list[dict[str, Any]]]:
    """Return a small school: three courses, their work, learners and progress."""
    learners = {
        9001: {"id": 9001, "name": "Ada Byron", "email": "ada@example.edu"},
        9002: {"id": 9002, "name": "Grace Hopper", "email": "grace@example.edu"},
        9003: {"id": 9003, "name": "Alan Turing", "email": "alan@example.edu"},
        9100: {"id": 9100, "name": "Edsger Dijkstra", "email": "edsger@example.edu"},
    }
    courses = [
        {
            "id": 101,
            "name": "Introduction to Biology",
            "course_code": "BIO-101",
            "status": "published",
            "start_at": "2025-09-01T08:00:00Z",
            "end_at": "2025-12-19T17:00:00Z",
            "html_url": "https://lms.example.edu/courses/101",
            "updated_at": "2025-08-20T10:15:00Z",
        },
        {
            "id": 102,
            "name": "Discrete Mathematics",
            "course_code": "MATH-210",
            "status": "published",
            "start_at": "2025-09-01",
            "end_at": None,
            "html_url": "https://lms.example.edu/courses/102",
            "updated_at": "2025-08-22T09:00:00Z",
        },
        {
            "id": 103,
            "name": "History of Computing",
            "course_code": "HIST-150",
            "status": "draft",
            "start_at": None,
            "end_at": None,
            "html_url": "https://lms.example.edu/courses/103",
            "updated_at": "2025-08-25T14:30:00Z",
        },
    ]
    assignments = [
        {
            "id": 201,
            "course_id": 101,
            "name": "Cell structure quiz",
            "due_at": "2025-09-15T23:59:00Z",
            "points_possible": 10,
            "updated_at": "2025-08-21T08:00:00Z",
        },
        {
            "id": 202,
            "course_id": 101,
            "name": "Lab report 1",
            "due_at": "2025-10-01T23:59:00Z",
            "points_possible": 25.5,
            "updated_at": "2025-08-21T08:05:00Z",
        },
        {
            "id": 203,
            "course_id": 102,
            "name": "Proof set 1",
            "due_at": None,
            "points_possible": 20,
            "updated_at": "2025-08-23T12:00:00Z",
        },
        {
            "id": 204,
            "course_id": 102,
            "name": "Midterm",
            "due_at": "2025-10-20T09:00:00Z",
            "points_possible": 100,
            "updated_at": "2025-08-23T12:10:00Z",
        },
    ]
    enrollment_rows = [
        (301, 101, 9001, "student", "active"),
        (302, 101, 9002, "student", "active"),
        (303, 101, 9100, "teacher", "active"),
        (304, 102, 9001, "student", "invited"),
        (305, 102, 9003, "student", "active"),
    ]
    enrollments = [
        {
            "id": enrollment_id,
            "course": {"id": course_id},
            "user": learners[user_id],
            "role": role,
            "enrollment_state": state,
            "updated_at": "2025-08-26T07:00:00Z",
        }
        for enrollment_id, course_id, user_id, role, state in enrollment_rows
    ]
    progress_rows = [
        (401, 101, 9001, 62.5, "C", None),
        (402, 101, 9002, 100, "A", "2025-11-30T16:20:00Z"),
        (403, 102, 9001, 0, "", None),
        (404, 102, 9003, 35, "D", None),
    ]
    progress = [
        {
            "id": progress_id,
            "course": {"id": course_id},
            "user": learners[user_id],
            "percent_complete": percent,
            "grade": grade or None,
            "completed_at": completed_at,
            "updated_at": "2025-12-01T06:00:00Z",
        }
        for progress_id, course_id, user_id, percent, grade, completed_at in progress_rows
    ]
    return {
        "courses": courses,
        "assignments": assignments,
        "enrollments": enrollments,
        "progress": progress,
    }


def main(argv: list[str] | None = None) -> None:
    """Serve the demo data set until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.json_api",
        description="Serve a fake JSON API with demo courses, assignments, enrollments "
        "and progress on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--auth", choices=AUTH_STYLES, default="bearer")
    parser.add_argument(
        "--token", default="demo-token", help="Token (or Basic password)."
    )
    parser.add_argument("--pagination", choices=PAGINATION_STYLES, default="link")
    parser.add_argument(
        "--page-size", type=int, default=2, help="Default items per page."
    )
    args = parser.parse_args(argv)

    fake = JsonApiFake(
        collections=demo_collections(),
        auth=args.auth,
        token=args.token,
        username="demo",
        password=args.token,
        pagination=args.pagination,
        page_size=args.page_size,
        host=args.host,
    )
    fake.listen(args.port)
    print(
        f"JSON API fake on {fake.url} (auth {args.auth}, pagination {args.pagination})"
    )
    for name in fake.collections:
        print(f"  GET {fake.path(name)}")
    if args.auth == "bearer":
        example = fake.collection_url("courses")
        print(f"  try: curl -H 'Authorization: Bearer {args.token}' {example}")
    print("Ctrl-C stops it.", flush=True)
    fake.serve_forever()


if __name__ == "__main__":
    main()
