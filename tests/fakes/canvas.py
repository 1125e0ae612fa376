"""A fake Canvas LMS on loopback that answers as Canvas is documented to.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces (see
/work/shared/API_NOTES.md section 1 and the Canvas REST API docs):

- ``Authorization: Bearer <token>``; a missing or wrong token gets ``401``
  with ``WWW-Authenticate: Bearer realm="canvas-lms"`` and
  ``{"errors":[{"message":"Invalid access token."}]}``; a path listed in
  :attr:`CanvasFake.unauthorized` gets the ``401`` Canvas sends for a valid
  token without the right, which has no ``WWW-Authenticate``.
- Pages: ``per_page`` defaults to 10 and is capped at 100; the ``Link``
  header carries absolute URLs with ``rel="current"``, ``"next"`` (absent on
  the last page), ``"first"`` and ``"last"``, and every page token is an
  opaque bookmark (``page=bookmark:WzEwXQ``, base64 of the JSON ``[10]``, the
  last id of the page before), so a client that computes page numbers breaks.
- Throttling: a leaky bucket per token (quota 700, leaking 10 a second, as
  Canvas's defaults); every response carries ``X-Request-Cost`` and
  ``X-Rate-Limit-Remaining`` (floats). Over the quota, or on demand through
  :meth:`CanvasFake.throttle_next`, it answers ``429`` (current Canvas) or,
  with ``throttle_status=403``, the legacy ``403`` whose plain-text body is
  ``403 Forbidden (Rate Limit Exceeded)``.
- The endpoints the portal uses: ``/api/v1/users/self``,
  ``/api/v1/courses``, ``/api/v1/accounts/:id/courses``,
  ``/api/v1/courses/:id/assignments`` (GET with ``search_term``; POST
  creates), ``/api/v1/courses/:id/enrollments`` (``type[]``, ``state[]``,
  ``include[]=email``), ``/api/v1/courses/:id/bulk_user_progress``,
  ``/api/v1/courses/:id/users/:user_id/progress`` and
  ``PUT /api/v1/courses/:id/assignments/:id/submissions/:user_id`` with
  ``submission[posted_grade]`` (form or JSON), answering the Submission JSON
  or ``400 {"error": ...}``, and ``GET /api/v1/courses/:id/students/
  submissions`` (``student_ids[]``, ``assignment_ids[]``,
  ``workflow_state``, ``include[]=user``) listing one submission per student
  and published assignment, unsubmitted placeholders included.
- Classic quizzes: ``/api/v1/courses/:id/quizzes`` (the course's active
  quizzes, Quiz JSON) and ``/api/v1/courses/:id/quizzes/:id/submissions``,
  whose pages are wrapped as ``{"quiz_submissions": [...]}`` and carry the
  same ``Link`` header; one QuizSubmission per learner and quiz, as
  Canvas keeps them (``add_quiz``, ``add_quiz_submission``). A graded quiz
  (``quiz_type`` assignment or graded_survey) has an ``assignment_id`` and
  each of its QuizSubmissions a ``submission_id``: the assignment
  Submission, posted by default as under Canvas's automatic post policy
  (``posted_at=None`` or ``post_quiz_grade`` for a manual one).
  ``include[]=submission`` adds the page's Submissions as ``"submissions"``
  beside ``"quiz_submissions"``, as Canvas's quiz_submissions_json does.
  These Submissions are kept apart from the assignments' (the quiz's
  assignment is not listed by the assignments endpoints here), and their
  score does not follow a regrade of the QuizSubmission.

Tests change the data between syncs (``add_*``, ``update_*``, ``delete_*``),
script faults (:meth:`CanvasFake.inject`), and count requests (FakeServer's
``count`` and ``requests_to``). Assumption, not from Canvas's docs: the body
of a ``429`` is the plain text ``429 Too Many Requests (Rate Limit
Exceeded)``; clients should not rely on it.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakes.oauth import (
    RFC6749_ERRORS,
    AuthorizationServer,
    OAuthClient,
    OAuthUser,
    TokenIssue,
    bearer_token,
)
from tests.fakes.server import FakeServer, RecordedRequest, Reply, links_header

FIXTURES = Path(__file__).resolve().parents[1] / "providers" / "canvas" / "fixtures"

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
LEGACY_THROTTLE_BODY = "403 Forbidden (Rate Limit Exceeded)"
THROTTLE_BODY = "429 Too Many Requests (Rate Limit Exceeded)"

# Values of the enrollments endpoint's state[] filter (enrollments_api docs).
ENROLLMENT_STATES = (
    "active",
    "invited",
    "creation_pending",
    "deleted",
    "rejected",
    "completed",
    "inactive",
)
COURSE_STATES = ("unpublished", "available", "completed", "deleted")
# The account courses endpoint filters by stored states; created and claimed
# are what the course JSON shows as "unpublished".
ACCOUNT_COURSE_STATES = {
    "created": "unpublished",
    "claimed": "unpublished",
    "available": "available",
    "completed": "completed",
    "deleted": "deleted",
}
LETTER_GRADES = {"A": 94, "A-": 90, "B+": 87, "B": 84, "B-": 80, "C+": 77}
LETTER_GRADES.update({"C": 74, "C-": 70, "D+": 67, "D": 64, "D-": 61, "F": 0})
_CENT = Decimal("0.01")


class _BadRequest(Exception):
    """A request Canvas would refuse with 400; the message is Canvas's error."""


@dataclass
class Injected:
    """A reply given instead of the real one to the next matching requests."""

    reply: Reply
    path: re.Pattern[str] | None = None
    method: str | None = None
    links_only: bool = False
    remaining: int = 1

    def matches(self, request: RecordedRequest) -> bool:
        """Tell whether ``request`` is one this fault applies to."""
        if self.method and request.method != self.method:
            return False
        if self.path and not self.path.fullmatch(request.path):
            return False
        return not self.links_only or bool(request.arg("page"))


def load_fixture(name: str) -> Any:
    """Return the parsed JSON of tests/providers/canvas/fixtures/<name>."""
    return json.loads((FIXTURES / name).read_text())


def bookmark(values: list[Any]) -> str:
    """Return an opaque Canvas-style page token for the bookmark ``values``."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return "bookmark:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_bookmark(token: str) -> list[Any]:
    """Return the values a page token carries; raise _BadRequest if it is bad."""
    if not token.startswith("bookmark:"):
        raise _BadRequest("invalid page parameter")
    encoded = token.removeprefix("bookmark:")
    try:
        values = json.loads(
            base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        )
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _BadRequest("invalid page parameter") from None
    if not isinstance(values, list):
        raise _BadRequest("invalid page parameter")
    return values


class _Collection:
    """Items by id, kept in id order for bookmark paging (bisect, no resort)."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self.by_id: dict[int, dict[str, Any]] = {}
        self._ids: list[int] = []
        for item in items:
            self.put(item)

    def put(self, item: dict[str, Any]) -> None:
        item_id = item["id"]
        if item_id not in self.by_id:
            bisect.insort(self._ids, item_id)
        self.by_id[item_id] = item

    def remove(self, item_id: int) -> dict[str, Any]:
        item = self.by_id.pop(item_id)
        self._ids.remove(item_id)
        return item

    def ordered(self) -> list[dict[str, Any]]:
        return [self.by_id[item_id] for item_id in self._ids]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.by_id

    def __len__(self) -> int:
        return len(self._ids)


