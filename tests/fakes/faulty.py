"""A fake service that fails on demand, the way real services and networks do.

Replies that misbehave (each is a :class:`~tests.fakes.server.Reply`):

- :class:`Reset`: part of a response, then a TCP reset (RST), as when a load
  balancer or a crashed worker drops the connection;
- :class:`Truncated`: a body shorter than its ``Content-Length``, then the
  connection closes;
- :class:`Delayed`: any reply after a pause (read timeouts, slow services);
- :class:`SlowBody`: a body that trickles in chunks.

Builders: :func:`rate_limited` (429 with or without ``Retry-After`` in seconds
or as an HTTP date), :func:`proxy_rate_limited` (the HTML 429 of a rate
limiter in front of a service), :func:`server_error`, :func:`malformed_json`,
:func:`truncated_json`, :func:`redirect`.

:class:`FaultyServer` adds listings in the pagination styles services use
(Link header with opaque bookmarks as Canvas does, page numbers, offsets, a
cursor in the body, GitLab's ``X-Next-Page``) and a resource served with an
ETag that answers 304 to a matching ``If-None-Match``.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
from collections.abc import Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlencode

from tests.fakes.server import FakeServer, RecordedRequest, Reply, links_header


class Reset(Reply):
    """Send the head and part of the body (or nothing), then reset the connection."""

    def __init__(
        self, partial: bytes | None = b'{"items": [1, 2', declared_length: int = 64
    ):
        super().__init__(200, partial or b"", content_type="application/json")
        self.partial = partial
        self.declared_length = declared_length

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        """Write the partial response, then close with SO_LINGER 0 so a RST goes out."""
        if self.partial is not None:
            self.send_head(handler, self.declared_length)
            handler.wfile.write(self.partial)
        connection = handler.connection
        connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        handler.close_connection = True
        # Detaching first leaves the handler's own file objects pointing at a
        # closed socket (harmless errors) rather than at a reused descriptor.
        os.close(connection.detach())


class Truncated(Reply):
    """Declare a longer ``Content-Length`` than the body sent, then hang up."""

    def __init__(self, body: bytes, declared_length: int, status: int = 200) -> None:
        super().__init__(status, body, content_type="application/json")
        self.declared_length = declared_length

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        """Write the short body and close the connection (FIN)."""
        self.send_head(handler, self.declared_length)
        handler.wfile.write(self.body)
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_WR)


class Delayed(Reply):
    """Wait ``seconds`` before sending ``reply`` (the client may time out first)."""

    def __init__(self, seconds: float, reply: Reply | None = None) -> None:
        super().__init__()
        self.seconds = seconds
        self.reply = reply or Reply.json({"ok": True})

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        """Sleep (waking early if the server stops), then send the reply."""
        if not handler.server.fake.sleep(self.seconds):
            handler.close_connection = True
            return
        self.reply.send(handler)


class SlowBody(Reply):
    """Send the head at once and the body in ``chunks`` pieces, ``delay`` apart."""

    def __init__(self, reply: Reply, chunks: int = 4, delay: float = 0.05) -> None:
        super().__init__(reply.status, reply.body, reply.headers)
        self.chunks = chunks
        self.delay = delay

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        """Trickle the body out."""
        self.send_head(handler, len(self.body))
        size = max(1, -(-len(self.body) // self.chunks))
        for start in range(0, len(self.body), size):
            if not handler.server.fake.sleep(self.delay):
                handler.close_connection = True
                return
            handler.wfile.write(self.body[start : start + size])


def http_date(epoch_seconds: float) -> str:
    """Return an IMF-fixdate (RFC 9110), e.g. for ``Retry-After``."""
    return formatdate(epoch_seconds, usegmt=True)


def rate_limited(
    retry_after: float | str | None = None,
    *,
    status: int = 429,
    body: str = '{"errors": [{"message": "Rate Limit Exceeded"}]}',
    headers: dict[str, str] | None = None,
) -> Reply:
    """Return a rate-limit refusal; ``retry_after`` seconds (number) or a date (str)."""
    all_headers = dict(headers or {})
    if retry_after is not None:
        value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        all_headers["Retry-After"] = value
    return Reply(status, body, all_headers, content_type="application/json")


def proxy_rate_limited(retry_after: float | str | None = None) -> Reply:
    """Return the 429 page a rate limiter in front of a service sends.

    nginx's ``limit_req`` (with ``limit_req_status 429``) answers with its
    own HTML error page and no ``Retry-After``; some proxies add one.
    """
    page = (
        "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
        "<center><h1>429 Too Many Requests</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return rate_limited(retry_after, body=page, headers={"Content-Type": "text/html"})


def server_error(status: int = 503, retry_after: float | None = None) -> Reply:
    """Return a 5xx with the HTML page a proxy in front of a service would send."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    page = f"<html><body><h1>{status} Service Unavailable</h1></body></html>"
    return Reply(status, page, headers, content_type="text/html")


def malformed_json() -> Reply:
    """Return a 200 that claims JSON but is an HTML error page."""
    return Reply(200, "<html>Maintenance</html>", content_type="application/json")


def truncated_json() -> Reply:
    """Return a 200 whose JSON stops halfway, with a matching Content-Length."""
    return Reply(200, b'{"items": [{"id": 1}, {"id": ', content_type="application/json")


def redirect(location: str, status: int = 302) -> Reply:
    """Return a redirect to ``location``."""
    return Reply(status, b"", {"Location": location})


