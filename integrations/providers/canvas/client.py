"""Canvas's REST API on the portal's shared HttpClient.

A thin layer: :class:`CanvasApi` names the calls the provider makes, follows
Canvas's ``Link`` pagination through the HTTP layer exactly as given, and
this module supplies the two hooks the HttpClient asks providers for: how
Canvas signals throttling (:class:`CanvasThrottle`) and what its error
answers mean (:func:`map_canvas_error`).

Canvas docs: https://canvas.instructure.com/doc/api/file.pagination.html and
https://canvas.instructure.com/doc/api/file.throttling.html.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from integrations import errors
from integrations.http.pagination import LinkHeaderPagination
from integrations.http.retry import RateLimitSignal
from integrations.redaction import redact_text

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.http.response import HttpResponse

logger = logging.getLogger(__name__)

API = "/api/v1"
#: Canvas's default throttle: a bucket of 700 units leaking 10 a second
#: (Instructure, "API Rate Limiting", Canvas Developers Group).
DEFAULT_QUOTA = 700.0
DEFAULT_REFILL = 10.0
#: Below this share of the quota the client spaces its requests out.
LOW_BUDGET_RATIO = 0.1
LEGACY_THROTTLE_TEXT = "rate limit exceeded"
_MAX_CANVAS_MESSAGE = 300


def float_header(response: HttpResponse, name: str) -> float | None:
    """Return a header as a finite float, or None when absent or unreadable."""
    raw = response.headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_legacy_throttle(response: HttpResponse) -> bool:
    """Tell a throttled 403 (older Canvas) from a real permission refusal."""
    # compat(Canvas before 2025-10): a throttled request got 403 and the body
    # "403 Forbidden (Rate Limit Exceeded)" until Instructure's 2025 API
    # change log moved it to 429; remove once no supported instance does.
    return response.status == 403 and LEGACY_THROTTLE_TEXT in response.text.lower()


@dataclass(frozen=True)
class CanvasThrottle:
    """Read Canvas's throttling headers into the HTTP layer's RateLimitSignal.

    Canvas meters each token with a leaky bucket: ``X-Rate-Limit-Remaining``
    is what is left of ``quota``, which refills at ``refill`` units a
    second. A throttled answer (429, or the legacy 403) is a rate limit to
    wait out: the wait is the time the bucket needs to get back to a tenth
    of the quota. On other answers the quota is reported so the shared
    limiter spaces requests out once less than a tenth is left (it waits the
    time to refill fully, divided by what remains), and pauses every worker
    until a tenth is back when nothing is left.

    A frozen dataclass, so equal settings give an equal hook and the client
    factory keeps reusing the integration's client.
    """

    quota: float = DEFAULT_QUOTA
    refill: float = DEFAULT_REFILL

    def __call__(self, response: HttpResponse) -> RateLimitSignal | None:
        """Return the signal ``response`` carries, or None when it has none."""
        remaining = float_header(response, "X-Rate-Limit-Remaining")
        legacy = is_legacy_throttle(response)
        if legacy or response.status == 429:
            retry_after = None
            if remaining is not None:
                retry_after = self.seconds_to_headroom(remaining)
            return RateLimitSignal(retry_after=retry_after, limited=legacy)
        if remaining is None:
            return None

        now = time.time()
        if remaining <= 0:
            reset_at = now + self.seconds_to_headroom(remaining)
        else:
            reset_at = now + max(0.0, self.quota - remaining) / self.refill
        return RateLimitSignal(remaining=remaining, limit=self.quota, reset_at=reset_at)

    def seconds_to_headroom(self, remaining: float) -> float:
        """Return how long the bucket takes to leak back to a tenth of the quota."""
        headroom = self.quota * LOW_BUDGET_RATIO
        return max(0.0, headroom - remaining) / self.refill


def canvas_message(response: HttpResponse) -> str:
    """Return Canvas's own error text from an error body, redacted and short."""
    try:
        body = response.json()
    except errors.InvalidResponse:
        return ""
    message: Any = ""
    if isinstance(body, dict):
        listed = body.get("errors")
        if isinstance(listed, list) and listed and isinstance(listed[0], dict):
            message = listed[0].get("message", "")
        elif isinstance(listed, dict):
            message = "; ".join(
                f"{key}: {value}" for key, value in sorted(listed.items())
            )
        else:
            message = body.get("error") or body.get("message") or ""
    if not isinstance(message, str):
        message = str(message)
    return redact_text(message)[:_MAX_CANVAS_MESSAGE]


def map_canvas_error(response: HttpResponse) -> errors.IntegrationError | None:
    """Return the typed error a Canvas error answer means (None: the default).

    Canvas answers an invalid or expired token with 401 and a
    ``WWW-Authenticate`` challenge, and a valid token that lacks a right with
    401 and no challenge ("user not authorized to perform that action").
    Throttled answers never reach here: the client reads them as rate limits
    first (see CanvasThrottle).
    """
    status = response.status
    if status < 400 or status >= 500:
        return None

    details: dict[str, Any] = {}
    message = canvas_message(response)
    if message:
        details["canvas_message"] = message
    if status == 401 and "WWW-Authenticate" in response.headers:
        return errors.AuthenticationFailed(
            "Canvas rejected the access token: it is invalid, expired or revoked. "
            "Create a new token in Canvas (Account > Settings > New access token) "
            "and update the integration's access_token credential",
            details=details,
        )
    if status in (401, 403):
        return errors.PermissionDenied(
            "The Canvas user of the access token is not allowed to do this: give "
            "that user an admin role on the account (or a teacher role in the "
            "course), or use another user's token",
            details=details,
        )
    if status == 404:
        return errors.NotFound(
            "Canvas has no such resource: it was deleted, its id is wrong, or the "
            "page link expired",
            details=details,
        )
    return errors.PermanentError(
        "Canvas refused the request as invalid", details=details
    )