class _Grouped(_Collection):
    """A collection also kept per course, so a course's listing reads only it."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self.groups: dict[int, _Collection] = {}
        super().__init__(items)

    def put(self, item: dict[str, Any]) -> None:
        super().put(item)
        self.groups.setdefault(item["course_id"], _Collection()).put(item)

    def remove(self, item_id: int) -> dict[str, Any]:
        item = super().remove(item_id)
        self.groups[item["course_id"]].remove(item_id)
        return item

    def of_course(self, course_id: int) -> list[dict[str, Any]]:
        group = self.groups.get(course_id)
        return group.ordered() if group is not None else []


class CanvasFake(FakeServer):
    """Canvas's REST API on 127.0.0.1 for the portal's tests; a context manager.

    ``self_user`` is the token's user (``GET /api/v1/users/self``);
    ``my_course_ids`` limits what ``GET /api/v1/courses`` lists (None: every
    course), as Canvas lists only the courses the token's user is enrolled
    in. Plain attributes a test may change while it runs: ``token``,
    ``unauthorized`` (path patterns a valid token may not read),
    ``accounts``, and the throttle's ``quota``, ``outflow`` (per second),
    ``request_cost``, ``throttle_status`` (429 or 403) and ``throttling``.
    """

    def __init__(
        self,
        *,
        token: str = "canvas-test-token",
        courses: Iterable[dict[str, Any]] = (),
        assignments: Iterable[dict[str, Any]] = (),
        enrollments: Iterable[dict[str, Any]] = (),
        module_progress: dict[tuple[int, int], dict[str, Any]] | None = None,
        self_user: dict[str, Any] | None = None,
        my_course_ids: Iterable[int] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.token = token
        self.self_user = copy.deepcopy(self_user or load_fixture("user_self.json"))
        self.my_course_ids = set(my_course_ids) if my_course_ids is not None else None
        self.unauthorized: list[re.Pattern[str]] = []
        #: Accounts that exist even without courses (the root account, 1).
        self.accounts: set[int] = {1}
        #: Throttling: a leaky bucket of ``quota`` leaking ``outflow`` a second.
        self.quota = 700.0
        self.outflow = 10.0
        self.request_cost = 0.25
        self.throttle_status = 429
        self.throttling = True
        self._bucket = 0.0
        self._bucket_at = time.monotonic()
        self._forced_throttles: list[dict[str, Any]] = []
        self._injected: list[Injected] = []
        self._held: tuple[int, threading.Event, threading.Event] | None = None
        self._data_lock = threading.RLock()
        self.courses = _Collection(copy.deepcopy(list(courses)))
        # Filtered course listings by (account, states), valid until a course
        # changes: a listing of many courses is then not filtered per page.
        self._course_listings: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self.assignments = _Grouped(copy.deepcopy(list(assignments)))
        self.users: dict[int, dict[str, Any]] = {}
        self.enrollments = _Grouped()
        for item in copy.deepcopy(list(enrollments)):
            self._store_enrollment(item)
        self.module_progress = copy.deepcopy(module_progress or {})
        self.submissions: dict[tuple[int, int], dict[str, Any]] = {}
        #: Classic quizzes by course, and each quiz's QuizSubmissions.
        self.quizzes = _Grouped()
        self.quiz_submissions: dict[int, _Collection] = {}
        #: The assignment Submissions behind graded quizzes' QuizSubmissions.
        self.quiz_grades: dict[int, dict[str, Any]] = {}
        self._next_id = 900000
        self.route("*", re.compile(r"/api/v1/(?P<rest>.*)"), self._serve)

    @classmethod
    def school(cls, **options: Any) -> CanvasFake:
        """Return a fake serving the fixtures: five courses, their work and people."""
        progress = {
            (int(course_id), entry["id"]): entry["progress"]
            for course_id, entries in load_fixture("bulk_user_progress.json").items()
            for entry in entries
        }
        return cls(
            courses=load_fixture("courses.json"),
            assignments=load_fixture("assignments.json"),
            enrollments=load_fixture("enrollments.json"),
            module_progress=progress,
            **options,
        )

    @property
    def base_url(self) -> str:
        """Return the root URL an integration's base_url points at."""
        return self.url

    # --- data, changed by tests between syncs --------------------------------

    def add_course(self, **fields: Any) -> dict[str, Any]:
        """Add a course (Canvas Course JSON); return it."""
        course = {
            "id": fields.pop("id", None) or self._new_id(),
            "name": "New course",
            "course_code": "NEW",
            "account_id": 1,
            "root_account_id": 1,
            "workflow_state": "available",
            "start_at": None,
            "end_at": None,
            "created_at": "2025-08-01T00:00:00Z",
            "enrollment_term_id": 1,
        }
        course.update(fields)
        with self._data_lock:
            self.courses.put(course)
            self._course_listings.clear()
        return copy.deepcopy(course)

    def update_course(self, course_id: int, **changes: Any) -> None:
        """Change fields of a course (``workflow_state="deleted"`` deletes it)."""
        with self._data_lock:
            self.courses.by_id[course_id].update(changes)
            self._course_listings.clear()

    def remove_course(self, course_id: int) -> None:
        """Drop a course entirely, as if it never existed (404 from then on)."""
        with self._data_lock:
            self.courses.remove(course_id)
            self._course_listings.clear()

    def add_assignment(self, course_id: int, **fields: Any) -> dict[str, Any]:
        """Add an assignment to a course; return it."""
        assignment = {
            "id": fields.pop("id", None) or self._new_id(),
            "course_id": course_id,
            "name": "New assignment",
            "due_at": None,
            "points_possible": 10.0,
            "grading_type": "points",
            "published": True,
            "workflow_state": "published",
            "submission_types": ["online_upload"],
            "created_at": "2025-08-01T00:00:00Z",
            "updated_at": "2025-08-01T00:00:00Z",
        }
        assignment.update(fields)
        with self._data_lock:
            self.assignments.put(assignment)
        return copy.deepcopy(assignment)

    def update_assignment(self, assignment_id: int, **changes: Any) -> None:
        """Change fields of an assignment."""
        with self._data_lock:
            self.assignments.by_id[assignment_id].update(changes)

    def delete_assignment(self, assignment_id: int) -> None:
        """Delete an assignment: Canvas stops listing it."""
        with self._data_lock:
            self.assignments.remove(assignment_id)

    def add_user(self, user_id: int, name: str, email: str | None = None) -> None:
        """Add a user that enrollments can refer to."""
        first, _, last = name.partition(" ")
        with self._data_lock:
            self.users[user_id] = {
                "id": user_id,
                "name": name,
                "created_at": "2025-01-01T00:00:00Z",
                "sortable_name": f"{last}, {first}" if last else name,
                "short_name": name,
                "sis_user_id": None,
                "integration_id": None,
                "login_id": email or f"user{user_id}",
                "email": email,
            }

    def add_enrollment(
        self,
        course_id: int,
        user_id: int,
        type: str = "StudentEnrollment",
        state: str = "active",
        **fields: Any,
    ) -> dict[str, Any]:
        """Enroll a known user in a course; return the enrollment."""
        enrollment = {
            "id": fields.pop("id", None) or self._new_id(),
            "course_id": course_id,
            "user_id": user_id,
            "type": type,
            "role": type,
            "enrollment_state": state,
            "course_section_id": course_id * 10,
            "root_account_id": 1,
            "created_at": "2025-08-01T00:00:00Z",
            "updated_at": "2025-08-01T00:00:00Z",
        }
        if type == "StudentEnrollment":
            enrollment["grades"] = {
                "html_url": f"{self.url}/courses/{course_id}/grades/{user_id}",
                "current_grade": None,
                "current_score": None,
                "final_grade": None,
                "final_score": 0.0,
            }
        enrollment.update(fields)
        with self._data_lock:
            self._store_enrollment(enrollment)
        return copy.deepcopy(enrollment)

    def update_enrollment(self, enrollment_id: int, **changes: Any) -> None:
        """Change fields of an enrollment (``enrollment_state``, ``grades``)."""
        with self._data_lock:
            self.enrollments.by_id[enrollment_id].update(changes)

    def remove_enrollment(self, enrollment_id: int) -> None:
        """Drop an enrollment entirely (Canvas no longer lists it)."""
        with self._data_lock:
            self.enrollments.remove(enrollment_id)

    def set_grades(self, course_id: int, user_id: int, **grades: Any) -> None:
        """Set the ``grades`` of a learner's student enrollments in a course."""
        with self._data_lock:
            for enrollment in self.enrollments.of_course(course_id):
                if (
                    enrollment["user_id"] == user_id
                    and enrollment["type"] == "StudentEnrollment"
                ):
                    enrollment.setdefault("grades", {}).update(grades)

    def set_module_progress(
        self,
        course_id: int,
        user_id: int,
        requirement_count: int,
        requirement_completed_count: int,
        completed_at: str | None = None,
    ) -> None:
        """Set a learner's module progress (what CourseProgress reports)."""
        with self._data_lock:
            self.module_progress[(course_id, user_id)] = {
                "requirement_count": requirement_count,
                "requirement_completed_count": requirement_completed_count,
                "next_requirement_url": None,
                "completed_at": completed_at,
            }

    def submit(
        self,
        assignment_id: int,
        user_id: int,
        submitted_at: str = "2025-09-14T18:00:00Z",
        **fields: Any,
    ) -> dict[str, Any]:
        """Hand in a learner's work: the next attempt, workflow_state submitted."""
        with self._data_lock:
            submission = self._submission(assignment_id, user_id)
            submission.update(
                {
                    "workflow_state": "submitted",
                    "submitted_at": submitted_at,
                    "attempt": (submission["attempt"] or 0) + 1,
                    "submission_type": "online_upload",
                    "grade_matches_current_submission": submission["grade"] is None,
                    "missing": False,
                }
            )
            submission.update(fields)
            return copy.deepcopy(submission)

    def update_submission(
        self, assignment_id: int, user_id: int, **changes: Any
    ) -> None:
        """Change fields of a learner's submission (grade, score, workflow_state).

        Grading posts the grade at once, as under Canvas's default automatic
        post policy; pass ``posted_at=None`` for a manual policy's unposted
        grade.
        """
        with self._data_lock:
            submission = self._submission(assignment_id, user_id)
            graded = changes.get("workflow_state") == "graded"
            if graded and "posted_at" not in changes and not submission["posted_at"]:
                changes = {**changes, "posted_at": "2025-12-01T12:00:00Z"}
            submission.update(changes)

    def _submission(self, assignment_id: int, user_id: int) -> dict[str, Any]:
        """Return the stored submission, creating Canvas's unsubmitted placeholder.

        Canvas keeps one submission per student and assignment from the start
        (workflow_state unsubmitted); its id stays the same over attempts.
        """
        key = (assignment_id, user_id)
        if key not in self.submissions:
            assignment = self.assignments.by_id[assignment_id]
            course_id = assignment["course_id"]
            self.submissions[key] = {
                "id": self._new_id(),
                "assignment_id": assignment_id,
                "user_id": user_id,
                "grader_id": None,
                "attempt": None,
                "body": None,
                "grade": None,
                "score": None,
                "entered_grade": None,
                "entered_score": None,
                "grade_matches_current_submission": True,
                "graded_at": None,
                "posted_at": None,
                "submission_type": None,
                "submitted_at": None,
                "url": None,
                "workflow_state": "unsubmitted",
                "excused": False,
                "late": False,
                "missing": False,
                "late_policy_status": None,
                "points_deducted": None,
                "seconds_late": 0,
                "extra_attempts": None,
                "redo_request": False,
                "html_url": f"{self.url}/courses/{course_id}/assignments/"
                f"{assignment_id}/submissions/{user_id}",
                "preview_url": f"{self.url}/courses/{course_id}/assignments/"
                f"{assignment_id}/submissions/{user_id}?preview=1",
            }
        return self.submissions[key]

    def course_ids(self) -> list[int]:
        """Return the ids of every course, in id order."""
        with self._data_lock:
            return [course["id"] for course in self.courses.ordered()]

    def enrollment_items(self) -> list[dict[str, Any]]:
        """Return a copy of every enrollment, in id order."""
        with self._data_lock:
            return copy.deepcopy(self.enrollments.ordered())

    def assignment_items(self) -> list[dict[str, Any]]:
        """Return a copy of every assignment, in id order."""
        with self._data_lock:
            return copy.deepcopy(self.assignments.ordered())

    def course_items(self) -> list[dict[str, Any]]:
        """Return a copy of every course, in id order."""
        with self._data_lock:
            return copy.deepcopy(self.courses.ordered())

    def _store_enrollment(self, enrollment: dict[str, Any]) -> None:
        user = enrollment.pop("user", None)
        if user is not None and enrollment["user_id"] not in self.users:
            self.users[enrollment["user_id"]] = user
        self.enrollments.put(enrollment)

    def _new_id(self) -> int:
        with self._data_lock:
            self._next_id += 1
            return self._next_id

    def set_remaining(self, remaining: float) -> None:
        """Fill the token's bucket so that ``remaining`` of the quota is left."""
        with self._data_lock:
            self._bucket = self.quota - remaining
            self._bucket_at = time.monotonic()

    # --- faults -------------------------------------------------------------

    def inject(
        self,
        reply: Reply,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        links_only: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``reply``.

        ``path`` is a regular expression matched against the whole path;
        ``links_only`` limits the fault to requests that follow a ``Link``
        (they carry a ``page`` token), e.g. a page that disappeared.
        """
        pattern = re.compile(path) if path else None
        with self._data_lock:
            self._injected.append(
                Injected(reply, pattern, method and method.upper(), links_only, times)
            )

    def hold(self, request_number: int) -> tuple[threading.Event, threading.Event]:
        """Hold the ``request_number``-th request (1-based) open until released.

        Return ``(reached, release)``: ``reached`` is set when that request
        arrives; it is answered once ``release`` is set (or after 30 s). A
        test kills the client process in between.
        """
        reached, release = threading.Event(), threading.Event()
        with self._data_lock:
            self._held = (request_number, reached, release)
        return reached, release

    def clear_faults(self) -> None:
        """Drop every injected fault and forced throttle still pending."""
        with self._data_lock:
            self._injected.clear()
            self._forced_throttles.clear()

    def throttle_next(
        self,
        times: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        remaining: float = -1.5,
    ) -> None:
        """Throttle the next ``times`` requests (429, or 403 when ``status=403``)."""
        with self._data_lock:
            self._forced_throttles.append(
                {
                    "remaining": times,
                    "status": status or self.throttle_status,
                    "retry_after": retry_after,
                    "quota_left": remaining,
                }
            )

    # --- answering ----------------------------------------------------------

    def _serve(self, request: RecordedRequest) -> Reply:
        held = self._held
        # The request's own number, not the log's length: requests that
        # arrive together would otherwise both miss the one to hold.
        if held is not None and request.number == held[0]:
            held[1].set()
            held[2].wait(30)
        injected = self._take_injected(request)
        if injected is not None:
            return self._with_quota_headers(injected, self._remaining())
        if not self._authenticated(request):
            reply = Reply.json(
                INVALID_TOKEN, 401, {"WWW-Authenticate": 'Bearer realm="canvas-lms"'}
            )
            return self._with_quota_headers(reply, self._remaining())

        throttled, remaining = self._charge()
        if throttled is not None:
            return self._with_quota_headers(throttled, remaining)
        if any(pattern.fullmatch(request.path) for pattern in self.unauthorized):
            return self._with_quota_headers(Reply.json(UNAUTHORIZED, 401), remaining)
        try:
            with self._data_lock:
                reply = self._route(request)
        except _BadRequest as error:
            reply = Reply.json({"error": str(error)}, 400)
        except KeyError:
            reply = Reply.json(NOT_FOUND, 404)
        return self._with_quota_headers(reply, remaining)

    def _authenticated(self, request: RecordedRequest) -> bool:
        """Tell whether the request carries a token this Canvas accepts."""
        return request.header("Authorization") == f"Bearer {self.token}"

    def _self_user_for(self, request: RecordedRequest) -> dict[str, Any]:
        """Return the User JSON of the request's token (``users/self``)."""
        return self.self_user

    def _course_ids_for(self, request: RecordedRequest) -> Iterable[int] | None:
        """Return the courses the token's user is enrolled in (None: all)."""
        return self.my_course_ids

    def _take_injected(self, request: RecordedRequest) -> Reply | None:
        with self._data_lock:
            for fault in self._injected:
                if fault.matches(request):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._injected.remove(fault)
                    return fault.reply
        return None

    def _remaining(self) -> float:
        with self._data_lock:
            self._leak()
            return self.quota - self._bucket

    def _leak(self) -> None:
        now = time.monotonic()
        self._bucket = max(0.0, self._bucket - (now - self._bucket_at) * self.outflow)
        self._bucket_at = now

    def _charge(self) -> tuple[Reply | None, float]:
        """Charge one request; return the throttle reply (or None) and the quota left."""
        with self._data_lock:
            self._leak()
            if self._forced_throttles:
                forced = self._forced_throttles[0]
                forced["remaining"] -= 1
                if forced["remaining"] <= 0:
                    self._forced_throttles.pop(0)
                reply = self._throttle_reply(forced["status"], forced["retry_after"])
                return reply, forced["quota_left"]
            if self.throttling and self._bucket + self.request_cost > self.quota:
                return self._throttle_reply(self.throttle_status, None), (
                    self.quota - self._bucket
                )
            self._bucket += self.request_cost
            return None, self.quota - self._bucket

    def _throttle_reply(self, status: int, retry_after: float | None) -> Reply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        body = LEGACY_THROTTLE_BODY if status == 403 else THROTTLE_BODY
        return Reply.text(body, status, headers)

    def _with_quota_headers(self, reply: Reply, remaining: float) -> Reply:
        headers = [
            (name, value)
            for name, value in reply.headers
            if name.lower() not in ("x-request-cost", "x-rate-limit-remaining")
        ]
        headers.append(("X-Request-Cost", f"{self.request_cost:.4f}"))
        headers.append(("X-Rate-Limit-Remaining", f"{remaining:.4f}"))
        sent = Reply(reply.status, reply.body, headers)
        if type(reply) is Reply:
            return sent
        # A misbehaving reply (reset, truncated) keeps its own way of sending.
        reply.headers = headers
        return reply

    def _route(self, request: RecordedRequest) -> Reply:
        rest = request.match.group("rest").rstrip("/")
        method = request.method
        parts = rest.split("/")
        if method == "GET" and rest == "users/self":
            return Reply.json(self._self_user_for(request))
        if method == "GET" and rest == "courses":
            return self._list_courses(request, account_id=None)
        if method == "GET" and len(parts) == 3 and parts[0] == "accounts":
            if parts[2] == "courses":
                return self._list_courses(request, account_id=_int(parts[1]))
        if len(parts) >= 3 and parts[0] == "courses":
            course = self._course(parts[1])
            return self._course_route(request, method, course, parts[2:])
        raise KeyError(rest)

    def _course_route(
        self,
        request: RecordedRequest,
        method: str,
        course: dict[str, Any],
        parts: list[str],
    ) -> Reply:
        if parts == ["assignments"] and method == "GET":
            return self._list_assignments(request, course)
        if parts == ["assignments"] and method == "POST":
            return self._create_assignment(request, course)
        if parts == ["enrollments"] and method == "GET":
            return self._list_enrollments(request, course)
        if parts == ["students", "submissions"] and method == "GET":
            return self._list_student_submissions(request, course)
        if parts and parts[0] == "quizzes" and method == "GET":
            return self._quiz_route(request, course, parts[1:])
        if parts == ["bulk_user_progress"] and method == "GET":
            return self._bulk_user_progress(request, course)
        if len(parts) == 3 and parts[0] == "users" and parts[2] == "progress":
            return self._user_progress(course, _int(parts[1]))
        if (
            method == "PUT"
            and len(parts) == 4
            and parts[0] == "assignments"
            and parts[2] == "submissions"
        ):
            return self._grade(request, course, _int(parts[1]), _int(parts[3]))
        raise KeyError("/".join(parts))

    def _course(self, raw_id: str) -> dict[str, Any]:
        course = self.courses.by_id[_int(raw_id)]
        if course["workflow_state"] == "deleted":
            raise KeyError(raw_id)
        return course

    # --- listings -----------------------------------------------------------

    def _list_courses(self, request: RecordedRequest, account_id: int | None) -> Reply:
        states = request.query.get("state[]", [])
        if account_id is not None:
            if account_id not in self.accounts and not any(
                account_id in (c.get("account_id"), c.get("root_account_id"))
                for c in self.courses.ordered()
            ):
                raise KeyError(account_id)
            if "all" in states:
                states = list(ACCOUNT_COURSE_STATES)
            wanted = {
                ACCOUNT_COURSE_STATES[state]
                for state in states or ("created", "claimed", "available", "completed")
                if state in ACCOUNT_COURSE_STATES
            }
        else:
            wanted = set(states) & set(COURSE_STATES) or {
                "unpublished",
                "available",
                "completed",
            }
        with_term = "term" in request.query.get("include[]", [])
        my_course_ids = self._course_ids_for(request)
        mine = None if my_course_ids is None else frozenset(my_course_ids)
        key = (account_id, frozenset(wanted), mine)
        items = self._course_listings.get(key)
        if items is None:
            items = [
                course
                for course in self.courses.ordered()
                if course["workflow_state"] in wanted
                and (
                    account_id
                    in (course.get("account_id"), course.get("root_account_id"))
                    if account_id is not None
                    else mine is None or course["id"] in mine
                )
            ]
            self._course_listings[key] = items

        def shown(course: dict[str, Any]) -> dict[str, Any]:
            item = copy.deepcopy(course)
            if not with_term:
                item.pop("term", None)
            return item

        return self._page(request, items, shown)

    def _list_assignments(
        self, request: RecordedRequest, course: dict[str, Any]
    ) -> Reply:
        search = (request.arg("search_term") or "").strip().lower()
        if search and len(search) < 2:
            raise _BadRequest("search_term of 2 or more characters is required")
        items = [
            assignment
            for assignment in self.assignments.of_course(course["id"])
            if not search or search in assignment["name"].lower()
        ]
        return self._page(request, items, copy.deepcopy)

    def _list_enrollments(
        self, request: RecordedRequest, course: dict[str, Any]
    ) -> Reply:
        types = set(request.query.get("type[]", []))
        states = set(request.query.get("state[]", [])) or {"active", "invited"}
        unknown = states - set(ENROLLMENT_STATES)
        if unknown:
            raise _BadRequest(f"invalid state {sorted(unknown)[0]}")
        with_email = "email" in request.query.get("include[]", [])
        # user_id filters to one user; "self" is the token's own user, which
        # works "independent of whether the user has permission to view
        # other people on the roster" (Canvas Enrollments API).
        only_user = request.arg("user_id")
        if only_user == "self":
            only_user = str(self._self_user_for(request)["id"])
        items = [
            enrollment
            for enrollment in self.enrollments.of_course(course["id"])
            if (not types or enrollment["type"] in types)
            and enrollment["enrollment_state"] in states
            and (only_user is None or str(enrollment["user_id"]) == only_user)
        ]

        def shown(enrollment: dict[str, Any]) -> dict[str, Any]:
            item = copy.deepcopy(enrollment)
            user = copy.deepcopy(self.users[enrollment["user_id"]])
            if not with_email:
                user.pop("email", None)
            item["user"] = user
            return item

        return self._page(request, items, shown)

    def _list_student_submissions(
        self, request: RecordedRequest, course: dict[str, Any]
    ) -> Reply:
        """List submissions for multiple assignments (``students/submissions``).

        As SubmissionsApiController#for_students: ``student_ids[]=all`` is
        every student of the course (enrollments not deleted), any other
        list only those ids (without it: the caller, who has none here); only
        published assignments, ``assignment_ids[]`` narrowing them (an id
        that is not one answers 403 ``invalid assignment ids requested``);
        ``workflow_state`` filters; ordered by submission id, paged with
        bookmarks. ``include[]=user`` adds the user without an email
        (assumed: Canvas shows a user's email only with the right to read
        it).
        """
        students = request.query.get("student_ids[]", [])
        enrolled = sorted(
            {
                enrollment["user_id"]
                for enrollment in self.enrollments.of_course(course["id"])
                if enrollment["type"] == "StudentEnrollment"
                and enrollment["enrollment_state"] != "deleted"
            }
        )
        if "all" not in students:
            wanted = {_int(value) for value in students}
            enrolled = [user_id for user_id in enrolled if user_id in wanted]
        assignments = [
            assignment
            for assignment in self.assignments.of_course(course["id"])
            if assignment.get("published")
        ]
        asked = request.query.get("assignment_ids[]", [])
        if asked:
            known = {assignment["id"] for assignment in assignments}
            if not {_int(value) for value in asked} <= known:
                return Reply.json({"error": "invalid assignment ids requested"}, 403)
            assignments = [a for a in assignments if str(a["id"]) in asked]
        state = request.arg("workflow_state")
        items = sorted(
            (
                self._submission(assignment["id"], user_id)
                for assignment in assignments
                for user_id in enrolled
            ),
            key=lambda item: item["id"],
        )
        if state:
            items = [item for item in items if item["workflow_state"] == state]
        with_user = "user" in request.query.get("include[]", [])

        def shown(submission: dict[str, Any]) -> dict[str, Any]:
            item = copy.deepcopy(submission)
            if with_user:
                user = copy.deepcopy(self.users[submission["user_id"]])
                user.pop("email", None)
                item["user"] = user
            return item

        return self._page(request, items, shown)

    def _bulk_user_progress(
        self, request: RecordedRequest, course: dict[str, Any]
    ) -> Reply:
        user_ids = sorted(
            {
                enrollment["user_id"]
                for enrollment in self.enrollments.of_course(course["id"])
                if enrollment["type"] == "StudentEnrollment"
                and enrollment["enrollment_state"] in ("active", "invited", "completed")
            }
        )
        items = []
        for user_id in user_ids:
            user = self.users[user_id]
            items.append(
                {
                    "id": user_id,
                    "display_name": user["short_name"],
                    "avatar_image_url": f"{self.url}/images/messages/avatar-50.png",
                    "html_url": f"{self.url}/courses/{course['id']}/users/{user_id}",
                    "pronouns": None,
                    "progress": copy.deepcopy(self._progress_of(course["id"], user_id)),
                }
            )
        return self._page(request, items)

    def _user_progress(self, course: dict[str, Any], user_id: int) -> Reply:
        enrolled = any(
            enrollment["user_id"] == user_id
            and enrollment["type"] == "StudentEnrollment"
            for enrollment in self.enrollments.of_course(course["id"])
        )
        if user_id not in self.users:
            raise KeyError(user_id)
        if not enrolled:
            raise _BadRequest("user is not a student in this course")
        return Reply.json(self._progress_of(course["id"], user_id))

    def _progress_of(self, course_id: int, user_id: int) -> dict[str, Any]:
        return self.module_progress.get(
            (course_id, user_id),
            {
                "requirement_count": 0,
                "requirement_completed_count": 0,
                "next_requirement_url": None,
                "completed_at": None,
            },
        )

    def _page(
        self,
        request: RecordedRequest,
        items: list[dict[str, Any]],
        shown: Any = None,
    ) -> Reply:
        """Return one page of ``items`` (in id order) with Canvas's Link header.

        ``shown(item)`` gives the JSON of an item of the page (a copy, with
        what the request's ``include[]`` adds or leaves out).
        """
        size = _per_page(request.arg("per_page"))
        token = request.arg("page") or "first"
        start = 0
        if token != "first":
            after = read_bookmark(token)
            if len(after) != 1 or not isinstance(after[0], int):
                raise _BadRequest("invalid page parameter")
            start = bisect.bisect_right(items, after[0], key=lambda item: item["id"])
        window = items[start : start + size]
        query = [
            (name, value)
            for name, values in request.query.items()
            if name not in ("page", "per_page")
            for value in values
        ]

        def link(page_token: str) -> str:
            pairs = [*query, ("page", page_token), ("per_page", str(size))]
            return f"{self.url}{request.path}?{urlencode(pairs)}"

        links = [(link(token), "current")]
        if start + size < len(items):
            links.append((link(bookmark([window[-1]["id"]])), "next"))
        links.append((link("first"), "first"))
        last_start = max(0, (len(items) - 1) // size * size)
        last = "first" if last_start == 0 else bookmark([items[last_start - 1]["id"]])
        links.append((link(last), "last"))
        body = [shown(item) for item in window] if shown else window
        return Reply.json(body, headers={"Link": links_header(links)})

    # --- classic quizzes ----------------------------------------------------

    def add_quiz(self, course_id: int, **fields: Any) -> dict[str, Any]:
        """Add a classic quiz to a course (Canvas Quiz JSON); return it."""
        quiz_id = fields.pop("id", None) or self._new_id()
        quiz = {
            "id": quiz_id,
            "course_id": course_id,
            "title": "New quiz",
            "html_url": f"{self.url}/courses/{course_id}/quizzes/{quiz_id}",
            "description": "",
            "quiz_type": "assignment",
            "time_limit": None,
            "allowed_attempts": 1,
            "scoring_policy": "keep_highest",
            "question_count": 5,
            "points_possible": 10.0,
            "due_at": None,
            "published": True,
            "access_code": None,
            "ip_filter": None,
        }
        quiz.update(fields)
        if "assignment_id" not in fields:
            graded = quiz["quiz_type"] in ("assignment", "graded_survey")
            quiz["assignment_id"] = self._new_id() if graded else None
        with self._data_lock:
            self.quizzes.put(quiz)
            self.quiz_submissions.setdefault(quiz_id, _Collection())
        return copy.deepcopy(quiz)

    def update_quiz(self, quiz_id: int, **changes: Any) -> None:
        """Change fields of a quiz."""
        with self._data_lock:
            self.quizzes.by_id[quiz_id].update(changes)

    def delete_quiz(self, quiz_id: int) -> None:
        """Delete a quiz: Canvas lists only active quizzes, and 404s for it."""
        with self._data_lock:
            self.quizzes.remove(quiz_id)

    def add_quiz_submission(
        self,
        quiz_id: int,
        user_id: int,
        *,
        state: str = "complete",
        score: float | None = 8.0,
        posted_at: str | None = "2026-03-01T09:20:00Z",
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a learner's QuizSubmission of a quiz; return it.

        A graded quiz's submission gets its assignment Submission, posted at
        ``posted_at`` (None: a manual post policy has not posted it yet).
        """
        quiz = self.quizzes.by_id[quiz_id]
        submission_id = fields.pop("id", None) or self._new_id()
        finished = state in ("complete", "pending_review")
        grade = None
        if quiz.get("assignment_id") is not None:
            grade = {
                "id": self._new_id(),
                "assignment_id": quiz["assignment_id"],
                "user_id": user_id,
                "attempt": 1 if finished else None,
                "score": score if finished else None,
                "grade": None if score is None or not finished else str(score),
                "submission_type": "online_quiz" if finished else None,
                "submitted_at": "2026-03-01T09:20:00Z" if finished else None,
                "workflow_state": {
                    "complete": "graded",
                    "pending_review": "pending_review",
                }.get(state, "unsubmitted"),
                "posted_at": posted_at,
            }
        submission = {
            "id": submission_id,
            "quiz_id": quiz_id,
            "quiz_version": 1,
            "user_id": user_id,
            "submission_id": grade["id"] if grade else None,
            "started_at": "2026-03-01T09:00:00Z",
            "finished_at": "2026-03-01T09:20:00Z" if finished else None,
            "end_at": None,
            "attempt": 1,
            "extra_attempts": None,
            "extra_time": None,
            "manually_unlocked": None,
            "time_spent": 1200 if finished else None,
            "score": score if finished else None,
            "score_before_regrade": None,
            "kept_score": score if finished else None,
            "fudge_points": None,
            "has_seen_results": False,
            "workflow_state": state,
            "overdue_and_needs_submission": False,
            "html_url": f"{self.url}/courses/{quiz['course_id']}/quizzes/"
            f"{quiz_id}/submissions/{submission_id}",
        }
        submission.update(fields)
        with self._data_lock:
            self.quiz_submissions[quiz_id].put(submission)
            if grade:
                self.quiz_grades[grade["id"]] = grade
        return copy.deepcopy(submission)

    def post_quiz_grade(
        self,
        quiz_id: int,
        submission_id: int,
        posted_at: str | None = "2026-03-02T08:00:00Z",
    ) -> None:
        """Post (or, with None, hide) the grade of a graded quiz's submission."""
        with self._data_lock:
            quiz_submission = self.quiz_submissions[quiz_id].by_id[submission_id]
            self.quiz_grades[quiz_submission["submission_id"]]["posted_at"] = posted_at

    def update_quiz_submission(
        self, quiz_id: int, submission_id: int, **changes: Any
    ) -> None:
        """Change fields of a QuizSubmission (a regrade, a finished review)."""
        with self._data_lock:
            self.quiz_submissions[quiz_id].by_id[submission_id].update(changes)

    def _quiz_route(
        self, request: RecordedRequest, course: dict[str, Any], parts: list[str]
    ) -> Reply:
        if not parts:
            return self._page(request, self.quizzes.of_course(course["id"]), _quiz_json)
        quiz = self.quizzes.by_id[_int(parts[0])]
        if quiz["course_id"] != course["id"]:
            raise KeyError(parts[0])
        if parts[1:] == ["submissions"]:
            points = quiz.get("points_possible")

            def shown(submission: dict[str, Any]) -> dict[str, Any]:
                return {**copy.deepcopy(submission), "quiz_points_possible": points}

            items = self.quiz_submissions[quiz["id"]].ordered()
            page = self._page(request, items, shown)
            # Quiz Submissions API: the page's list comes wrapped in an object.
            listed = json.loads(page.body)
            wrapped: dict[str, Any] = {"quiz_submissions": listed}
            if "submission" in request.query.get("include[]", []):
                # JSON-API style: the page's own Submissions, beside them.
                wrapped["submissions"] = [
                    copy.deepcopy(self.quiz_grades[item["submission_id"]])
                    for item in listed
                    if item.get("submission_id") in self.quiz_grades
                ]
                wrapped["meta"] = {"primaryCollection": "quiz_submissions"}
            links = {name: value for name, value in page.headers if name == "Link"}
            return Reply.json(wrapped, headers=links)
        raise KeyError("/".join(parts))

    # --- writes -------------------------------------------------------------

    def _create_assignment(
        self, request: RecordedRequest, course: dict[str, Any]
    ) -> Reply:
        fields = _form(request)
        name = (fields.get("assignment[name]") or [""])[0].strip()
        if not name:
            raise _BadRequest("assignment[name] is required")
        points = (fields.get("assignment[points_possible]") or ["0"])[0]
        published = (fields.get("assignment[published]") or ["false"])[0] == "true"
        assignment = self.add_assignment(
            course["id"],
            name=name,
            points_possible=float(points),
            grading_type=(fields.get("assignment[grading_type]") or ["points"])[0],
            submission_types=fields.get("assignment[submission_types][]") or ["none"],
            published=published,
            workflow_state="published" if published else "unpublished",
            omit_from_final_grade=(
                (fields.get("assignment[omit_from_final_grade]") or ["false"])[0]
                == "true"
            ),
        )
        return Reply.json(assignment, 201)

    def _grade(
        self,
        request: RecordedRequest,
        course: dict[str, Any],
        assignment_id: int,
        user_id: int,
    ) -> Reply:
        assignment = self.assignments.by_id[assignment_id]
        if assignment["course_id"] != course["id"]:
            raise KeyError(assignment_id)
        if not any(
            enrollment["user_id"] == user_id
            and enrollment["type"] == "StudentEnrollment"
            and enrollment["enrollment_state"] != "deleted"
            for enrollment in self.enrollments.of_course(course["id"])
        ):
            raise KeyError(user_id)
        posted = (_form(request).get("submission[posted_grade]") or [None])[0]
        if posted is None:
            raise _BadRequest("submission[posted_grade] is required")
        score, grade = _grade_value(assignment, posted)
        known = self.submissions.get((assignment_id, user_id), {})
        submission = {
            "id": known.get("id") or self._new_id(),
            "assignment_id": assignment_id,
            "user_id": user_id,
            "grader_id": self.self_user["id"],
            "attempt": known.get("attempt"),
            "body": None,
            "grade": grade,
            "score": score,
            "entered_grade": grade,
            "entered_score": score,
            "grade_matches_current_submission": True,
            "graded_at": "2025-12-01T12:00:00Z",
            "posted_at": "2025-12-01T12:00:00Z",
            "submission_type": known.get("submission_type"),
            "submitted_at": known.get("submitted_at"),
            "workflow_state": "graded",
            "excused": False,
            "late": False,
            "missing": False,
            "late_policy_status": None,
            "points_deducted": None,
            "seconds_late": 0,
            "preview_url": f"{self.url}/courses/{course['id']}/assignments/"
            f"{assignment_id}/submissions/{user_id}?preview=1",
            "submission_comments": [],
        }
        # Fields the grade leaves alone (html_url, url...) stay as they were.
        submission = {**known, **submission}
        self.submissions[(assignment_id, user_id)] = submission
        return Reply.json({**submission, "all_submissions": [submission]})


def _int(raw: str) -> int:
    if not raw.isdigit():
        raise KeyError(raw)
    return int(raw)


def _quiz_json(quiz: dict[str, Any]) -> dict[str, Any]:
    """Return a quiz as the Quizzes API lists it (no course_id key)."""
    item = copy.deepcopy(quiz)
    item.pop("course_id", None)
    return item


def _per_page(raw: str | None) -> int:
    try:
        size = int(raw) if raw else DEFAULT_PER_PAGE
    except ValueError:
        size = DEFAULT_PER_PAGE
    return max(1, min(size, MAX_PER_PAGE))


def _form(request: RecordedRequest) -> dict[str, list[str]]:
    """Return the request's parameters: form body, JSON body (flattened) and query."""
    fields: dict[str, list[str]] = {}
    content_type = (request.header("Content-Type") or "").lower()
    if request.body and "json" in content_type:
        for name, value in _flatten(json.loads(request.body)):
            fields.setdefault(name, []).append(value)
    elif request.body:
        fields.update(parse_qs(request.body.decode(), keep_blank_values=True))
    for name, values in request.query.items():
        fields.setdefault(name, values)
    return fields


def _flatten(data: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}[{key}]" if prefix else str(key))
    elif isinstance(data, list):
        for value in data:
            yield from _flatten(value, f"{prefix}[]")
    elif data is not None:
        yield (
            prefix,
            "true" if data is True else "false" if data is False else str(data),
        )


def _grade_value(assignment: dict[str, Any], posted: str) -> tuple[float, str]:
    """Return (score, grade) for ``posted`` the way Canvas reads posted_grade."""
    text = posted.strip()
    points = Decimal(str(assignment.get("points_possible") or 0))
    grading_type = assignment.get("grading_type", "points")
    lowered = text.lower()
    if lowered in ("pass", "complete"):
        score = points
    elif lowered in ("fail", "incomplete"):
        score = Decimal(0)
    elif text.endswith("%"):
        percent = _decimal(text[:-1])
        score = points * percent / 100
    elif text.upper() in LETTER_GRADES and grading_type == "letter_grade":
        score = points * LETTER_GRADES[text.upper()] / 100
    else:
        score = _decimal(text)
    if grading_type == "pass_fail" and score not in (0, points):
        raise _BadRequest("pass_fail assignments accept only 0 or points_possible")
    score = score.quantize(_CENT, rounding=ROUND_HALF_UP)
    if grading_type == "percent":
        percent = (score * 100 / points) if points else Decimal(0)
        grade = f"{_plain(percent.quantize(_CENT, rounding=ROUND_HALF_UP))}%"
    elif grading_type == "letter_grade" and text.upper() in LETTER_GRADES:
        grade = text.upper()
    else:
        grade = _plain(score)
    return float(score), grade


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _BadRequest(f"Invalid posted_grade {text!r}") from None
    if not value.is_finite() or value < 0:
        raise _BadRequest(f"Invalid posted_grade {text!r}")
    return value


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


# --- learners signing in with OAuth 2 ------------------------------------------

#: Canvas::OAuth::RequestError's ERROR_MAP (lib/canvas/oauth/request_error.rb):
#: 401 for a bad client, 400 for everything else. A refresh token Canvas does
#: not know is invalid_request, not invalid_grant.
CANVAS_OAUTH_ERRORS = {
    **RFC6749_ERRORS,
    "invalid_client": (401, "invalid_client", "invalid client"),
    "bad_code": (400, "invalid_grant", "authorization_code not found"),
    "redirect_mismatch": (
        400,
        "invalid_request",
        "redirect_uri does not match client settings",
    ),
    # AuthorizationCodeWithPKCE raises :invalid_grant on a bad verifier.
    "pkce_failed": (400, "invalid_grant", "invalid_grant"),
    "bad_refresh": (400, "invalid_request", "refresh_token not found"),
    "unsupported_grant_type": (
        400,
        "unsupported_grant_type",
        "The grant_type you requested is not currently supported",
    ),
}


class CanvasAuthorization(AuthorizationServer):
    """Canvas's OAuth 2 endpoints (canvas-lms doc/api/oauth_endpoints.md).

    Tokens live an hour (keys issued after Oct 2015); the code answer
    carries ``user: {id, name}``; a refresh answers a new access token
    without a refresh token, since the same one stays usable, and the old
    access token stops working (``regenerate_access_token``). PKCE is S256
    only (lib/canvas/oauth/pkce.rb). Canvas accepts any redirect_uri on the
    developer key's domain; the fake wants an exact match.
    """

    authorize_path = "/login/oauth2/auth"
    token_path = "/login/oauth2/token"
    access_token_lifetime = 3600
    pkce_methods = ("S256",)
    refresh_replaces_access_token = True
    errors = CANVAS_OAUTH_ERRORS
    # Oauth2ProviderController#oauth_error sets this header on a 401.
    www_authenticate = "Canvas OAuth 2.0"
    # Canvas tokens read "<shard id>~<random>".
    prefixes = {"access": "1~", "refresh": "1~"}
    service_name = "Canvas"

    def token_response(self, issue: TokenIssue) -> dict[str, Any]:
        """Return Canvas's token JSON: token, type, user, refresh, expires_in."""
        user = issue.access.user
        body: dict[str, Any] = {
            "access_token": issue.access.token,
            "token_type": "Bearer",
            "user": {"id": user.id, "name": user.name},
        }
        if issue.refresh is not None:
            body["refresh_token"] = issue.refresh.token
        body["expires_in"] = self.access_token_lifetime
        return body

    def unknown_client_page(self, params: dict[str, str]) -> Reply:
        """Answer Canvas's JSON 401 ``invalid_client`` (no redirect)."""
        return Reply.json(
            {"error": "invalid_client", "error_description": "unknown client"},
            401,
            {"WWW-Authenticate": self.www_authenticate},
        )

    def redirect_mismatch_page(
        self, client: OAuthClient, params: dict[str, str]
    ) -> Reply:
        """Answer Canvas's JSON 400 ``invalid_redirect`` (no redirect)."""
        return Reply.json(
            {
                "error": "invalid_request",
                "error_description": "redirect_uri does not match client settings",
            },
            400,
        )


class CanvasOAuthFake(CanvasFake):
    """CanvasFake whose learners sign in with OAuth 2; a context manager.

    ``oauth`` is the :class:`CanvasAuthorization` on this server. The admin
    ``token`` keeps working as before; a learner's token from the token
    endpoint acts as its own user: ``/api/v1/users/self`` and
    ``/api/v1/users/self/profile`` describe the learner and
    ``/api/v1/courses`` lists only the courses the learner has an active or
    invited enrollment in. An expired, revoked or unknown token gets Canvas's
    401 with ``WWW-Authenticate``. ``DELETE /login/oauth2/token`` revokes
    the caller's token. Throttling stays one bucket for all tokens.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.oauth = CanvasAuthorization(self)
        self.route("DELETE", self.oauth.token_path, self._delete_token)

    def add_learner(
        self,
        user_id: int,
        name: str,
        *,
        email: str | None = None,
        login_id: str | None = None,
        course_ids: Iterable[int] = (),
        type: str = "StudentEnrollment",
    ) -> OAuthUser:
        """Add a Canvas user enrolled in ``course_ids`` who can sign in."""
        self.add_user(user_id, name, email)
        with self._data_lock:
            if login_id is not None:
                self.users[user_id]["login_id"] = login_id
            login = self.users[user_id]["login_id"]
        for course_id in course_ids:
            self.add_enrollment(course_id, user_id, type=type)
        return self.oauth.add_user(user_id, login, name=name, email=email)

    # --- the token's user ----------------------------------------------------

    def _learner(self, request: RecordedRequest) -> OAuthUser | None:
        # Canvas also takes the token as an access_token query parameter.
        token = bearer_token(request, query_param="access_token")
        if token is None or token == self.token:
            return None
        return self.oauth.user_for(token)

    def _authenticated(self, request: RecordedRequest) -> bool:
        return super()._authenticated(request) or self._learner(request) is not None

    def _self_user_for(self, request: RecordedRequest) -> dict[str, Any]:
        learner = self._learner(request)
        if learner is None:
            return super()._self_user_for(request)
        user = self.users[learner.id]
        first, _, last = user["name"].partition(" ")
        return {
            "id": user["id"],
            "name": user["name"],
            "created_at": user["created_at"],
            "sortable_name": user["sortable_name"],
            "short_name": user["short_name"],
            "avatar_url": f"{self.url}/images/messages/avatar-50.png",
            "last_name": last,
            "first_name": first,
            "locale": None,
            "effective_locale": "en",
            "permissions": {"can_update_name": True, "can_update_avatar": False},
        }

    def _course_ids_for(self, request: RecordedRequest) -> Iterable[int] | None:
        learner = self._learner(request)
        if learner is None:
            return super()._course_ids_for(request)
        return {
            enrollment["course_id"]
            for enrollment in self.enrollments.ordered()
            if enrollment["user_id"] == learner.id
            and enrollment["enrollment_state"] in ("active", "invited")
        }

    def _route(self, request: RecordedRequest) -> Reply:
        rest = request.match.group("rest").rstrip("/")
        if request.method == "GET" and rest == "users/self/profile":
            return Reply.json(self._profile(request))
        return super()._route(request)

    def _profile(self, request: RecordedRequest) -> dict[str, Any]:
        """Return the Profile JSON (users_controller's Profile model)."""
        user = self._self_user_for(request)
        stored = self.users.get(user["id"], {})
        return {
            "id": user["id"],
            "name": user["name"],
            "short_name": user["short_name"],
            "sortable_name": user["sortable_name"],
            "title": None,
            "bio": None,
            "primary_email": stored.get("email"),
            "login_id": stored.get("login_id"),
            "sis_user_id": stored.get("sis_user_id"),
            "integration_id": stored.get("integration_id"),
            "avatar_url": user["avatar_url"],
            "calendar": {"ics": f"{self.url}/feeds/calendars/user_{user['id']}.ics"},
            "time_zone": "Etc/UTC",
            "locale": user.get("locale"),
        }

    def _delete_token(self, request: RecordedRequest) -> Reply:
        """Revoke the caller's own token (``DELETE /login/oauth2/token``)."""
        token = bearer_token(request, query_param="access_token")
        if token is not None and token == self.token:
            # Oauth2ProviderController#destroy without an OAuth token.
            return Reply.json(
                {
                    "message": "can't delete OAuth access token when not using "
                    "an OAuth access token"
                },
                400,
            )
        if self.oauth.user_for(token) is None:
            return Reply.json(
                INVALID_TOKEN, 401, {"WWW-Authenticate": 'Bearer realm="canvas-lms"'}
            )
        self.oauth.revoke(token)
        return Reply.json({})
