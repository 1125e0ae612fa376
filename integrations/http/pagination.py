"""Pagination styles the client can follow, each resumable from a cursor.

A style turns a cursor (a JSON-serializable dict, or None for the start) into
the request for that page, and reads from a fetched page the cursor of the
next one (None at the end). A sync stores the cursor with the page's rows,
so a killed sync resumes from the last committed page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from integrations.http.response import HttpResponse


@dataclass(frozen=True)
class PageRequest:
    """Where one page is fetched: a path or absolute URL, and query parameters."""

    url: str
    params: dict[str, Any] | None


@dataclass
class FetchedPage:
    """One fetched page: its items, the response, and the cursor of the next page."""

    items: list[Any]
    response: HttpResponse
    next_cursor: dict[str, Any] | None


def _cursor_value(style: str, cursor: Mapping[str, Any], key: str) -> Any:
    if not isinstance(cursor, Mapping) or key not in cursor:
        raise ValueError(
            f"A {style} cursor must be a dict with a {key!r} key, not {cursor!r}."
        )
    return cursor[key]


def _merged(params: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
    merged = dict(params or {})
    merged.update(extra)
    return merged


def dig(body: Any, path: str) -> tuple[bool, Any]:
    """Return (found, value) for a dotted ``path`` into a JSON body."""
    value = body
    for key in path.split("."):
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return False, None
    return True, value


def extract_items(
    response: HttpResponse, body: Any, items_path: str | None
) -> list[Any]:
    """Return the list of items in ``body`` at ``items_path`` (the body itself if None)."""
    if items_path is None:
        if isinstance(body, list):
            return body
        raise response.invalid(
            f"Expected the response body to be a list of items, got {type(body).__name__}; "
            "pass items_path to name where the list is"
        )

    found, items = dig(body, items_path)
    if not found:
        raise response.invalid(f"The response body has no {items_path!r} (items_path)")
    if not isinstance(items, list):
        raise response.invalid(
            f"Expected a list at {items_path!r} in the response body, "
            f"got {type(items).__name__}"
        )
    return items


class Pagination:
    """Base of the pagination styles; subclasses override both methods."""

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> PageRequest:
        """Return the request that fetches the page ``cursor`` points at."""
        raise NotImplementedError

    def next_cursor(
        self, request: PageRequest, response: HttpResponse, body: Any, items: list[Any]
    ) -> dict[str, Any] | None:
        """Return the cursor of the page after this one, or None at the end."""
        raise NotImplementedError


class LinkHeaderPagination(Pagination):
    """Follow the ``Link`` header's rel="next" URL exactly as the service gave it.

    Canvas, GitHub and GitLab's keyset pagination: page numbers are never
    computed, because some services page by opaque bookmarks.
    """

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> PageRequest:
        """Return the first page's request, or the stored next URL as given."""
        if cursor is None:
            return PageRequest(path, dict(params) if params else None)
        url = _cursor_value("LinkHeaderPagination", cursor, "url")
        if not isinstance(url, str) or not url:
            raise ValueError(
                f"A LinkHeaderPagination cursor's 'url' must be a URL, not {url!r}."
            )
        return PageRequest(url, None)

    def next_cursor(
        self, request: PageRequest, response: HttpResponse, body: Any, items: list[Any]
    ) -> dict[str, Any] | None:
        """Return ``{"url": next}`` from the Link header, or None without one."""
        link = response.links.get("next")
        if not link or not link.get("url"):
            return None
        return {"url": link["url"]}


class PageNumberPagination(Pagination):
    """Ask for page 1, 2, 3, ... until a page comes back short or empty.

    ``size`` must not exceed the service's largest page size: a service that
    silently caps it returns short pages, which read as the last page.
    """

    def __init__(
        self,
        page_param: str = "page",
        size_param: str | None = "per_page",
        size: int = 100,
        start: int = 1,
    ) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(
                f"PageNumberPagination size must be a positive integer, not {size!r}."
            )
        if not isinstance(start, int) or start < 0:
            raise ValueError(
                f"PageNumberPagination start must be 0 or more, not {start!r}."
            )
        self.page_param = page_param
        self.size_param = size_param
        self.size = size
        self.start = start

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> PageRequest:
        """Return the request for the cursor's page (``start`` without one)."""
        page = self.start
        if cursor is not None:
            page = _cursor_value("PageNumberPagination", cursor, "page")
            if not isinstance(page, int) or page < 0:
                raise ValueError(
                    f"A PageNumberPagination cursor's 'page' is not a page: {page!r}"
                )
        extra = {self.page_param: page}
        if self.size_param:
            extra[self.size_param] = self.size
        return PageRequest(path, _merged(params, **extra))

    def next_cursor(
        self, request: PageRequest, response: HttpResponse, body: Any, items: list[Any]
    ) -> dict[str, Any] | None:
        """Return the next page number, or None after an empty page.

        A short page does not end the walk: a service that caps the page size
        below what was asked would otherwise end the pass early, and the
        sync would mark the rows it never saw deleted. It costs one request.
        """
        if not items:
            return None
        return {"page": request.params[self.page_param] + 1}


