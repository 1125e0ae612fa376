"""Moodle's quizzes and learners' quiz grades, as two opt-in streams.

With the ``sync_quizzes`` setting on, two streams follow the others:

- ``quizzes``: ``mod_quiz_get_quizzes_by_courses`` for the synced courses,
  ``page_size`` courses a call; the cursor is the last course (pk) read.
  Courses the token may not see come back as ``warnings`` and are counted
  as failed.
- ``quiz_results``: for each synced course with quizzes, one
  ``gradereport_user_get_grade_items`` call (every learner's grade items,
  the same call the progress stream makes), keeping the items of module
  ``quiz`` whose instance is a synced quiz. The result is the learner's
  quiz grade as the gradebook holds it, after the quiz's grading method
  (highest, average, first or last attempt): one result per learner and
  quiz, external id ``<quiz id>:<user id>``. Why not
  ``mod_quiz_get_user_attempts``: it answers for one quiz and one user a
  call, so a course of 30 learners and 10 quizzes costs 300 calls instead
  of one, and its attempts still leave choosing the grade that counts to
  the caller. A grade not yet in the gradebook (no finished attempt, or
  essay questions waiting for a grader) or hidden from the learner is no
  result yet.

A quiz's ``password`` and ``subnet`` (sent to managers) are never stored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import Page, Stream
from integrations.providers.moodle.sync import (
    GRADE_ITEMS_FUNCTION,
    ItemError,
    _course_is_gone,
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
    from integrations.providers.moodle.sync import MoodleConfig
    from integrations.records import QuizRecord, QuizResultRecord, Record

logger = logging.getLogger(__name__)

QUIZZES_FUNCTION = "mod_quiz_get_quizzes_by_courses"
CENT = Decimal("0.01")


def _points(value: Any, what: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ItemError(f"{what}: expected a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ItemError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ItemError(f"{what}: {value!r} is not a finite number")
    return number.quantize(CENT)


def quiz_record(item: Mapping[str, Any], base_url: str) -> QuizRecord:
    """Return the portal quiz of one mod_quiz_get_quizzes_by_courses item."""
    quiz_id = moodle_id(item.get("id"), "id")
    course_id = moodle_id(item.get("course"), "course")
    limit = item.get("timelimit")
    minutes = None
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        minutes = math.ceil(limit / 60)
    record: dict[str, Any] = {
        "type": "quiz",
        "external_id": str(quiz_id),
        "course_external_id": str(course_id),
        "title": text(item.get("name"), "name", required=True),
        "description": text(item.get("intro"), "intro"),
        # ``visible`` is sent only to users who may view the quiz; missing
        # means the token's user sees it, so it counts as visible.
        "published": item.get("visible") not in (0, False, "0"),
        "points_possible": _points(item.get("grade"), "grade"),
        "time_limit_minutes": minutes,
        "due_at": timestamp(item.get("timeclose"), "timeclose"),
    }
    module = item.get("coursemodule")
    if isinstance(module, int) and not isinstance(module, bool):
        record["url"] = f"{base_url.rstrip('/')}/mod/quiz/view.php?id={module}"
    return record  # type: ignore[return-value]


def quiz_result_records(
    body: Any, quiz_ids: set[str], moodle_integration: str
) -> tuple[list[Record], list[dict[str, Any]], int]:
    """Return the results in a gradereport answer, failures and the items read.

    Only grade items of module ``quiz`` with an instance in ``quiz_ids``
    count; one without a raw grade, or hidden from the learner, is skipped.
    """
    usergrades = body.get("usergrades") if isinstance(body, dict) else None
    if not isinstance(usergrades, list):
        raise errors.InvalidResponse(
            f"{GRADE_ITEMS_FUNCTION} did not answer 'usergrades'",
            integration=moodle_integration,
        )
    records: list[Record] = []
    failures: list[dict[str, Any]] = []
    read = 0
    for entry in usergrades:
        if not isinstance(entry, dict):
            continue
        for item in entry.get("gradeitems") or []:
            if not _is_quiz_item(item, quiz_ids):
                continue
            read += 1
            external_id = f"{item.get('iteminstance')}:{entry.get('userid')}"
            try:
                record = quiz_result_record(entry, item)
            except ItemError as error:
                failures.append({"external_id": external_id, "reason": error.reason})
                continue
            if record is not None:
                records.append(record)
    return records, failures, read


def _is_quiz_item(item: Any, quiz_ids: set[str]) -> bool:
    return (
        isinstance(item, dict)
        and item.get("itemtype") == "mod"
        and item.get("itemmodule") == "quiz"
        and str(item.get("iteminstance")) in quiz_ids
    )


def quiz_result_record(
    entry: Mapping[str, Any], item: Mapping[str, Any]
) -> QuizResultRecord | None:
    """Return a learner's quiz grade as a result, or None when there is none yet."""
    if item.get("graderaw") is None or item.get("gradeishidden") is True:
        return None
    user_id = moodle_id(entry.get("userid"), "userid")
    quiz_id = moodle_id(item.get("iteminstance"), "iteminstance")
    score = _points(item.get("graderaw"), "graderaw")
    most = _points(item.get("grademax"), "grademax")
    if most is None:
        raise ItemError("grademax: the quiz grade has no maximum")
    # Moodle's quiz module reports when the graded attempt was submitted;
    # the grading time stands in where a site leaves it out.
    submitted_at = timestamp(
        item.get("gradedatesubmitted"), "gradedatesubmitted"
    ) or timestamp(item.get("gradedategraded"), "gradedategraded")
    if submitted_at is None:
        raise ItemError("gradedatesubmitted: the grade has no date")
    learner: dict[str, Any] = {"remote_user_id": str(user_id)}
    name = text(entry.get("userfullname"), "userfullname")
    if name:
        learner["name"] = name
    return {
        "type": "quiz_result",
        "external_id": f"{quiz_id}:{user_id}",
        "quiz_external_id": str(quiz_id),
        "learner": learner,  # type: ignore[typeddict-item]
        "score": score,  # type: ignore[typeddict-item]
        "max_score": most,
        "state": "complete",
        "submitted_at": submitted_at,
        "attempt": None,
    }


