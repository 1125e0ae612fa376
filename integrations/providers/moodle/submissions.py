"""Moodle assignments and learners' submissions, through mod_assign's functions.

Two streams, on when the integration's ``sync_submissions`` setting is:

- ``assignments``: ``mod_assign_get_assignments`` for the synced courses,
  ``page_size`` courses a call (at most MAX_CHUNK), with
  ``includenotenrolledcourses`` (the token's user is an admin, not enrolled);
  the cursor is the last course's portal id.
- ``submissions``: for the synced assignments, ``page_size`` a call (at most
  MAX_CHUNK), ``mod_assign_get_submissions`` (the latest attempt of each
  user) and ``mod_assign_get_grades`` (the grade of that attempt); the
  cursor is the last assignment's portal id.

Moodle reports what it will not show as ``warnings`` in an HTTP 200 answer
(no access to a course or an assignment: code 1 or 2; nothing found: 3),
not as an exception; a refusal becomes a counted failure of the run, an
empty assignment nothing. docs/providers/moodle.md lists the mapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from integrations import errors
from integrations.providers.base import Page, Stream
from integrations.providers.moodle.sync import (
    CENT,
    ItemError,
    MoodleConfig,
    _cursor_int,
    _page_size,
    moodle_id,
    text,
    timestamp,
)
from integrations.providers.moodle.token import connect

if TYPE_CHECKING:
    from integrations.models import Integration
    from integrations.providers.base import StreamContext
    from integrations.providers.moodle.client import MoodleClient
    from integrations.records import AssignmentRecord, Record, SubmissionRecord

ASSIGNMENTS_FUNCTION = "mod_assign_get_assignments"
SUBMISSIONS_FUNCTION = "mod_assign_get_submissions"
GRADES_FUNCTION = "mod_assign_get_grades"
#: The most courses (or assignments) asked for in one call: Moodle does not
#: page these answers, so a call stays of a size a PHP worker answers well.
MAX_CHUNK = 50
#: Moodle's submission ``status`` to the portal's state; ``submitted`` becomes
#: ``graded`` once the grading status says so. A draft is not handed in
#: (the assignment requires the learner to press "Submit"); ``reopened`` is
#: a new attempt the teacher opened after grading the last one.
SUBMISSION_STATES = {
    "new": "unsubmitted",
    "draft": "unsubmitted",
    "submitted": "submitted",
    "reopened": "returned",
}
#: gradingstatus values that mean the learner has a grade (the second is
#: the marking workflow's "released").
GRADED_STATUSES = frozenset({"graded", "released"})
#: Warning codes that mean the token may not read an item (not "none found").
REFUSED_WARNINGS = frozenset({"1", "2"})
MAX_POINTS = Decimal("99999999.99")


def submission_functions(config: MoodleConfig) -> tuple[str, ...]:
    """Return the functions the submission streams call, when they are on."""
    if not config.sync_submissions:
        return ()
    return (ASSIGNMENTS_FUNCTION, SUBMISSIONS_FUNCTION, GRADES_FUNCTION)


def _points(value: Any, what: str) -> Decimal | None:
    """Return a Moodle grade as points (two decimals); negative means none."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ItemError(f"{what}: expected a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ItemError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ItemError(f"{what}: {value!r} is not a finite number")
    if number < 0:
        return None
    if number > MAX_POINTS:
        raise ItemError(f"{what}: {number} is too large")
    return number.quantize(CENT, rounding=ROUND_HALF_UP)


def _warning_failures(body: Mapping[str, Any], function: str) -> list[dict[str, Any]]:
    """Return a failure per warning that says the token may not read an item."""
    failures = []
    for warning in body.get("warnings") or []:
        if not isinstance(warning, dict):
            continue
        if str(warning.get("warningcode")) not in REFUSED_WARNINGS:
            continue
        failures.append(
            {
                "external_id": f"{warning.get('item')}:{warning.get('itemid')}",
                "reason": f"{function} refused it: {str(warning.get('message'))[:200]}",
            }
        )
    return failures


# --- Assignments --------------------------------------------------------------


