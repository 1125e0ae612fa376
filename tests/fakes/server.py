"""A real HTTP server on loopback for the fakes of outside services.

Every fake in the project builds on :class:`FakeServer`: it listens on
127.0.0.1 on a free port, answers in threads with HTTP/1.1 keep-alive (as
real services do, so the client's connection pool is exercised), routes
requests to handlers registered per method and path, and logs every request
so tests can assert what the portal sent::

    with FakeServer() as server:
        server.route("GET", "/api/v1/courses", lambda request: Reply.json([...]))
        client = HttpClient(integration="t", base_url=server.url, ...)
        ...
        assert server.count("/api/v1/courses") == 1

A handler receives a :class:`RecordedRequest` and returns a :class:`Reply`
(or a dict/list, sent as JSON). A reply writes itself to the socket, so a
subclass can misbehave on purpose (see ``tests/fakes/faulty.py``).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[["RecordedRequest"], Any]


@dataclass
class RecordedRequest:
    """One request the fake received, as the service would have seen it."""

    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    match: re.Match[str] | None = None
    server: FakeServer | None = field(default=None, repr=False)
    #: Its place in the fake's request log, from 1, given as it arrived.
    number: int = 0

    def arg(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return request header ``name`` (case-insensitive)."""
        return self.headers.get(name, default)

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


class Reply:
    """An HTTP response the fake sends; subclasses may send it differently."""

    def __init__(
        self,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
        *,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        pairs = (
            list(headers.items()) if isinstance(headers, dict) else list(headers or ())
        )
        if content_type and not any(
            name.lower() == "content-type" for name, _ in pairs
        ):
            pairs.append(("Content-Type", content_type))
        self.headers = pairs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}>"

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Reply:
        """Return a reply with ``data`` as a JSON body."""
        body = json.dumps(data).encode("utf-8")
        return cls(
            status, body, headers, content_type="application/json; charset=utf-8"
        )

    @classmethod
    def text(
        cls, text: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> Reply:
        """Return a reply with a plain-text body."""
        return cls(status, text, headers, content_type="text/plain; charset=utf-8")

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        """Write the status line, headers and body to the connection."""
        self.send_head(handler, len(self.body))
        if handler.command != "HEAD":
            handler.wfile.write(self.body)

    def send_head(self, handler: BaseHTTPRequestHandler, content_length: int) -> None:
        """Write the status line and headers, with ``content_length``."""
        handler.send_response(self.status)
        for name, value in self.headers:
            handler.send_header(name, value)
        if not any(name.lower() == "content-length" for name, _ in self.headers):
            handler.send_header("Content-Length", str(content_length))
        handler.end_headers()


def _as_reply(value: Any) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, dict | list):
        return Reply.json(value)
    raise TypeError(f"A fake handler must return a Reply, dict or list, not {value!r}.")


