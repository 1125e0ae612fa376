"""Streams of the Moodle provider: courses, enrollments and progress.

- ``courses``: one call to ``core_course_get_courses`` (Moodle has no paged
  course listing), without the site front page, stored in pages of
  ``page_size`` courses; the cursor is the last course id stored.
- ``enrollments``: for each synced course (the integration's non-deleted
  Course rows, in id order), ``core_enrol_get_enrolled_users`` in windows of
  ``page_size`` users (``limitfrom``/``limitnumber``, sorted by user id).
- ``progress``: for each synced course, its learners (enrolled users with a
  learner role), the course total of ``gradereport_user_get_grade_items``
  (one call per course) and, per learner,
  ``core_completion_get_activities_completion_status`` and
  ``core_completion_get_course_completion_status``.

With ``sync_submissions``, ``assignments`` and ``submissions`` follow
(integrations/providers/moodle/submissions.py).

The cursor of a per-course stream is ``{"after": <Course pk>}`` between
courses and ``{"course": <Course pk>, "offset": n, "last_user": id}`` inside
one. Each window after the first re-reads the last user of the previous one:
if that user is no longer where it was (someone was unenrolled meanwhile and
the list shifted), the course is read again from the start rather than
silently skipping a user, which the end of the pass would mark deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import Page, Stream
from integrations.providers.moodle.token import connect

if TYPE_CHECKING:
    from integrations.models import Integration
    from integrations.providers.base import StreamContext
    from integrations.providers.moodle.client import MoodleClient
    from integrations.records import (
        CourseRecord,
        EnrollmentRecord,
        LearnerRef,
        ProgressRecord,
        Record,
    )

logger = logging.getLogger(__name__)

COURSES_FUNCTION = "core_course_get_courses"
ENROLLED_USERS_FUNCTION = "core_enrol_get_enrolled_users"
GRADE_ITEMS_FUNCTION = "gradereport_user_get_grade_items"
COURSE_COMPLETION_FUNCTION = "core_completion_get_course_completion_status"
ACTIVITIES_COMPLETION_FUNCTION = "core_completion_get_activities_completion_status"

#: Moodle's standard role short names and the portal roles they become.
DEFAULT_ROLE_MAP = {
    "manager": "designer",
    "coursecreator": "designer",
    "editingteacher": "teacher",
    "teacher": "ta",
    "student": "student",
    "guest": "observer",
}
#: The user fields asked of core_enrol_get_enrolled_users; "roles" must be
#: named or Moodle leaves the roles out once any field is named.
USER_FIELDS = "id,fullname,firstname,lastname,email,roles"
# Completion criteria aggregation in Moodle: 1 all criteria, 2 any.
AGGREGATION_ANY = 2
# An activity's completion state: 0 incomplete, 1 complete, 2 complete
# pass, 3 complete fail; tracking 0 means the activity is not tracked.
STATE_INCOMPLETE = 0
# Moodle shows "-" where a learner has no grade yet.
NO_GRADE = "-"
# How often one course's user list may shift under a read before giving up.
MAX_COURSE_RESTARTS = 3
CENT = Decimal("0.01")
MAX_GRADE_CHARS = 50


@dataclass(frozen=True)
class MoodleConfig:
    """The checked settings of one Moodle integration, defaults filled in."""

    page_size: int = 100
    only_active_enrolments: bool = True
    learner_roles: frozenset[str] = frozenset({"student"})
    role_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_MAP))
    username: str = ""
    service: str = ""
    write_back_grade_item: str = ""
    write_back_completion: bool = True
    sync_submissions: bool = False
    #: The opt-in quizzes and quiz_results streams (moodle/quizzes.py).
    sync_quizzes: bool = False


class ItemError(Exception):
    """One Moodle item cannot become a record; the sync records why and goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- Reading Moodle values --------------------------------------------------