def _token(value: int) -> str:
    # Opaque, as real bookmarks are: a client that computes pages breaks.
    return base64.urlsafe_b64encode(f"bookmark:{value}".encode()).decode().rstrip("=")


def _untoken(token: str) -> int:
    padded = token + "=" * (-len(token) % 4)
    return int(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1])


class VersionedResource:
    """A JSON resource with an ETag; a matching If-None-Match gets a 304."""

    def __init__(self, body: Any, etag: str = '"v1"', last_modified: str | None = None):
        self._lock = threading.Lock()
        self.body = body
        self.etag = etag
        self.last_modified = last_modified

    def update(self, body: Any, etag: str) -> None:
        """Change the resource, as an edit on the service would."""
        with self._lock:
            self.body = body
            self.etag = etag

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            body, etag, last_modified = self.body, self.etag, self.last_modified
        headers = {"ETag": etag, "Cache-Control": "private, max-age=0"}
        if last_modified:
            headers["Last-Modified"] = last_modified
        if_none_match = request.header("If-None-Match")
        if if_none_match is not None and etag in [
            tag.strip() for tag in if_none_match.split(",")
        ]:
            return Reply(304, b"", headers)
        return Reply.json(body, headers=headers)


class FaultyServer(FakeServer):
    """A FakeServer with the listings and resources the HTTP layer's tests need."""

    def serve_link_pages(
        self, path: str, items: Sequence[Any], per_page: int = 10
    ) -> None:
        """Serve ``items`` with Canvas-style Link headers and opaque page bookmarks."""

        def handler(request: RecordedRequest) -> Reply:
            size = int(request.arg("per_page") or per_page)
            page = request.arg("page")
            start = _untoken(page) if page else 0
            chunk = list(items[start : start + size])
            query = {
                name: values[0]
                for name, values in request.query.items()
                if name not in ("page", "per_page")
            }

            def page_url(position: int) -> str:
                params = {**query, "page": _token(position), "per_page": size}
                return f"{self.url}{path}?{urlencode(params)}"

            links = [(page_url(start), "current"), (page_url(0), "first")]
            if start + size < len(items):
                links.append((page_url(start + size), "next"))
            if start > 0:
                links.append((page_url(max(0, start - size)), "prev"))
            return Reply.json(chunk, headers={"Link": links_header(links)})

        self.route("GET", path, handler)

    def serve_page_numbers(
        self,
        path: str,
        items: Sequence[Any],
        page_param: str = "page",
        size_param: str = "per_page",
        default_size: int = 20,
        start: int = 1,
    ) -> None:
        """Serve ``items`` by page number and size parameters."""

        def handler(request: RecordedRequest) -> Reply:
            size = int(request.arg(size_param) or default_size)
            page = int(request.arg(page_param) or start)
            offset = (page - start) * size
            return Reply.json(list(items[offset : offset + size]))

        self.route("GET", path, handler)

    def serve_offsets(
        self,
        path: str,
        items: Sequence[Any],
        offset_param: str = "offset",
        limit_param: str = "limit",
        max_limit: int = 100,
    ) -> None:
        """Serve ``items`` in offset/limit windows wrapped as ``{"results": [...]}``."""

        def handler(request: RecordedRequest) -> Reply:
            limit = min(int(request.arg(limit_param) or max_limit), max_limit)
            offset = int(request.arg(offset_param) or 0)
            window = list(items[offset : offset + limit])
            return Reply.json({"count": len(items), "results": window})

        self.route("GET", path, handler)

    def serve_body_cursor(
        self,
        path: str,
        items: Sequence[Any],
        page_size: int = 10,
        cursor_param: str = "cursor",
    ) -> None:
        """Serve ``items`` as ``{"data": [...], "meta": {"next_cursor": token}}``."""

        def handler(request: RecordedRequest) -> Reply:
            token = request.arg(cursor_param)
            start = _untoken(token) if token else 0
            end = start + page_size
            next_cursor = _token(end) if end < len(items) else None
            body = {
                "data": list(items[start:end]),
                "meta": {"next_cursor": next_cursor},
            }
            return Reply.json(body)

        self.route("GET", path, handler)

    def serve_header_pages(
        self, path: str, items: Sequence[Any], per_page: int = 20
    ) -> None:
        """Serve ``items`` with GitLab's X-Page/X-Next-Page/X-Total headers."""

        def handler(request: RecordedRequest) -> Reply:
            size = int(request.arg("per_page") or per_page)
            page = int(request.arg("page") or 1)
            chunk = list(items[(page - 1) * size : page * size])
            total_pages = max(1, -(-len(items) // size))
            headers = {
                "X-Page": str(page),
                "X-Per-Page": str(size),
                "X-Next-Page": str(page + 1) if page < total_pages else "",
                "X-Prev-Page": str(page - 1) if page > 1 else "",
                "X-Total": str(len(items)),
                "X-Total-Pages": str(total_pages),
            }
            return Reply.json(chunk, headers=headers)

        self.route("GET", path, handler)

    def serve_versioned(
        self, path: str, body: Any, etag: str = '"v1"', last_modified: str | None = None
    ) -> VersionedResource:
        """Serve ``body`` with an ETag; return the resource to change it later."""
        resource = VersionedResource(body, etag, last_modified)
        self.route("GET", path, resource)
        return resource