@dataclass
class ListPage:
    """One page of a Canvas listing and the URL of the next page (None: last)."""

    items: list[Any]
    next_url: str | None
    response: HttpResponse


class CanvasApi:
    """The Canvas calls the provider makes, on the integration's HttpClient."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def listing(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        url: str | None = None,
        *,
        items_path: str | None = None,
    ) -> Iterator[ListPage]:
        """Yield the pages of a listing from ``url`` (None: the first page).

        ``items_path`` names the key holding the list when Canvas wraps it
        (quiz submissions come as ``{"quiz_submissions": [...]}``).

        Each next page is the ``Link`` header's ``rel="next"`` URL exactly as
        Canvas gave it. A followed link that answers 404 (its page went away
        between two requests, or a stored bookmark expired) restarts the
        listing from the first page once: records are upserted by id, so
        reading some twice changes nothing. A 404 on the first page is the
        listing's own and is raised as NotFound; a second 404 on a followed
        link raises InvalidResponse, so NotFound always means the listing
        itself (the course, the account) is missing.
        """
        restarted = False
        while True:
            following = url is not None
            cursor = {"url": url} if url else None
            try:
                pages = self.http.paginate(
                    path,
                    params=params,
                    pagination=LinkHeaderPagination(),
                    cursor=cursor,
                    items_path=items_path,
                )
                for fetched in pages:
                    next_url = (
                        fetched.next_cursor["url"] if fetched.next_cursor else None
                    )
                    yield ListPage(fetched.items, next_url, fetched.response)
                    following = next_url is not None
                return
            except errors.NotFound as error:
                if not following:
                    raise
                if restarted:
                    # Not the listing that is missing: its pages keep moving.
                    raise errors.InvalidResponse(
                        "Canvas's next-page link answered 404 again after the listing "
                        "was restarted; the data is changing under the sync, run it "
                        "again later",
                        integration=error.integration,
                        method=error.method,
                        url=error.url,
                        status=error.status,
                    ) from error
                restarted = True
                url = None
                logger.warning(
                    "canvas.listing.restarted",
                    extra={"integration": self.http.integration, "path": path},
                )

    def all_items(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """Return every item of a listing (for small listings only)."""
        items: list[Any] = []
        for page in self.listing(path, params):
            items.extend(page.items)
        return items

    def self_user(self) -> tuple[dict[str, Any], HttpResponse]:
        """GET the token's own user: the cheapest authenticated call."""
        response = self.http.request("GET", f"{API}/users/self")
        body = response.json()
        if not isinstance(body, dict) or "id" not in body:
            raise response.invalid("Canvas's /users/self answer has no user id")
        return body, response

    def user_progress(self, course_id: str, user_id: str) -> dict[str, Any] | None:
        """GET one learner's module progress; None when Canvas has none for them."""
        path = f"{API}/courses/{seg(course_id)}/users/{seg(user_id)}/progress"
        try:
            response = self.http.request("GET", path)
        except errors.PermanentError as error:
            # Canvas answers 400 {"error": ...} when the course is not module
            # based or the user is not a student there: no progress to read.
            if error.status == 400:
                return None
            raise
        body = response.json()
        return body if isinstance(body, dict) else None

    def find_assignment(self, course_id: str, name: str) -> dict[str, Any] | None:
        """Return the course's assignment named exactly ``name``, if any."""
        path = f"{API}/courses/{seg(course_id)}/assignments"
        params = {"search_term": name, "per_page": 100}
        for item in self.all_items(path, params):
            if isinstance(item, dict) and item.get("name") == name:
                return item
        return None

    def create_assignment(self, course_id: str, fields: Mapping[str, Any]) -> dict:
        """POST a new assignment (form fields ``assignment[...]``); return it."""
        path = f"{API}/courses/{seg(course_id)}/assignments"
        response = self.http.request("POST", path, data=dict(fields))
        body = response.json()
        if not isinstance(body, dict) or "id" not in body:
            raise response.invalid("Canvas's new assignment answer has no id")
        return body

    def grade(
        self, course_id: str, assignment_id: str, user_id: str, posted_grade: str
    ) -> dict[str, Any]:
        """PUT a learner's grade on an assignment; return the Submission JSON."""
        path = (
            f"{API}/courses/{seg(course_id)}/assignments/{seg(assignment_id)}"
            f"/submissions/{seg(user_id)}"
        )
        response = self.http.request(
            "PUT", path, data={"submission[posted_grade]": posted_grade}
        )
        body = response.json()
        if not isinstance(body, dict):
            raise response.invalid("Canvas's grading answer is not a Submission")
        return body


def seg(value: str) -> str:
    """Return ``value`` quoted as one URL path segment."""
    return quote(str(value), safe="")