class _Script:
    """Answer each request with the next reply; the last one repeats."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        if not replies:
            raise ValueError("A script needs at least one reply.")
        self._replies = list(replies)
        self._lock = threading.Lock()
        self._next = 0

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            reply = self._replies[min(self._next, len(self._replies) - 1)]
            self._next += 1
        return reply


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on,
    # the body would wait for the client's delayed ACK (about 40 ms a reply).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Tests assert on the request log, not on stderr noise.
        return

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, OSError):
            self.close_connection = True

    def _dispatch(self) -> None:
        self.server.fake._dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-reply are part of the faults under test.
        return


class FakeServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with routes and a request log."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[RecordedRequest] = []
        #: Exceptions raised by handlers (each answered with a 500).
        self.errors: list[BaseException] = []
        self._routes: list[tuple[str, str | re.Pattern[str], Handler]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------

    def start(self) -> FakeServer:
        """Start listening on a free port; return self."""
        if self._server is not None:
            return self
        server = _Server((self.host, 0), _RequestHandler)
        server.fake = self
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-server-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and drop open connections."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        if self._server is None:
            raise RuntimeError("The fake server is not started.")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Return the server's base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def url_for(self, path: str) -> str:
        """Return the absolute URL of ``path`` on this server."""
        return f"{self.url}/{path.lstrip('/')}"

    def sleep(self, seconds: float) -> bool:
        """Sleep in a handler; return False early if the server is stopping."""
        return not self._stopping.wait(seconds)

    # --- routes -------------------------------------------------------------

    def route(
        self, method: str, path: str | re.Pattern[str], handler: Handler | None = None
    ) -> Any:
        """Register ``handler`` for ``method`` ("*" for any) and ``path``.

        ``path`` is an exact path or a compiled pattern matched in full (the
        match is on ``request.match``). A later registration for the same
        method and path replaces the earlier one. Without ``handler``,
        return a decorator.
        """
        if handler is None:

            def decorator(function: Handler) -> Handler:
                self.route(method, path, function)
                return function

            return decorator

        method = method.upper()
        with self._lock:
            self._routes = [
                route
                for route in self._routes
                if (route[0], route[1]) != (method, path)
            ]
            self._routes.append((method, path, handler))
        return handler

    def reply(self, method: str, path: str | re.Pattern[str], *replies: Reply) -> None:
        """Answer ``method`` ``path`` with ``replies`` in turn; the last one repeats."""
        self.route(method, path, _Script(replies))

    # --- the request log ----------------------------------------------------

    def requests_to(
        self, path: str, method: str | None = None
    ) -> list[RecordedRequest]:
        """Return the logged requests for ``path`` (and ``method``), oldest first."""
        with self._lock:
            logged = list(self.requests)
        return [
            request
            for request in logged
            if request.path == path
            and (method is None or request.method == method.upper())
        ]

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Return how many requests arrived (for ``path`` and ``method`` if given)."""
        if path is None:
            with self._lock:
                return len(self.requests)
        return len(self.requests_to(path, method))

    def clear(self) -> None:
        """Forget the logged requests and handler errors."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()

    # --- internals ----------------------------------------------------------

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _find_route(
        self, method: str, path: str
    ) -> tuple[Handler, re.Match[str] | None] | None:
        with self._lock:
            routes = list(reversed(self._routes))
        for route_method, route_path, handler in routes:
            if route_method not in (method, "*"):
                continue
            if isinstance(route_path, re.Pattern):
                match = route_path.fullmatch(path)
                if match:
                    return handler, match
            elif route_path == path:
                return handler, None
        return None

    def _dispatch(self, http: _RequestHandler) -> None:
        body = _read_body(http)
        parts = urlsplit(http.path)
        request = RecordedRequest(
            method=http.command,
            target=http.path,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=http.headers,
            body=body,
            server=self,
        )
        with self._lock:
            self.requests.append(request)
            request.number = len(self.requests)

        found = self._find_route(http.command, parts.path)
        if found is None:
            reply = Reply.json({"error": "no route", "path": parts.path}, status=404)
        else:
            handler, request.match = found
            try:
                reply = _as_reply(handler(request))
            except Exception as error:
                with self._lock:
                    self.errors.append(error)
                reply = Reply.json({"error": type(error).__name__}, status=500)
        try:
            reply.send(http)
        except OSError:
            http.close_connection = True


def _read_body(http: BaseHTTPRequestHandler) -> bytes:
    length = http.headers.get("Content-Length")
    if length:
        return http.rfile.read(int(length))
    if "chunked" in (http.headers.get("Transfer-Encoding") or "").lower():
        chunks = []
        while True:
            size = int(http.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                http.rfile.readline()
                return b"".join(chunks)
            chunks.append(http.rfile.read(size))
            http.rfile.readline()
    return b""


def links_header(links: Iterable[tuple[str, str]]) -> str:
    """Return a ``Link`` header value from (url, rel) pairs."""
    return ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)