def assignment_record(item: Mapping[str, Any]) -> AssignmentRecord:
    """Return the portal assignment for one mod_assign_get_assignments item.

    ``grade`` is the maximum grade when positive (a negative one names a
    scale, 0 no grading): only a positive one is ``points_possible``.
    """
    maximum = _points(item.get("grade"), "grade")
    return {
        "type": "assignment",
        "external_id": str(moodle_id(item.get("id"), "id")),
        "course_external_id": str(moodle_id(item.get("course"), "course")),
        "title": text(item.get("name"), "name", required=True),
        "due_at": timestamp(item.get("duedate"), "duedate"),
        "points_possible": maximum if maximum else None,
        "remote_updated_at": timestamp(item.get("timemodified"), "timemodified"),
    }


class ChunkedStream(Stream):
    """A stream over synced rows (courses or assignments), a chunk a call.

    Subclasses name the rows (``rows``) and read a chunk (``read``).
    """

    #: "course" or "assignment": the synced rows the stream walks.
    rows: ClassVar[str] = ""

    def __init__(self, config: MoodleConfig) -> None:
        self.config = config

    def read(
        self, moodle: MoodleClient, chunk: list[Any]
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return the records and failures of one chunk of rows.

        Subclasses must override this.
        """
        raise NotImplementedError

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield a page per chunk of rows after the cursor's row."""
        moodle = connect(context.integration, context.client)
        rows = _rows_after(context.integration, self.rows, cursor)
        if not rows:
            yield Page(records=[], next_cursor=None)
            return

        size = min(_page_size(self.config, context), MAX_CHUNK)
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            records, failures = self.read(moodle, chunk)
            last = start + size >= len(rows)
            yield Page(
                records=records,
                next_cursor=None if last else {"after": chunk[-1][0]},
                fetched=len(records) + len(failures),
                failures=failures,
            )


class AssignmentStream(ChunkedStream):
    """The assignments of every synced course."""

    name = "assignments"
    record_type = "assignment"
    depends_on = ("courses",)
    rows = "course"

    def read(
        self, moodle: MoodleClient, chunk: list[Any]
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return the assignments of a chunk of courses."""
        body = moodle.call(
            ASSIGNMENTS_FUNCTION,
            {
                "courseids": [int(external_id) for _, external_id in chunk],
                "includenotenrolledcourses": True,
            },
        )
        listed = body.get("courses") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise _invalid(moodle, ASSIGNMENTS_FUNCTION, "'courses'")
        records, failures = _map(
            [
                assignment
                for course in listed
                if isinstance(course, dict)
                for assignment in course.get("assignments") or []
            ],
            assignment_record,
        )
        return records, failures + _warning_failures(body, ASSIGNMENTS_FUNCTION)


# --- Submissions --------------------------------------------------------------


def submission_record(
    assignment_id: str,
    item: Mapping[str, Any],
    grade: Mapping[str, Any] | None,
    due_at: Any,
) -> SubmissionRecord | None:
    """Return the portal submission of one learner's latest attempt, or None.

    A team submission (user 0, one per group) is not a learner's and is
    skipped. ``attempt`` counts from 1 (Moodle's ``attemptnumber`` from 0);
    ``submitted_at`` is the attempt's last change while it is submitted,
    which Moodle's web service gives in place of a hand-in time; ``late``
    compares it with the assignment's due date (extensions and overrides
    are not known here); ``missing`` Moodle does not report.
    """
    user_id = item.get("userid")
    if user_id in (0, "0"):
        return None
    learner = str(moodle_id(user_id, "userid"))
    status = item.get("status")
    if not isinstance(status, str) or status not in SUBMISSION_STATES:
        raise ItemError(
            f"status: unknown value {status!r}; expected one of "
            f"{', '.join(SUBMISSION_STATES)}"
        )
    state = SUBMISSION_STATES[status]
    if state == "submitted" and item.get("gradingstatus") in GRADED_STATUSES:
        state = "graded"
    modified = timestamp(item.get("timemodified"), "timemodified")
    submitted_at = modified if status == "submitted" else None
    attemptnumber = item.get("attemptnumber")
    if isinstance(attemptnumber, bool) or not isinstance(attemptnumber, int):
        raise ItemError("attemptnumber: expected a whole number")

    score = None
    released = item.get("gradingstatus") in GRADED_STATUSES
    if released and grade is not None and grade.get("attemptnumber") == attemptnumber:
        # Only a released grade: in a marking workflow a grade exists from
        # "in marking" on, but the learner sees it only once "released".
        score = _points(grade.get("grade"), "grade")
    return {
        "type": "submission",
        "external_id": f"{assignment_id}:{learner}",
        "assignment_external_id": assignment_id,
        "learner": {"remote_user_id": learner},
        "state": state,
        "submitted_at": submitted_at,
        "attempt": attemptnumber + 1,
        "score": score,
        "grade": format(score.normalize(), "f") if score is not None else "",
        "late": bool(submitted_at and due_at and submitted_at > due_at),
        "missing": False,
        "remote_created_at": timestamp(item.get("timecreated"), "timecreated"),
        "remote_updated_at": modified,
    }


class SubmissionStream(ChunkedStream):
    """The latest submission of every learner for every synced assignment."""

    name = "submissions"
    record_type = "submission"
    depends_on = ("courses", "enrollments", "assignments")
    rows = "assignment"

    def read(
        self, moodle: MoodleClient, chunk: list[Any]
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return the submissions of a chunk of assignments, with their grades."""
        ids = [int(external_id) for _, external_id, _ in chunk]
        submissions = moodle.call(SUBMISSIONS_FUNCTION, {"assignmentids": ids})
        grades = moodle.call(GRADES_FUNCTION, {"assignmentids": ids})
        return self._records(moodle, chunk, submissions, grades)

    def _records(
        self,
        moodle: MoodleClient,
        chunk: list[tuple[int, str, Any]],
        submissions: Any,
        grades: Any,
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        by_assignment = _listed(
            moodle, SUBMISSIONS_FUNCTION, submissions, "submissions"
        )
        graded = _listed(moodle, GRADES_FUNCTION, grades, "grades")
        due = {external_id: due_at for _, external_id, due_at in chunk}

        records: list[Record] = []
        failures = _warning_failures(submissions, SUBMISSIONS_FUNCTION)
        failures += _warning_failures(grades, GRADES_FUNCTION)
        for assignment_id, items in by_assignment.items():
            if assignment_id not in due:
                continue
            grade_of = {
                grade.get("userid"): grade
                for grade in graded.get(assignment_id, [])
                if isinstance(grade, dict)
            }
            for item in items:
                if not isinstance(item, dict):
                    continue
                try:
                    record = submission_record(
                        assignment_id,
                        item,
                        grade_of.get(item.get("userid")),
                        due[assignment_id],
                    )
                except ItemError as error:
                    failures.append(
                        {
                            "external_id": f"{assignment_id}:{item.get('userid')}",
                            "reason": error.reason,
                        }
                    )
                    continue
                if record is not None:
                    records.append(record)
        return records, failures


# --- Helpers ------------------------------------------------------------------


def _map(items: list[Any], mapper: Any) -> tuple[list[Record], list[dict[str, Any]]]:
    records: list[Record] = []
    failures: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        try:
            records.append(mapper(item))
        except ItemError as error:
            failures.append(
                {"external_id": str(item.get("id")), "reason": error.reason}
            )
    return records, failures


def _listed(
    moodle: MoodleClient, function: str, body: Any, key: str
) -> dict[str, list[Any]]:
    """Return ``{assignment id: items}`` of a submissions or grades answer."""
    listed = body.get("assignments") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise _invalid(moodle, function, "'assignments'")
    by_assignment: dict[str, list[Any]] = {}
    for entry in listed:
        if isinstance(entry, dict) and isinstance(entry.get(key), list):
            by_assignment[str(entry.get("assignmentid"))] = entry[key]
    return by_assignment


def _invalid(moodle: MoodleClient, function: str, what: str) -> errors.InvalidResponse:
    return errors.InvalidResponse(
        f"{function} did not answer {what}", integration=moodle.integration
    )


def _rows_after(
    integration: Integration, kind: str, cursor: dict[str, Any] | None
) -> list[Any]:
    """Return the synced courses (pk, id) or assignments (pk, id, due) to read.

    Those not marked deleted, in portal id order, after the cursor's.
    """
    from portal.learning.models import Assignment, Course

    after = _cursor_int(cursor, "after")
    if kind == "course":
        rows = Course.objects.filter(integration=integration, deleted_at__isnull=True)
        columns: tuple[str, ...] = ("pk", "external_id")
    else:
        rows = Assignment.objects.filter(
            integration=integration, deleted_at__isnull=True
        )
        columns = ("pk", "external_id", "due_at")
    if after is not None:
        rows = rows.filter(pk__gt=after)
    return list(rows.order_by("pk").values_list(*columns))