class OffsetPagination(Pagination):
    """Ask for ``offset``/``limit`` windows until one comes back empty."""

    def __init__(
        self, offset_param: str = "offset", limit_param: str = "limit", limit: int = 100
    ) -> None:
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(
                f"OffsetPagination limit must be a positive integer, not {limit!r}."
            )
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.limit = limit

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> PageRequest:
        """Return the request for the cursor's offset (0 without one)."""
        offset = 0
        if cursor is not None:
            offset = _cursor_value("OffsetPagination", cursor, "offset")
            if not isinstance(offset, int) or offset < 0:
                raise ValueError(
                    f"An OffsetPagination cursor's 'offset' is invalid: {offset!r}"
                )
        extra = {self.offset_param: offset, self.limit_param: self.limit}
        return PageRequest(path, _merged(params, **extra))

    def next_cursor(
        self, request: PageRequest, response: HttpResponse, body: Any, items: list[Any]
    ) -> dict[str, Any] | None:
        """Return the offset after this page's items, or None after an empty page.

        As with page numbers, only an empty window proves the end.
        """
        if not items:
            return None
        return {"offset": request.params[self.offset_param] + len(items)}


class BodyCursorPagination(Pagination):
    """Pass back the token the body names at ``cursor_path`` (Slack, many APIs)."""

    def __init__(
        self, cursor_path: str = "next_cursor", cursor_param: str = "cursor"
    ) -> None:
        if not cursor_path or not cursor_param:
            raise ValueError(
                "BodyCursorPagination needs a cursor_path and a cursor_param."
            )
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> PageRequest:
        """Return the first page's request, or one carrying the stored token."""
        if cursor is None:
            return PageRequest(path, dict(params) if params else None)
        token = _cursor_value("BodyCursorPagination", cursor, "cursor")
        return PageRequest(path, _merged(params, **{self.cursor_param: token}))

    def next_cursor(
        self, request: PageRequest, response: HttpResponse, body: Any, items: list[Any]
    ) -> dict[str, Any] | None:
        """Return ``{"cursor": token}``, or None when the body has no token."""
        found, token = dig(body, self.cursor_path)
        if not found or token is None or token == "" or token is False:
            return None
        if not isinstance(token, str | int) or isinstance(token, bool):
            raise response.invalid(
                f"Expected a string or number at {self.cursor_path!r} (the next-page cursor), "
                f"got {type(token).__name__}"
            )
        return {"cursor": token}


class HeaderPagePagination(Pagination):
    """Follow page numbers the service puts in a header (GitLab's ``X-Next-Page``)."""

    def __init__(
        self, next_page_header: str = "X-Next-Page", page_param: str = "page"
    ) -> None:
        if not next_page_header or not page_param:
            raise ValueError(
                "HeaderPagePagination needs a next_page_header and a page_param."
            )
        self.next_page_header = next_page_header
        self.page_param = page_param

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> PageRequest:
        """Return the first page's request, or the one for the stored page."""
        if cursor is None:
            return PageRequest(path, dict(params) if params else None)
        page = _cursor_value("HeaderPagePagination", cursor, "page")
        return PageRequest(path, _merged(params, **{self.page_param: page}))

    def next_cursor(
        self, request: PageRequest, response: HttpResponse, body: Any, items: list[Any]
    ) -> dict[str, Any] | None:
        """Return ``{"page": value}`` from the header, or None when it is empty."""
        value = (response.headers.get(self.next_page_header) or "").strip()
        if not value:
            return None
        return {"page": value}