def moodle_id(value: Any, what: str) -> int:
    """Return a Moodle id (a positive integer) or raise ItemError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ItemError(f"{what}: expected a numeric id, got {type(value).__name__}")
    try:
        number = int(value)
    except ValueError:
        raise ItemError(f"{what}: {value!r} is not a numeric id") from None
    if number <= 0:
        raise ItemError(f"{what}: {number} is not a valid id")
    return number


def timestamp(value: Any, what: str) -> datetime | None:
    """Return a Unix time as an aware datetime; 0 and missing mean none."""
    if value in (None, 0, "0", ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ItemError(f"{what}: expected a Unix time, got {type(value).__name__}")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise ItemError(f"{what}: {value!r} is not a Unix time") from error


def text(value: Any, what: str, *, required: bool = False) -> str:
    """Return ``value`` as text; raise ItemError if required and empty."""
    if value is None:
        value = ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ItemError(f"{what}: expected text, got {type(value).__name__}")
    value = str(value).strip()
    if required and not value:
        raise ItemError(f"{what}: the item has none")
    return value


def is_site_course(item: Mapping[str, Any]) -> bool:
    """Tell whether a course item is the site front page.

    core_course_get_courses returns the front page too (id SITEID, format
    "site", category 0), although its documentation says otherwise.
    """
    return item.get("format") == "site" or item.get("categoryid") == 0


# --- Courses ----------------------------------------------------------------


def course_state(
    item: Mapping[str, Any], ends_at: datetime | None, now: datetime
) -> str:
    """Return the portal state of a Moodle course.

    ``visible`` is only returned to callers who may update the course; when
    it is missing the course is treated as visible.
    """
    if item.get("visible") in (0, False, "0"):
        return "unpublished"
    if ends_at is not None and ends_at <= now:
        return "completed"
    return "active"


def course_record(
    item: Mapping[str, Any], base_url: str, now: datetime | None = None
) -> CourseRecord:
    """Return the normalized record of one core_course_get_courses item."""
    course_id = moodle_id(item.get("id"), "id")
    starts_at = timestamp(item.get("startdate"), "startdate")
    ends_at = timestamp(item.get("enddate"), "enddate")
    record: dict[str, Any] = {
        "type": "course",
        "external_id": str(course_id),
        "title": text(item.get("fullname"), "fullname", required=True),
        "code": text(item.get("shortname"), "shortname"),
        "state": course_state(item, ends_at, now or datetime.now(tz=UTC)),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "url": f"{base_url.rstrip('/')}/course/view.php?id={course_id}",
    }
    if "timecreated" in item:
        record["remote_created_at"] = timestamp(item.get("timecreated"), "timecreated")
    if "timemodified" in item:
        record["remote_updated_at"] = timestamp(
            item.get("timemodified"), "timemodified"
        )
    return record  # type: ignore[return-value]


class CourseStream(Stream):
    """Every course of the site but the front page, in pages of page_size."""

    name = "courses"
    record_type = "course"

    def __init__(self, config: MoodleConfig) -> None:
        self.config = config

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield the courses after the cursor's course id, page by page."""
        moodle = connect(context.integration, context.client)
        items = moodle.call(COURSES_FUNCTION)
        if not isinstance(items, list):
            raise errors.InvalidResponse(
                f"{COURSES_FUNCTION} did not answer a list of courses",
                integration=moodle.integration,
            )
        after = _cursor_int(cursor, "after_id")

        courses: list[tuple[int, Mapping[str, Any]]] = []
        failures: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                failures.append(
                    {
                        "external_id": None,
                        "reason": f"course {position} is not an object",
                    }
                )
                continue
            if is_site_course(item):
                continue
            try:
                course_id = moodle_id(item.get("id"), "id")
            except ItemError as error:
                failures.append({"external_id": None, "reason": error.reason})
                continue
            if after is None or course_id > after:
                courses.append((course_id, item))
        courses.sort(key=lambda pair: pair[0])

        if not courses:
            yield Page(records=[], next_cursor=None, failures=failures)
            return
        size = _page_size(self.config, context)
        now = datetime.now(tz=UTC)
        base_url = context.integration.base_url
        for start in range(0, len(courses), size):
            chunk = courses[start : start + size]
            records: list[Record] = []
            for course_id, item in chunk:
                try:
                    records.append(course_record(item, base_url, now))
                except ItemError as error:
                    failures.append(
                        {"external_id": str(course_id), "reason": error.reason}
                    )
            last = start + size >= len(courses)
            yield Page(
                records=records,
                next_cursor=None if last else {"after_id": chunk[-1][0]},
                fetched=len(chunk),
                failures=failures,
            )
            failures = []