class QuizzesStream(Stream):
    """The quizzes of every synced course, ``page_size`` courses a call."""

    name = "quizzes"
    record_type = "quiz"
    depends_on = ("courses",)

    def __init__(self, config: MoodleConfig) -> None:
        self.config = config

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield a page per call, each for the next courses after the cursor's."""
        moodle = connect(context.integration, context.client)
        courses = _synced_courses(context.integration, _cursor_int(cursor, "after"))
        if not courses:
            yield Page(records=[], next_cursor=None)
            return
        size = _page_size(self.config, context)
        base_url = context.integration.base_url

        for start in range(0, len(courses), size):
            chunk = courses[start : start + size]
            body = moodle.call(
                QUIZZES_FUNCTION, {"courseids": [int(ext) for _, ext in chunk]}
            )
            quizzes = body.get("quizzes") if isinstance(body, dict) else None
            if not isinstance(quizzes, list):
                raise errors.InvalidResponse(
                    f"{QUIZZES_FUNCTION} did not answer 'quizzes'",
                    integration=moodle.integration,
                )
            records, failures = _quiz_records(quizzes, base_url)
            failures.extend(_warnings(body))
            last = start + size >= len(courses)
            yield Page(
                records=records,
                next_cursor=None if last else {"after": chunk[-1][0]},
                fetched=len(quizzes),
                failures=failures,
            )


def _quiz_records(
    quizzes: list[Any], base_url: str
) -> tuple[list[Record], list[dict[str, Any]]]:
    records: list[Record] = []
    failures: list[dict[str, Any]] = []
    for position, item in enumerate(quizzes):
        if not isinstance(item, dict):
            failures.append(
                {"external_id": None, "reason": f"quiz {position} is not an object"}
            )
            continue
        try:
            records.append(quiz_record(item, base_url))
        except ItemError as error:
            failures.append(
                {"external_id": str(item.get("id")), "reason": error.reason}
            )
    return records, failures


def _warnings(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return a failure per warning (a course the token may not read)."""
    failures = []
    for warning in body.get("warnings") or []:
        if isinstance(warning, dict):
            code = text(warning.get("warningcode"), "warningcode")[:50]
            failures.append(
                {
                    "external_id": str(warning.get("itemid") or ""),
                    "reason": f"Moodle warning {code} for "
                    f"{text(warning.get('item'), 'item')[:50] or 'an item'}",
                }
            )
    return failures


class QuizResultsStream(Stream):
    """Learners' quiz grades, one gradebook call per course with quizzes."""

    name = "quiz_results"
    record_type = "quiz_result"
    depends_on = ("quizzes",)

    def __init__(self, config: MoodleConfig) -> None:
        self.config = config

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield a page per course with quizzes, after the cursor's course."""
        moodle = connect(context.integration, context.client)
        courses = _courses_with_quizzes(
            context.integration, _cursor_int(cursor, "after")
        )
        if not courses:
            yield Page(records=[], next_cursor=None)
            return

        for index, (course_pk, course_id, quiz_ids) in enumerate(courses):
            after = None if index == len(courses) - 1 else {"after": course_pk}
            try:
                body = moodle.call(GRADE_ITEMS_FUNCTION, {"courseid": course_id})
            except errors.NotFound:
                if not _course_is_gone(moodle, course_id):
                    raise
                logger.info(
                    "moodle.sync.course_gone",
                    extra={"integration": moodle.integration, "course": course_id},
                )
                yield Page(records=[], next_cursor=after)
                continue
            records, failures, read = quiz_result_records(
                body, quiz_ids, moodle.integration
            )
            yield Page(
                records=records, next_cursor=after, fetched=read, failures=failures
            )


def _synced_courses(integration: Integration, after: int | None) -> list[tuple]:
    """Return (pk, Moodle id) of the live synced courses after ``after``."""
    from portal.learning.models import Course

    courses = Course.objects.filter(integration=integration, deleted_at__isnull=True)
    if after is not None:
        courses = courses.filter(pk__gt=after)
    return list(courses.order_by("pk").values_list("pk", "external_id"))


def _courses_with_quizzes(
    integration: Integration, after: int | None
) -> list[tuple[int, str, set[str]]]:
    """Return (pk, Moodle id, quiz ids) of live courses with live LMS quizzes."""
    from portal.assessment.models import Quiz, QuizOrigin

    quizzes = Quiz.objects.filter(
        integration=integration,
        origin=QuizOrigin.LMS,
        deleted_at__isnull=True,
        course__deleted_at__isnull=True,
    )
    if after is not None:
        quizzes = quizzes.filter(course_id__gt=after)
    by_course: dict[tuple[int, str], set[str]] = {}
    for course_pk, course_id, quiz_id in quizzes.values_list(
        "course_id", "course__external_id", "external_id"
    ):
        by_course.setdefault((course_pk, course_id), set()).add(quiz_id)
    return [
        (course_pk, course_id, quiz_ids)
        for (course_pk, course_id), quiz_ids in sorted(by_course.items())
    ]


def quiz_streams(config: MoodleConfig) -> list[Stream]:
    """Return the quiz streams when ``sync_quizzes`` is on, else none."""
    if not config.sync_quizzes:
        return []
    return [QuizzesStream(config), QuizResultsStream(config)]
