"""Streams of the Canvas provider and how Canvas's JSON becomes portal records.

Four streams, synced in this order: ``courses`` (of an account, or of the
token's user), then per course ``assignments``, ``enrollments`` and
``progress``; with ``sync_submissions`` a fifth, per course
``submissions``. A per-course stream walks the integration's synced courses in
id order (those not deleted, here or in Canvas) and pages through each
course's listing by following Canvas's ``Link`` header; its cursor holds the
course and the next-page URL inside it, so a killed sync resumes in the
middle of a course. docs/providers/canvas.md describes every call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils.dateparse import parse_datetime

from integrations import errors
from integrations.providers.base import Page, Stream
from integrations.providers.canvas.client import API, CanvasApi, ListPage, seg
from integrations.providers.items import ItemError, map_items, mapped_page
from integrations.sync.lookahead import fetch_ahead

if TYPE_CHECKING:
    from integrations.providers.base import StreamContext
    from integrations.records import (
        AssignmentRecord,
        CourseRecord,
        EnrollmentRecord,
        LearnerRef,
        ProgressRecord,
        Record,
        SubmissionRecord,
    )

logger = logging.getLogger(__name__)

#: Canvas course ``workflow_state`` to the portal's course state. The
#: account listing's stored states created and claimed show as unpublished.
COURSE_STATES = {
    "unpublished": "unpublished",
    "created": "unpublished",
    "claimed": "unpublished",
    "available": "active",
    "completed": "completed",
    "deleted": "deleted",
}
#: Canvas ``enrollment_state`` to the portal's enrollment state. A rejected
#: invitation gives no access, as an inactive enrollment; creation_pending is
#: an enrollment of a user who has not registered yet, like an invitation.
ENROLLMENT_STATES = {
    "active": "active",
    "invited": "invited",
    "creation_pending": "invited",
    "completed": "completed",
    "inactive": "inactive",
    "rejected": "inactive",
    "deleted": "deleted",
}
#: Canvas enrollment ``type`` to the portal's role.
ENROLLMENT_ROLES = {
    "StudentEnrollment": "student",
    "TeacherEnrollment": "teacher",
    "TaEnrollment": "ta",
    "DesignerEnrollment": "designer",
    "ObserverEnrollment": "observer",
}
#: The ``enrollment_types`` setting's values to Canvas's ``type[]`` values.
ENROLLMENT_TYPES = {role: canvas for canvas, role in ENROLLMENT_ROLES.items()}
#: Every state the enrollments endpoint's ``state[]`` filter accepts for a
#: course; Canvas returns only active and invited ones when it is left out.
ENROLLMENT_STATE_FILTER = (
    "active",
    "invited",
    "creation_pending",
    "completed",
    "inactive",
    "rejected",
    "deleted",
)
#: Student enrollments that have progress worth syncing.
PROGRESS_STATE_FILTER = ("active", "invited", "completed", "inactive")
MODULE_PROGRESS_MODES = ("bulk", "per_user", "off")
#: Canvas submission ``workflow_state`` to the portal's submission state.
#: pending_review is handed-in work waiting for a grader (a quiz's essay
#: questions), so it counts as submitted.
SUBMISSION_STATES = {
    "unsubmitted": "unsubmitted",
    "submitted": "submitted",
    "pending_review": "submitted",
    "graded": "graded",
}

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MAX_POINTS = Decimal("99999999.99")
_COURSE_CHUNK = 500


@dataclass(frozen=True)
class CanvasConfig:
    """The checked settings of one Canvas integration, defaults filled in."""

    account_id: int | None = None
    own_enrollments_only: bool = False
    per_page: int = 100
    enrollment_types: tuple[str, ...] = ("student", "teacher")
    include_completed: bool = True
    include_unpublished_assignments: bool = False
    module_progress: str = "bulk"
    writeback_assignment_name: str = "Portal progress"
    writeback_create_assignment: bool = False
    writeback_grade: str = "percent"
    rate_limit_quota: float = 700.0
    rate_limit_refill: float = 10.0
    concurrency: int = 4
    sync_submissions: bool = False
    #: The opt-in quizzes and quiz_results streams (canvas/quizzes.py).
    sync_quizzes: bool = False

    def scoped(self, params: dict[str, Any]) -> dict[str, Any]:
        """Add ``user_id=self`` to an enrollment listing when only the own count.

        Canvas documents the filter for exactly this: it tells a user's own
        enrollments "independent of whether the user has permission to view
        other people on the roster" (Enrollments API, ``user_id``).
        """
        if self.own_enrollments_only:
            return {**params, "user_id": "self"}
        return params

    def page_size(self, context: StreamContext) -> int:
        """Return ``per_page`` for a request, smaller when a preview reads little."""
        if context.page_limit:
            return max(1, min(self.per_page, context.page_limit))
        return self.per_page


# --- Reading values ---------------------------------------------------------


def _id(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ItemError(f"{key}: missing or not an id")


def _text(item: dict[str, Any], key: str, default: str = "") -> str:
    value = item.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    raise ItemError(f"{key}: expected text, got {type(value).__name__}")


def _datetime(item: dict[str, Any], key: str) -> datetime | None:
    value = item.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ItemError(f"{key}: expected an ISO 8601 date, got {type(value).__name__}")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ItemError(f"{key}: {value!r} is not an ISO 8601 date")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(item: dict[str, Any], key: str) -> Decimal | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ItemError(f"{key}: expected a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ItemError(f"{key}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ItemError(f"{key}: {value!r} is not a finite number")
    return number.quantize(CENT, rounding=ROUND_HALF_UP)


def _mapped(value: Any, mapping: dict[str, str], key: str) -> str:
    if not isinstance(value, str) or value not in mapping:
        raise ItemError(
            f"{key}: unknown value {value!r}; expected one of {', '.join(mapping)}"
        )
    return mapping[value]


def _dict(item: dict[str, Any], key: str) -> dict[str, Any]:
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ItemError(f"{key}: expected an object, got {type(value).__name__}")
    return value


# --- Canvas JSON to records -------------------------------------------------


def course_record(item: dict[str, Any], base_url: str) -> CourseRecord:
    """Return the portal course for a Canvas Course object.

    The title is ``original_name`` when the token's user gave the course a
    nickname (``name`` is then the nickname). Dates fall back to the term's
    when the course has none of its own (requires ``include[]=term``).
    """
    course_id = _id(item, "id")
    term = _dict(item, "term")
    record: CourseRecord = {
        "type": "course",
        "external_id": course_id,
        "title": _text(item, "original_name") or _text(item, "name"),
        "code": _text(item, "course_code"),
        "state": _mapped(item.get("workflow_state"), COURSE_STATES, "workflow_state"),
        "starts_at": _datetime(item, "start_at") or _datetime(term, "start_at"),
        "ends_at": _datetime(item, "end_at") or _datetime(term, "end_at"),
        "url": f"{base_url.rstrip('/')}/courses/{course_id}",
        "remote_created_at": _datetime(item, "created_at"),
    }
    if not record["title"]:
        raise ItemError("name: the course has no name")
    return record


def assignment_record(
    item: dict[str, Any], course_id: str, *, include_unpublished: bool
) -> AssignmentRecord | None:
    """Return the portal assignment for a Canvas Assignment, or None to skip it.

    Canvas lists deleted assignments no more, and unpublished ones only to
    teachers and admins: unless ``include_unpublished``, an unpublished one
    is skipped as learners cannot see it, so a row already synced is marked
    deleted at the end of the pass and comes back when it is published.
    """
    assignment_id = _id(item, "id")
    if item.get("workflow_state") == "deleted":
        return None
    if item.get("published") is False and not include_unpublished:
        return None

    points = _number(item, "points_possible")
    if points is not None and abs(points) > MAX_POINTS:
        raise ItemError(f"points_possible: {points} is too large")
    title = _text(item, "name")
    if not title:
        raise ItemError("name: the assignment has no name")
    return {
        "type": "assignment",
        "external_id": assignment_id,
        "course_external_id": course_id,
        "title": title,
        "due_at": _datetime(item, "due_at"),
        "points_possible": points,
        "remote_created_at": _datetime(item, "created_at"),
        "remote_updated_at": _datetime(item, "updated_at"),
    }


def learner_ref(item: dict[str, Any]) -> LearnerRef:
    """Return the learner of an Enrollment from its ``user`` object.

    ``email`` comes with ``include[]=email`` when the token may read email
    addresses; otherwise ``login_id`` is used when it is an email address.
    """
    user = _dict(item, "user")
    user_id = str(item.get("user_id") or user.get("id") or "")
    if not user_id:
        raise ItemError("user_id: the enrollment has no user")
    ref: LearnerRef = {"remote_user_id": user_id}
    email = user.get("email")
    login_id = user.get("login_id")
    if isinstance(email, str) and "@" in email:
        ref["email"] = email.strip()
    elif isinstance(login_id, str) and "@" in login_id:
        ref["email"] = login_id.strip()
    name = user.get("name") or user.get("short_name")
    if isinstance(name, str) and name:
        ref["name"] = name
    return ref


def enrollment_record(item: dict[str, Any], course_id: str) -> EnrollmentRecord:
    """Return the portal enrollment for a Canvas Enrollment."""
    return {
        "type": "enrollment",
        "external_id": _id(item, "id"),
        "course_external_id": course_id,
        "learner": learner_ref(item),
        "role": _mapped(item.get("type"), ENROLLMENT_ROLES, "type"),
        "state": _mapped(
            item.get("enrollment_state"), ENROLLMENT_STATES, "enrollment_state"
        ),
        "remote_created_at": _datetime(item, "created_at"),
        "remote_updated_at": _datetime(item, "updated_at"),
    }


def progress_record(
    item: dict[str, Any], course_id: str, module: dict[str, Any] | None
) -> ProgressRecord:
    """Return a learner's progress from a student Enrollment and module progress.

    - percent: module completion (completed requirements of all module
      requirements) when the course has requirements; otherwise the current
      score (``grades.override_score`` when a final grade override is set,
      else ``grades.current_score``), limited to 0..100; otherwise 0.
    - grade: the letter grade (``override_grade`` or ``current_grade``) when
      the course has a grading scheme, else the current score as "86.25%".
    - completed_at: when the learner completed every module requirement.
    """
    learner = learner_ref(item)
    grades = _dict(item, "grades")
    score = _number(grades, "override_score")
    if score is None:
        score = _number(grades, "current_score")

    percent = None
    completed_at = None
    if module:
        required = module.get("requirement_count")
        done = module.get("requirement_completed_count")
        if _is_count(required) and _is_count(done) and required > 0:
            ratio = Decimal(min(done, required)) * HUNDRED / Decimal(required)
            percent = ratio.quantize(CENT, rounding=ROUND_HALF_UP)
        completed_at = _datetime(module, "completed_at")
    if percent is None:
        percent = (
            min(max(score, Decimal(0)), HUNDRED) if score is not None else Decimal(0)
        )

    grade = _text(grades, "override_grade") or _text(grades, "current_grade")
    if not grade and score is not None:
        grade = f"{format(score.normalize(), 'f')}%"
    return {
        "type": "progress",
        "external_id": f"{course_id}:{learner['remote_user_id']}",
        "course_external_id": course_id,
        "learner": learner,
        "percent": percent,
        "grade": grade[:50],
        "completed_at": completed_at,
    }


def submission_record(item: dict[str, Any]) -> SubmissionRecord:
    """Return the portal submission for a Canvas Submission.

    - state: ``workflow_state`` mapped (SUBMISSION_STATES), or ``returned``
      when the teacher asked for another attempt (``redo_request``);
    - attempt, submitted_at, late, missing as Canvas gives them; score and
      grade only once posted to the student (``posted_at``): until then the
      row is ``submitted`` without them, as the learner sees it in Canvas;
    - url: the submission's page in Canvas (``html_url``, else
      ``preview_url``).
    """
    score = _number(item, "score")
    if score is not None and abs(score) > MAX_POINTS:
        raise ItemError(f"score: {score} is too large")
    attempt = item.get("attempt")
    if attempt is not None and not _is_count(attempt):
        raise ItemError(f"attempt: expected a whole number, got {attempt!r}")
    state = _mapped(item.get("workflow_state"), SUBMISSION_STATES, "workflow_state")
    if item.get("redo_request") is True:
        state = "returned"
    grade = item.get("grade")
    if "posted_at" in item and item["posted_at"] is None:
        # Graded but not released (a manual post policy): the portal's token
        # sees the grade, the learner may not yet, so it is not stored.
        # Instances without post policies send no posted_at at all.
        score, grade = None, None
        if state == "graded":
            state = "submitted"
    return {
        "type": "submission",
        "external_id": _id(item, "id"),
        "assignment_external_id": _id(item, "assignment_id"),
        "learner": learner_ref(item),
        "state": state,
        "submitted_at": _datetime(item, "submitted_at"),
        "attempt": attempt,
        "score": score,
        "grade": (str(grade) if grade is not None else "")[:50],
        "late": item.get("late") is True,
        "missing": item.get("missing") is True,
        "url": _text(item, "html_url") or _text(item, "preview_url"),
    }


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- Streams ----------------------------------------------------------------


class CanvasStream(Stream):
    """Base of the Canvas streams: the checked settings and a page builder."""

    def __init__(self, config: CanvasConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def _page(
        self,
        context: StreamContext,
        fetched: ListPage,
        records: list[Record],
        failures: list[dict[str, Any]],
        next_cursor: dict[str, Any] | None,
    ) -> Page:
        return mapped_page(
            records,
            failures,
            fetched=len(fetched.items),
            next_cursor=next_cursor,
            event="canvas.sync.items_failed",
            integration=context.integration.name,
            stream=self.name,
        )


class CoursesStream(CanvasStream):
    """The account's courses (``account_id``), or the token's user's courses."""

    name = "courses"
    record_type = "course"
    prefetch = True

    def listing(self, context: StreamContext) -> tuple[str, dict[str, Any]]:
        """Return the listing's path and parameters (deleted and concluded too)."""
        config = self.config
        if config.account_id is not None:
            path = f"{API}/accounts/{config.account_id}/courses"
            states = ["created", "claimed", "available"]
        else:
            path = f"{API}/courses"
            states = ["unpublished", "available"]
        if config.include_completed:
            states.append("completed")
        states.append("deleted")
        params = {
            "per_page": config.page_size(context),
            "state[]": states,
            "include[]": ["term"],
        }
        return path, params

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of courses from ``cursor`` (None: the first page)."""
        path, params = self.listing(context)
        url = _link_cursor(cursor, context, self.name)
        base_url = context.integration.base_url
        api = CanvasApi(context.client)

        try:
            for fetched in api.listing(path, params, url):
                records, failures = map_items(
                    fetched.items, lambda item: course_record(item, base_url)
                )
                next_cursor = {"url": fetched.next_url} if fetched.next_url else None
                yield self._page(context, fetched, records, failures, next_cursor)
        except errors.NotFound as error:
            if self.config.account_id is None:
                raise
            raise errors.ConfigurationError(
                f"Canvas has no account {self.config.account_id} that the token can "
                "read: check the account_id setting (the number in the account's "
                "URL, /accounts/<id>) and that the token's user is an admin there",
                integration=context.integration.name,
                status=error.status,
                url=error.url,
                details={"setting": "account_id"},
            ) from error


class PerCourseStream(CanvasStream):
    """A listing read course by course; subclasses say which and how to map it."""

    depends_on = ("courses",)

    def listing(
        self, context: StreamContext, course_id: str
    ) -> tuple[str, dict[str, Any]]:
        """Return the path and parameters of ``course_id``'s listing."""
        raise NotImplementedError

    def prepare(self, context: StreamContext, api: CanvasApi, course_id: str) -> Any:
        """Fetch what mapping a course's pages needs besides them (None: nothing)."""
        return None

    def map_page(
        self,
        context: StreamContext,
        api: CanvasApi,
        course_id: str,
        items: list[Any],
        prepared: Any,
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return the records of one page of ``course_id``'s listing."""
        raise NotImplementedError

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages course after course, resuming inside a course from ``cursor``.

        Cursors: ``{"course": pk, "url": next}`` continues the course whose
        portal id is ``pk`` at Canvas's next-page URL; ``{"after": pk}``
        starts with the first course after it; None at the very end.
        """
        start, inclusive, resume_url = _course_cursor(cursor, context, self.name)
        api = CanvasApi(context.client)
        yield from pages_by_parent(
            _synced_courses(context.integration, start, inclusive),
            lambda row, url, after: self._course_pages(
                context, api, row[0], row[1], url, after
            ),
            resume=(start, inclusive, resume_url),
            workers=self.config.concurrency,
            name=f"canvas-{self.name}",
        )

    def _course_pages(
        self,
        context: StreamContext,
        api: CanvasApi,
        pk: int,
        course_id: str,
        url: str | None,
        after: dict[str, Any] | None,
    ) -> Iterator[Page]:
        path, params = self.listing(context, course_id)
        try:
            prepared = self.prepare(context, api, course_id)
            for fetched in api.listing(path, params, url):
                records, failures = self.map_page(
                    context, api, course_id, fetched.items, prepared
                )
                next_cursor = (
                    {"course": pk, "url": fetched.next_url}
                    if fetched.next_url
                    else after
                )
                yield self._page(context, fetched, records, failures, next_cursor)
        except errors.NotFound:
            # The course went away in Canvas after the courses stream read it:
            # nothing of it is seen, so its rows are marked deleted at the end
            # of the pass, and the next courses sync marks the course itself.
            logger.info(
                "canvas.sync.course_gone",
                extra={
                    "integration": context.integration.name,
                    "stream": self.name,
                    "course": course_id,
                },
            )
            yield Page(records=[], next_cursor=after)


class AssignmentsStream(PerCourseStream):
    """Each course's assignments (published only, unless configured otherwise)."""

    name = "assignments"
    record_type = "assignment"

    def listing(
        self, context: StreamContext, course_id: str
    ) -> tuple[str, dict[str, Any]]:
        """Return GET /courses/:id/assignments with Canvas's largest page."""
        params = {"per_page": self.config.page_size(context)}
        return f"{API}/courses/{seg(course_id)}/assignments", params

    def map_page(
        self,
        context: StreamContext,
        api: CanvasApi,
        course_id: str,
        items: list[Any],
        prepared: Any,
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Map Assignment objects, skipping unpublished ones unless configured."""
        include = self.config.include_unpublished_assignments
        return map_items(
            items,
            lambda item: assignment_record(
                item, course_id, include_unpublished=include
            ),
        )


class EnrollmentsStream(PerCourseStream):
    """Each course's enrollments of the configured types, in every state."""

    name = "enrollments"
    record_type = "enrollment"

    def listing(
        self, context: StreamContext, course_id: str
    ) -> tuple[str, dict[str, Any]]:
        """Return GET /courses/:id/enrollments for every state and the emails."""
        states = [
            state
            for state in ENROLLMENT_STATE_FILTER
            if self.config.include_completed or state != "completed"
        ]
        params = {
            "per_page": self.config.page_size(context),
            "type[]": [ENROLLMENT_TYPES[role] for role in self.config.enrollment_types],
            "state[]": states,
            "include[]": ["email"],
        }
        return f"{API}/courses/{seg(course_id)}/enrollments", self.config.scoped(params)

    def map_page(
        self,
        context: StreamContext,
        api: CanvasApi,
        course_id: str,
        items: list[Any],
        prepared: Any,
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Map Enrollment objects."""
        return map_items(items, lambda item: enrollment_record(item, course_id))


class ProgressStream(PerCourseStream):
    """Each student's grade and module completion in each course."""

    name = "progress"
    record_type = "progress"

    def listing(
        self, context: StreamContext, course_id: str
    ) -> tuple[str, dict[str, Any]]:
        """Return GET /courses/:id/enrollments for student enrollments (grades)."""
        states = [
            state
            for state in PROGRESS_STATE_FILTER
            if self.config.include_completed or state != "completed"
        ]
        params = {
            "per_page": self.config.page_size(context),
            "type[]": ["StudentEnrollment"],
            "state[]": states,
            "include[]": ["email"],
        }
        return f"{API}/courses/{seg(course_id)}/enrollments", self.config.scoped(params)

    def prepare(
        self, context: StreamContext, api: CanvasApi, course_id: str
    ) -> dict[str, dict[str, Any]] | None:
        """Read the course's module progress of every student in one listing.

        With ``module_progress: bulk``: GET /courses/:id/bulk_user_progress.
        A Canvas without that endpoint (404) or a token not allowed to read
        it gives no module progress for the course, not a failed sync.
        """
        if self.config.module_progress != "bulk":
            return None
        path = f"{API}/courses/{seg(course_id)}/bulk_user_progress"
        params = {"per_page": self.config.page_size(context)}
        try:
            entries = api.all_items(path, params)
        except (errors.NotFound, errors.PermissionDenied) as error:
            logger.warning(
                "canvas.sync.module_progress_unavailable",
                extra={
                    "integration": context.integration.name,
                    "course": course_id,
                    "status": error.status,
                },
            )
            return {}
        progress: dict[str, dict[str, Any]] = {}
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("progress"), dict):
                progress[str(entry.get("id"))] = entry["progress"]
        return progress

    def map_page(
        self,
        context: StreamContext,
        api: CanvasApi,
        course_id: str,
        items: list[Any],
        prepared: dict[str, dict[str, Any]] | None,
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Map student Enrollments and their module progress to progress records."""
        per_user = self.config.module_progress == "per_user"

        def module_of(item: dict[str, Any]) -> dict[str, Any] | None:
            user_id = str(item.get("user_id") or "")
            if per_user and user_id:
                try:
                    return api.user_progress(course_id, user_id)
                except (errors.NotFound, errors.PermissionDenied):
                    # As with the bulk listing: no module progress to read.
                    return None
            if prepared is None:
                return None
            return prepared.get(user_id)

        return map_items(
            items, lambda item: progress_record(item, course_id, module_of(item))
        )


class SubmissionsStream(PerCourseStream):
    """Each student's submission of each published assignment of each course.

    GET /courses/:id/students/submissions with ``student_ids[]=all`` (Canvas's
    "List submissions for multiple assignments"): one Submission per student
    and assignment, unsubmitted ones included, in id order. Synced after
    the assignments and enrollments it refers to (``sync_submissions``).
    """

    name = "submissions"
    record_type = "submission"
    depends_on = ("courses", "assignments", "enrollments")

    def listing(
        self, context: StreamContext, course_id: str
    ) -> tuple[str, dict[str, Any]]:
        """Return the course's submissions of every student, with their users."""
        params = {
            "per_page": self.config.page_size(context),
            "student_ids[]": ["all"],
            "include[]": ["user"],
        }
        return f"{API}/courses/{seg(course_id)}/students/submissions", params

    def map_page(
        self,
        context: StreamContext,
        api: CanvasApi,
        course_id: str,
        items: list[Any],
        prepared: Any,
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Map Submission objects."""
        return map_items(items, submission_record)


def build_streams(config: CanvasConfig) -> list[CanvasStream]:
    """Return the Canvas streams in dependency order."""
    streams: list[CanvasStream] = [
        CoursesStream(config),
        AssignmentsStream(config),
        EnrollmentsStream(config),
        ProgressStream(config),
    ]
    if config.sync_submissions:
        streams.append(SubmissionsStream(config))
    return streams


# --- Cursors and the courses a per-course stream walks ----------------------


def _link_cursor(
    cursor: dict[str, Any] | None, context: StreamContext, stream: str
) -> str | None:
    if cursor is None:
        return None
    url = cursor.get("url") if isinstance(cursor, dict) else None
    if isinstance(url, str) and url:
        return url
    _ignore_cursor(context, stream)
    return None


def _course_cursor(
    cursor: dict[str, Any] | None, context: StreamContext, stream: str
) -> tuple[int, bool, str | None]:
    """Return (course pk to start from, whether it is included, URL inside it)."""
    if cursor is None:
        return 0, False, None
    if isinstance(cursor, dict):
        course, after = cursor.get("course"), cursor.get("after")
        url = cursor.get("url")
        if _is_pk(course) and (url is None or isinstance(url, str)):
            return course, True, url or None
        if _is_pk(after):
            return after, False, None
    # A cursor of another shape (an older version's) restarts the pass; the
    # rows it stored are upserted again unchanged.
    _ignore_cursor(context, stream)
    return 0, False, None


def _is_pk(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _ignore_cursor(context: StreamContext, stream: str) -> None:
    logger.warning(
        "canvas.sync.cursor_ignored",
        extra={"integration": context.integration.name, "stream": stream},
    )


def _synced_courses(
    integration: Any, start: int, inclusive: bool
) -> Iterator[tuple[int, str]]:
    """Yield (pk, Canvas id) of the synced courses to read, in id order.

    Courses marked deleted, here or in Canvas, are skipped: Canvas answers
    404 for a deleted course's assignments and enrollments. Read in chunks
    so memory stays flat however many courses there are.
    """
    from portal.learning.models import Course

    courses = (
        Course.objects.filter(integration=integration, deleted_at__isnull=True)
        .exclude(state="deleted")
        .order_by("id")
    )
    lookup = "id__gte" if inclusive else "id__gt"
    bound = start
    while True:
        chunk = list(
            courses.filter(**{lookup: bound}).values_list("id", "external_id")[
                :_COURSE_CHUNK
            ]
        )
        if not chunk:
            return
        yield from chunk
        bound, lookup = chunk[-1][0], "id__gt"


#: What reads one parent's pages: the parent's row, the URL to resume at
#: (None: its first page) and the cursor of the parent after it.
ParentPages = Callable[
    [tuple[Any, ...], str | None, dict[str, Any] | None], Iterator[Page]
]


def pages_by_parent(
    parents: Iterable[tuple[Any, ...]],
    pages_of: ParentPages,
    *,
    resume: tuple[Any, bool, str | None],
    workers: int,
    name: str,
) -> Iterator[Page]:
    """Yield each parent's pages in turn, reading ahead of the one yielded.

    ``parents`` are rows whose first value is the portal id the cursors
    name; ``resume`` is (start id, whether it is included, the URL to
    resume that parent at). The look-ahead pool fetches the next parents'
    first pages (HTTP and mapping only, no database) while the current
    parent's further pages follow its first one in this thread. No parent
    at all yields one empty page, which tells the pass it is complete.
    """
    start, inclusive, resume_url = resume

    def first_page(entry: tuple[tuple[Any, ...], bool]) -> tuple[Page, Iterator[Page]]:
        row, is_last = entry
        url = resume_url if (inclusive and row[0] == start) else None
        after = None if is_last else {"after": row[0]}
        pages = pages_of(row, url, after)
        first = next(pages, None)
        if first is None:
            return Page(records=[], next_cursor=after), iter(())
        return first, pages

    seen_any = False
    for _, (first, rest) in fetch_ahead(
        _with_last(parents), first_page, workers=workers, name=name
    ):
        seen_any = True
        yield first
        yield from rest
    if not seen_any:
        yield Page(records=[], next_cursor=None)


def _with_last(rows: Iterable[Any]) -> Iterator[tuple[Any, bool]]:
    """Yield each row with whether it is the last one."""
    iterator = iter(rows)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True