# --- Users of a course ------------------------------------------------------


def learner_ref(user: Mapping[str, Any]) -> LearnerRef:
    """Return the LearnerRef of a Moodle user item."""
    user_id = moodle_id(user.get("id"), "user id")
    ref: dict[str, Any] = {"remote_user_id": str(user_id)}
    email = text(user.get("email"), "email")
    if email:
        ref["email"] = email
    name = text(user.get("fullname"), "fullname") or " ".join(
        part
        for part in (
            text(user.get("firstname"), "firstname"),
            text(user.get("lastname"), "lastname"),
        )
        if part
    )
    if name:
        ref["name"] = name
    return ref  # type: ignore[return-value]


def role_shortnames(user: Mapping[str, Any]) -> list[str]:
    """Return the user's role short names in the course, most powerful first."""
    roles = user.get("roles") or []
    if not isinstance(roles, list):
        raise ItemError("roles: expected a list")
    ordered = sorted(
        (role for role in roles if isinstance(role, dict)),
        key=lambda role: (
            role.get("sortorder") if isinstance(role.get("sortorder"), int) else 10**6
        ),
    )
    return [
        str(role.get("shortname") or "") for role in ordered if role.get("shortname")
    ]


def portal_role(shortnames: list[str], role_map: Mapping[str, str]) -> str:
    """Return the portal role of the most powerful mapped Moodle role.

    A user enrolled without any role is an observer; roles that are all
    unmapped are an error naming them, so a custom role is not guessed.
    """
    if not shortnames:
        return "observer"
    for shortname in shortnames:
        if shortname in role_map:
            return role_map[shortname]
    raise ItemError(
        f"role: Moodle role(s) {', '.join(shortnames)} are not mapped to a portal "
        "role; add them to the role_map setting"
    )


def enrollment_record(
    course_id: str, user: Mapping[str, Any], config: MoodleConfig
) -> EnrollmentRecord:
    """Return the normalized record of one enrolled user of a course."""
    learner = learner_ref(user)
    return {
        "type": "enrollment",
        "external_id": f"{course_id}:{learner['remote_user_id']}",
        "course_external_id": course_id,
        "learner": learner,
        "role": portal_role(role_shortnames(user), config.role_map),
        # Suspended enrolments are left out (onlyactive) rather than told
        # apart: core_enrol_get_enrolled_users returns no enrolment status.
        "state": "active",
    }


def enrolled_user_windows(
    moodle: MoodleClient,
    course_id: str,
    config: MoodleConfig,
    size: int,
    offset: int = 0,
    last_user: int | None = None,
) -> Iterator[tuple[list[dict[str, Any]], dict[str, int] | None]]:
    """Yield a course's enrolled users a window at a time, sorted by id.

    Each window comes with where the next one starts (``offset`` and
    ``last_user``), or None after the last window.
    """
    restarts = 0
    while True:
        overlap = last_user is not None and offset > 0
        options = _enrolled_user_options(
            config,
            limitfrom=offset - 1 if overlap else offset,
            limitnumber=size + 1 if overlap else size,
        )
        users = _user_list(
            moodle.call(
                ENROLLED_USERS_FUNCTION, {"courseid": course_id, "options": options}
            ),
            moodle,
        )
        if overlap:
            if not users or users[0]["id"] != last_user:
                restarts += 1
                if restarts > MAX_COURSE_RESTARTS:
                    raise errors.TransientError(
                        f"The enrolments of Moodle course {course_id} kept changing while "
                        "they were read; the next run reads them again",
                        integration=moodle.integration,
                    )
                logger.info(
                    "moodle.sync.course_users_shifted",
                    extra={"integration": moodle.integration, "course": course_id},
                )
                offset, last_user = 0, None
                continue
            users = users[1:]

        if len(users) < size:
            yield users, None
            return
        offset += len(users)
        last_user = users[-1]["id"]
        yield users, {"offset": offset, "last_user": last_user}


def _enrolled_user_options(
    config: MoodleConfig, *, limitfrom: int, limitnumber: int
) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = [
        {"name": "userfields", "value": USER_FIELDS},
        {"name": "sortby", "value": "id"},
        {"name": "sortdirection", "value": "ASC"},
        {"name": "limitfrom", "value": limitfrom},
        {"name": "limitnumber", "value": limitnumber},
    ]
    if config.only_active_enrolments:
        options.insert(0, {"name": "onlyactive", "value": 1})
    return options


def _user_list(body: Any, moodle: MoodleClient) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(
        isinstance(user, dict)
        and isinstance(user.get("id"), int)
        and not isinstance(user.get("id"), bool)
        for user in body
    ):
        raise errors.InvalidResponse(
            f"{ENROLLED_USERS_FUNCTION} did not answer a list of users with ids",
            integration=moodle.integration,
        )
    return body


# --- Per-course streams -----------------------------------------------------


@dataclass
class CourseContext:
    """What a per-course stream learns about one course while reading it."""

    external_id: str
    grades: dict[int, Mapping[str, Any]] | None = None
    course_completion: bool = True


class PerCourseStream(Stream):
    """A stream read course by course over the integration's synced courses."""

    depends_on = ("courses",)

    def __init__(self, config: MoodleConfig) -> None:
        self.config = config

    def records_for(
        self,
        moodle: MoodleClient,
        course: CourseContext,
        users: list[dict[str, Any]],
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return the records (and failures) for one window of a course's users.

        Subclasses must override this.
        """
        raise NotImplementedError

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield a page per window of users of each course from the cursor on."""
        moodle = connect(context.integration, context.client)
        size = _page_size(self.config, context)
        rows, offset, last_user = _course_positions(context.integration, cursor)
        if not rows:
            yield Page(records=[], next_cursor=None)
            return

        for index, (course_pk, course_id) in enumerate(rows):
            after_course = None if index == len(rows) - 1 else {"after": course_pk}
            start, previous = (offset, last_user) if index == 0 else (0, None)
            course = CourseContext(external_id=course_id)
            try:
                windows = enrolled_user_windows(
                    moodle, course_id, self.config, size, start, previous
                )
                for users, resume in windows:
                    records, failures = self.records_for(moodle, course, users)
                    yield Page(
                        records=records,
                        next_cursor=(
                            {"course": course_pk, **resume} if resume else after_course
                        ),
                        fetched=len(users),
                        failures=failures,
                    )
            except errors.NotFound:
                if not _course_is_gone(moodle, course_id):
                    raise
                # Deleted in Moodle since the courses stream ran: its rows
                # are simply not seen, so the end of the pass marks them.
                logger.info(
                    "moodle.sync.course_gone",
                    extra={"integration": moodle.integration, "course": course_id},
                )
                yield Page(records=[], next_cursor=after_course)


def _course_positions(
    integration: Integration, cursor: dict[str, Any] | None
) -> tuple[list[tuple[int, str]], int, int | None]:
    """Return the (pk, external id) of the courses to read, and where to start."""
    from portal.learning.models import Course

    courses = Course.objects.filter(
        integration=integration, deleted_at__isnull=True
    ).order_by("pk")
    offset, last_user = 0, None
    if cursor and "course" in cursor:
        course_pk = _cursor_int(cursor, "course")
        rows = list(courses.filter(pk__gte=course_pk).values_list("pk", "external_id"))
        if rows and rows[0][0] == course_pk:
            offset = _cursor_int(cursor, "offset") or 0
            last_user = _cursor_int(cursor, "last_user")
        return rows, offset, last_user
    after = _cursor_int(cursor, "after")
    if after is not None:
        courses = courses.filter(pk__gt=after)
    return list(courses.values_list("pk", "external_id")), offset, last_user


def _course_is_gone(moodle: MoodleClient, course_id: str) -> bool:
    """Tell whether Moodle no longer has the course (rather than the function)."""
    try:
        found = moodle.call(COURSES_FUNCTION, {"options": {"ids": [course_id]}})
    except errors.NotFound:
        return True
    return isinstance(found, list) and not found


class EnrollmentStream(PerCourseStream):
    """The enrolled users of every synced course, with their portal role."""

    name = "enrollments"
    record_type = "enrollment"

    def records_for(
        self,
        moodle: MoodleClient,
        course: CourseContext,
        users: list[dict[str, Any]],
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return an enrollment record per user."""
        records: list[Record] = []
        failures: list[dict[str, Any]] = []
        for user in users:
            try:
                records.append(enrollment_record(course.external_id, user, self.config))
            except ItemError as error:
                failures.append(
                    {
                        "external_id": f"{course.external_id}:{user.get('id')}",
                        "reason": error.reason,
                    }
                )
        return records, failures


# --- Progress ---------------------------------------------------------------


def course_totals(body: Any, moodle: MoodleClient) -> dict[int, Mapping[str, Any]]:
    """Return each user's course total item from gradereport_user_get_grade_items."""
    usergrades = body.get("usergrades") if isinstance(body, dict) else None
    if not isinstance(usergrades, list):
        raise errors.InvalidResponse(
            f"{GRADE_ITEMS_FUNCTION} did not answer 'usergrades'",
            integration=moodle.integration,
        )
    totals: dict[int, Mapping[str, Any]] = {}
    for entry in usergrades:
        if not isinstance(entry, dict) or not isinstance(entry.get("userid"), int):
            continue
        for item in entry.get("gradeitems") or []:
            if isinstance(item, dict) and item.get("itemtype") == "course":
                totals[entry["userid"]] = item
                break
    return totals


def grade_text(total: Mapping[str, Any] | None) -> str:
    """Return the course total as Moodle displays it, or "" when ungraded."""
    if not total:
        return ""
    shown = total.get("gradeformatted")
    if not isinstance(shown, str | int | float) or isinstance(shown, bool):
        return ""
    shown = str(shown).strip()
    return "" if shown == NO_GRADE else shown[:MAX_GRADE_CHARS]


def progress_percent(
    statuses: list[Mapping[str, Any]], course_completed: bool
) -> Decimal:
    """Return the learner's progress as Moodle's own dashboard computes it.

    A completed course is 100; otherwise the share of activities with
    completion tracking whose state is not "incomplete" (as
    core_completion\\progress::get_course_progress_percentage counts), and 0
    when no activity is tracked.
    """
    if course_completed:
        return Decimal(100)
    tracked = [status for status in statuses if status.get("tracking")]
    if not tracked:
        return Decimal(0)
    done = sum(1 for status in tracked if status.get("state") != STATE_INCOMPLETE)
    percent = Decimal(done) * 100 / Decimal(len(tracked))
    return percent.quantize(CENT, rounding=ROUND_HALF_UP)


def completion_time(status: Mapping[str, Any]) -> datetime | None:
    """Return when a completed course was completed, from its criteria.

    Moodle's web service gives no course completion time, only each
    criterion's: with "all criteria" aggregation the course completed when
    the last one did, with "any" when the first one did.
    """
    times = [
        completion.get("timecompleted")
        for completion in status.get("completions") or []
        if isinstance(completion, dict)
        and completion.get("complete")
        and isinstance(completion.get("timecompleted"), int)
        and completion.get("timecompleted") > 0
    ]
    if not times:
        return None
    chosen = min(times) if status.get("aggregation") == AGGREGATION_ANY else max(times)
    return timestamp(chosen, "timecompleted")


class ProgressStream(PerCourseStream):
    """Each learner's completion and course total grade in every synced course."""

    name = "progress"
    record_type = "progress"

    def records_for(
        self,
        moodle: MoodleClient,
        course: CourseContext,
        users: list[dict[str, Any]],
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return a progress record per learner of the window."""
        learners = [
            user
            for user in users
            if self.config.learner_roles.intersection(_safe_roles(user))
        ]
        if learners and course.grades is None:
            course.grades = course_totals(
                moodle.call(GRADE_ITEMS_FUNCTION, {"courseid": course.external_id}),
                moodle,
            )

        records: list[Record] = []
        failures: list[dict[str, Any]] = []
        for user in learners:
            external_id = f"{course.external_id}:{user['id']}"
            try:
                records.append(self._progress(moodle, course, user))
            except ItemError as error:
                failures.append({"external_id": external_id, "reason": error.reason})
            except (errors.ProviderError, errors.NotFound) as error:
                # One learner Moodle cannot report on (a deleted or suspended
                # account, say) must not stop the others.
                failures.append(
                    {
                        "external_id": external_id,
                        "reason": f"Moodle error {error.provider_code or error.code}",
                    }
                )
        return records, failures

    def _progress(
        self, moodle: MoodleClient, course: CourseContext, user: Mapping[str, Any]
    ) -> ProgressRecord:
        learner = learner_ref(user)
        params = {"courseid": course.external_id, "userid": learner["remote_user_id"]}

        activities = moodle.call(ACTIVITIES_COMPLETION_FUNCTION, params)
        statuses = activities.get("statuses") if isinstance(activities, dict) else None
        if not isinstance(statuses, list):
            raise ItemError(f"{ACTIVITIES_COMPLETION_FUNCTION} answered no 'statuses'")
        status = self._course_completion(moodle, course, params)
        completed = bool(status and status.get("completed"))

        return {
            "type": "progress",
            "external_id": f"{course.external_id}:{learner['remote_user_id']}",
            "course_external_id": course.external_id,
            "learner": learner,
            "percent": progress_percent(
                [s for s in statuses if isinstance(s, dict)], completed
            ),
            "grade": grade_text(
                (course.grades or {}).get(int(learner["remote_user_id"]))
            ),
            "completed_at": completion_time(status) if completed and status else None,
        }

    def _course_completion(
        self, moodle: MoodleClient, course: CourseContext, params: dict[str, Any]
    ) -> Mapping[str, Any] | None:
        """Return the learner's course completion status, or None if there is none."""
        if not course.course_completion:
            return None
        try:
            body = moodle.call(COURSE_COMPLETION_FUNCTION, params)
        except errors.ProviderError as error:
            if error.provider_code == "nocriteriaset":
                # The course has no completion criteria: no learner of it
                # has a course completion, so stop asking for this course.
                course.course_completion = False
                return None
            if error.provider_code in ("usernotenroled", "notenroled"):
                return None
            raise
        except errors.PermissionDenied as error:
            if error.provider_code != "cannotviewreport":
                raise
            # Completion is disabled for the course (or the site); activity
            # progress and grades are still read.
            logger.info(
                "moodle.sync.course_completion_unavailable",
                extra={"integration": moodle.integration, "course": course.external_id},
            )
            course.course_completion = False
            return None
        status = body.get("completionstatus") if isinstance(body, dict) else None
        if not isinstance(status, dict):
            raise ItemError(
                f"{COURSE_COMPLETION_FUNCTION} answered no 'completionstatus'"
            )
        return status


def _safe_roles(user: Mapping[str, Any]) -> list[str]:
    try:
        return role_shortnames(user)
    except ItemError:
        return []


# --- Helpers ----------------------------------------------------------------


def _page_size(config: MoodleConfig, context: StreamContext) -> int:
    size = config.page_size
    if context.page_limit:
        size = max(1, min(size, context.page_limit))
    return size


def _cursor_int(cursor: dict[str, Any] | None, key: str) -> int | None:
    if not cursor or cursor.get(key) is None:
        return None
    value = cursor[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.ConfigurationError(
            f"The stored sync cursor has a non-integer {key!r}; run a full resync."
        )
    return value


def build_streams(config: MoodleConfig) -> list[Stream]:
    """Return the provider's streams in dependency order."""
    streams = [CourseStream(config), EnrollmentStream(config), ProgressStream(config)]
    if config.sync_submissions:
        # Imported here: the module builds on this one.
        from integrations.providers.moodle.submissions import (
            AssignmentStream,
            SubmissionStream,
        )

        streams += [AssignmentStream(config), SubmissionStream(config)]
    return streams
