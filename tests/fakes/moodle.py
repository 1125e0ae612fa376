"""A fake Moodle on loopback that answers web service calls as Moodle does.

What it reproduces (sources in docs/providers/moodle.md and
../shared/API_NOTES.md section 2):

- one endpoint, ``/webservice/rest/server.php``, taking ``wstoken``,
  ``wsfunction`` and ``moodlewsrestformat`` from the query string or the
  form body (Moodle merges ``$_GET`` and ``$_POST``), with every other
  parameter a function argument in PHP bracket notation
  (``options[ids][0]=2``);
- errors as HTTP 200 JSON bodies ``{"exception", "errorcode", "message"}``
  (plus ``debuginfo`` when ``debug`` is on): ``invalidtoken`` for a wrong
  token, ``accessexception`` for a function outside the token's service,
  ``invalidrecord`` for unknown functions and missing courses or users,
  ``invalidparameter`` for malformed arguments, and the functions' own codes
  (``nocriteriaset``, ``usernotenroled``, ``cannotviewreport``...);
- the site front page (id 1, format ``site``, category 0) in every
  ``core_course_get_courses`` answer without ids;
- ``/login/token.php`` with ``{"token", "privatetoken"}`` or
  ``{"error", "errorcode", ...}`` (at ``token_error_status``, 200 unless a
  test chooses another, since Moodle versions differ);
- the functions the portal calls, over a small consistent model (courses,
  users, enrolments with roles, activities with completion and grades,
  course completion criteria), so write-back changes what a later sync reads;
- mod_assign's assignments (the ``assign`` activities), each user's latest
  submission attempt (``mod_assign_get_submissions`` returns only that one)
  and the grade of that attempt (``mod_assign_get_grades``), with refusals
  as ``warnings`` (code 1) in an HTTP 200 answer.
- ``mod_quiz_get_quizzes_by_courses``: the quiz activities (``modname``
  ``quiz``) of the asked courses, instance id as quiz id, with the fields
  the admin token sees (a manager's ``password`` and ``subnet`` too), and a
  ``warnings`` entry (code 1, "No access rights in course context") for a
  course it cannot read; their grades come through
  ``gradereport_user_get_grade_items`` like every activity's.

Tests change the data between syncs (``add_course``, ``enrol``,
``unenrol``, ``set_state``...), count calls per function (``calls``),
script faults for the next calls of a function (``fail_next`` with a reply
from tests/fakes/faulty.py), and hold a call open (``pause_at``) to kill a
syncing process in the middle of a page.

``python -m tests.fakes.moodle --port 8766`` serves a small demo site.
"""

from __future__ import annotations

import argparse
import copy
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.server import (
    FakeServer,
    RecordedRequest,
    Reply,
    _RequestHandler,
    _Server,
)

WS_PATH = "/webservice/rest/server.php"
TOKEN_PATH = "/login/token.php"
SITE_ID = 1

#: Standard roles: short name -> (role id, name, sort order).
ROLES = {
    "manager": (1, "Manager", 1),
    "coursecreator": (2, "Course creator", 2),
    "editingteacher": (3, "Teacher", 3),
    "teacher": (4, "Non-editing teacher", 4),
    "student": (5, "Student", 5),
    "guest": (6, "Guest", 6),
}
FUNCTIONS = (
    "core_webservice_get_site_info",
    "core_course_get_courses",
    "core_enrol_get_enrolled_users",
    "gradereport_user_get_grade_items",
    "core_completion_get_activities_completion_status",
    "core_completion_get_course_completion_status",
    "core_grades_update_grades",
    "core_completion_override_activity_completion_status",
    "mod_quiz_get_quizzes_by_courses",
)
#: mod_assign's functions (mod/assign/externallib.php), for assignments and
#: learners' submissions and grades.
ASSIGN_FUNCTIONS = (
    "mod_assign_get_assignments",
    "mod_assign_get_submissions",
    "mod_assign_get_grades",
)
FUNCTIONS = FUNCTIONS + ASSIGN_FUNCTIONS
#: User fields Moodle returns when ``userfields`` is not given.
DEFAULT_USER_FIELDS = (
    "id",
    "username",
    "firstname",
    "lastname",
    "fullname",
    "email",
    "department",
    "firstaccess",
    "lastaccess",
    "lastcourseaccess",
    "description",
    "descriptionformat",
    "profileimageurlsmall",
    "profileimageurl",
    "roles",
    "enrolledcourses",
)
_PARAM_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class MoodleError(Exception):
    """A Moodle exception, answered as Moodle's REST server answers it."""

    def __init__(
        self,
        errorcode: str,
        message: str,
        exception: str = "moodle_exception",
        debuginfo: str = "",
    ) -> None:
        super().__init__(message)
        self.errorcode = errorcode
        self.message = message
        self.exception = exception
        self.debuginfo = debuginfo


def missing_record(table: str) -> MoodleError:
    """Return the error get_record(MUST_EXIST) raises for a missing row."""
    return MoodleError(
        "invalidrecord",
        f"Can't find data record in database table {table}.",
        "dml_missing_record_exception",
        debuginfo="SELECT * FROM {" + table + "} WHERE id = ?",  # noqa: S608
    )


def invalid_parameter(detail: str) -> MoodleError:
    """Return the error validate_parameters raises."""
    return MoodleError(
        "invalidparameter",
        "Invalid parameter value detected",
        "invalid_parameter_exception",
        debuginfo=detail,
    )


def parse_php_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Return form pairs decoded as PHP does: ``a[b][0]=x`` -> {"a": {"b": ["x"]}}.

    Mappings whose keys are all digits become lists in key order, as
    Moodle's parameter validation treats them.
    """
    root: dict[str, Any] = {}
    for name, value in pairs:
        match = _PARAM_NAME.match(name)
        keys = [name]
        if match:
            keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for key in keys[:-1]:
            key = key or str(len(node))
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1] or str(len(node))] = value
    return _listify(root)


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


@dataclass
class _Fault:
    reply: Reply
    function: str | None
    remaining: int
    let_through: int = 0


class MoodleFake(FakeServer):
    """A Moodle site on 127.0.0.1; use as a context manager.

    ``functions`` are the functions of the token's external service (all
    the fake implements by default). The token user is an administrator.
    """

    def __init__(
        self,
        *,
        token: str = "moodle-test-token-0123456789abcdef",
        functions: Iterable[str] | None = None,
        debug: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.tokens: set[str] = {token}
        self.functions: set[str] = set(FUNCTIONS if functions is None else functions)
        self.debug = debug
        self.sitename = "Fake Moodle"
        self.release = "4.5.1+ (Build: 20250110)"
        self.version = "2024100701.01"
        self.admin_id = 2
        self.webservices_enabled = True
        self.token_error_status = 200
        #: username -> (password, user id)
        self.logins: dict[str, tuple[str, int]] = {}
        #: service short name -> {"enabled": bool, "users": set of ids or None}
        self.services: dict[str, dict[str, Any]] = {}
        self.courses: dict[int, dict[str, Any]] = {SITE_ID: _site_course()}
        self.users: dict[int, dict[str, Any]] = {}
        #: course -> user -> {"roles": [...], "active": bool}
        self.enrolments: dict[int, dict[int, dict[str, Any]]] = {}
        #: course -> activities {"cmid", "modname", "instance", "name",
        #: "idnumber", "tracking", "grademin", "grademax", "locked"}
        self.activities: dict[int, list[dict[str, Any]]] = {}
        #: (course, user, cmid) -> {"state", "timecompleted", "overrideby"}
        self.states: dict[tuple[int, int, int], dict[str, Any]] = {}
        #: (course, user, cmid) -> raw grade
        self.grades: dict[tuple[int, int, int], float] = {}
        #: course -> {"aggregation": 1 or 2, "cmids": [...]}
        self.criteria: dict[int, dict[str, Any]] = {}
        #: assign instance -> {"duedate", "timemodified", "hidden"}: settings of
        #: the activities whose modname is "assign" (the rest are defaults).
        self.assign_settings: dict[int, dict[str, Any]] = {}
        #: (assign instance, user) -> attempts, oldest first: assign_submission
        #: rows {"id", "userid", "attemptnumber", "timecreated", "timemodified",
        #: "status", "groupid"}.
        self.assign_submissions: dict[tuple[int, int], list[dict[str, Any]]] = {}
        #: (assign instance, user, attemptnumber) -> assign_grades row.
        self.assign_grades: dict[tuple[int, int, int], dict[str, Any]] = {}
        self._assign_ids = 70000
        #: (assign instance, user) -> marking workflow state (notmarked,
        #: inmarking, readyforrelease, released...) where the assignment
        #: has ``markingworkflow`` set.
        self.marking_states: dict[tuple[int, int], str] = {}
        #: cmid -> quiz fields (timelimit, timeclose, visible, password...)
        #: that mod_quiz_get_quizzes_by_courses returns for a quiz activity.
        self.quiz_options: dict[int, dict[str, Any]] = {}
        #: Every web service call: (function, parameters).
        self.call_log: list[tuple[str, dict[str, Any]]] = []
        self._faults: list[_Fault] = []
        self._pauses: dict[int, tuple[threading.Event, threading.Event]] = {}
        self._data = threading.RLock()
        self._issued: dict[tuple[str, str], str] = {}
        self.route("*", WS_PATH, self._serve_webservice)
        self.route("*", TOKEN_PATH, self._serve_token)

    @property
    def base_url(self) -> str:
        """Return the site's root URL: the integration's base URL."""
        return self.url

    # --- data ---------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        firstname: str,
        lastname: str,
        email: str,
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> dict[str, Any]:
        """Add a user account; with ``password`` it can log in to token.php."""
        username = username or email.split("@")[0].lower()
        with self._data:
            self.users[user_id] = {
                "id": user_id,
                "username": username,
                "firstname": firstname,
                "lastname": lastname,
                "email": email,
            }
            if password is not None:
                self.logins[username] = (password, user_id)
            return copy.deepcopy(self.users[user_id])

    def add_course(
        self,
        course_id: int,
        fullname: str,
        shortname: str,
        *,
        categoryid: int = 1,
        visible: int = 1,
        startdate: int = 1735689600,
        enddate: int = 0,
        enablecompletion: int = 1,
        timemodified: int = 1736899200,
    ) -> dict[str, Any]:
        """Add (or replace) a course."""
        with self._data:
            self.courses[course_id] = {
                "id": course_id,
                "shortname": shortname,
                "categoryid": categoryid,
                "categorysortorder": 10000 + course_id,
                "fullname": fullname,
                "displayname": fullname,
                "idnumber": "",
                "summary": f"<p>{fullname}</p>",
                "summaryformat": 1,
                "format": "topics",
                "showgrades": 1,
                "newsitems": 5,
                "startdate": startdate,
                "enddate": enddate,
                "numsections": 4,
                "maxbytes": 0,
                "showreports": 0,
                "visible": visible,
                "groupmode": 0,
                "groupmodeforce": 0,
                "defaultgroupingid": 0,
                "timecreated": 1733011200,
                "timemodified": timemodified,
                "enablecompletion": enablecompletion,
                "completionnotify": 0,
                "lang": "",
                "forcetheme": "",
                "courseformatoptions": [
                    {"name": "hiddensections", "value": 1},
                    {"name": "coursedisplay", "value": 0},
                ],
                "showactivitydates": True,
                "showcompletionconditions": True,
            }
            self.enrolments.setdefault(course_id, {})
            self.activities.setdefault(course_id, [])
            return copy.deepcopy(self.courses[course_id])

    def update_course(self, course_id: int, **changes: Any) -> None:
        """Change fields of a course, as an edit in Moodle would."""
        with self._data:
            self.courses[course_id].update(changes)

    def delete_course(self, course_id: int) -> None:
        """Delete a course with its enrolments, activities and grades."""
        with self._data:
            del self.courses[course_id]
            self.enrolments.pop(course_id, None)
            self.activities.pop(course_id, None)
            self.criteria.pop(course_id, None)
            for key in [key for key in self.states if key[0] == course_id]:
                del self.states[key]
            for key in [key for key in self.grades if key[0] == course_id]:
                del self.grades[key]

    def enrol(
        self, course_id: int, user_id: int, *roles: str, active: bool = True
    ) -> None:
        """Enrol a user in a course with role short names (none: no role)."""
        unknown = [role for role in roles if role not in ROLES]
        if unknown:
            raise ValueError(f"unknown roles {unknown}; known: {sorted(ROLES)}")
        with self._data:
            self.enrolments[course_id][user_id] = {
                "roles": list(roles),
                "active": active,
            }

    def unenrol(self, course_id: int, user_id: int) -> None:
        """Remove a user's enrolment from a course."""
        with self._data:
            del self.enrolments[course_id][user_id]

    def add_activity(
        self,
        course_id: int,
        cmid: int,
        name: str,
        *,
        modname: str = "assign",
        idnumber: str = "",
        tracking: int = 2,
        grademin: float = 0.0,
        grademax: float = 100.0,
        locked: bool = False,
    ) -> None:
        """Add a graded activity; tracking 0 none, 1 manual, 2 automatic."""
        with self._data:
            self.activities[course_id].append(
                {
                    "cmid": cmid,
                    "modname": modname,
                    "instance": cmid + 1000,
                    "name": name,
                    "idnumber": idnumber,
                    "tracking": tracking,
                    "grademin": grademin,
                    "grademax": grademax,
                    "locked": locked,
                    "itemid": cmid + 5000,
                }
            )

    def set_quiz(self, cmid: int, **fields: Any) -> None:
        """Set fields of a quiz activity (``timelimit``, ``timeclose``...)."""
        with self._data:
            self.quiz_options.setdefault(cmid, {}).update(fields)

    def set_criteria(
        self, course_id: int, cmids: list[int], aggregation: int = 1
    ) -> None:
        """Make completing these activities the course's completion criteria."""
        with self._data:
            self.criteria[course_id] = {
                "aggregation": aggregation,
                "cmids": list(cmids),
            }

    def set_state(
        self, course_id: int, user_id: int, cmid: int, state: int, timecompleted: int
    ) -> None:
        """Set a learner's completion state of an activity."""
        with self._data:
            self.states[(course_id, user_id, cmid)] = {
                "state": state,
                "timecompleted": timecompleted,
                "overrideby": None,
            }

    def set_grade(
        self, course_id: int, user_id: int, cmid: int, grade: float | None
    ) -> None:
        """Set (or clear) a learner's raw grade in an activity."""
        with self._data:
            if grade is None:
                self.grades.pop((course_id, user_id, cmid), None)
            else:
                self.grades[(course_id, user_id, cmid)] = float(grade)

    def set_assignment(self, instance: int, **settings: Any) -> None:
        """Set an assignment's ``duedate``, ``timemodified``, ``hidden`` or
        ``markingworkflow`` (grades then reach learners only when released).

        ``hidden=True`` withdraws mod/assign:grade from the token's user in
        that module: mod_assign_get_submissions and _grades answer a warning
        (code 1) for it instead of its rows.
        """
        with self._data:
            self.assign_settings.setdefault(instance, {}).update(settings)

    def submit_assignment(
        self,
        instance: int,
        user_id: int,
        when: int,
        *,
        status: str = "submitted",
        groupid: int = 0,
    ) -> dict[str, Any]:
        """Save a learner's latest attempt with ``status`` (draft, submitted...)."""
        with self._data:
            attempts = self.assign_submissions.setdefault((instance, user_id), [])
            if not attempts:
                attempts.append(self._new_attempt(instance, user_id, 0, when, groupid))
            # A reopened attempt is the one the learner works on next.
            attempt = attempts[-1]
            attempt.update({"status": status, "timemodified": when})
            return copy.deepcopy(attempt)

    def reopen_assignment(self, instance: int, user_id: int, when: int) -> None:
        """Open a new attempt after the last one, as "Allow another attempt" does."""
        with self._data:
            attempts = self.assign_submissions[(instance, user_id)]
            number = attempts[-1]["attemptnumber"] + 1
            attempts.append(
                {
                    **self._new_attempt(instance, user_id, number, when, 0),
                    "status": "reopened",
                }
            )

    def grade_assignment(
        self, instance: int, user_id: int, grade: float, when: int = 1736500000
    ) -> None:
        """Grade a learner's latest attempt (assign_grades)."""
        with self._data:
            number = self.assign_submissions[(instance, user_id)][-1]["attemptnumber"]
            self._assign_ids += 1
            self.assign_grades[(instance, user_id, number)] = {
                "id": self._assign_ids,
                "userid": user_id,
                "attemptnumber": number,
                "timecreated": when,
                "timemodified": when,
                "grader": self.admin_id,
                "grade": f"{grade:.5f}",
            }

    def _new_attempt(
        self, instance: int, user_id: int, number: int, when: int, groupid: int
    ) -> dict[str, Any]:
        self._assign_ids += 1
        return {
            "id": self._assign_ids,
            "userid": user_id,
            "attemptnumber": number,
            "timecreated": when,
            "timemodified": when,
            "status": "new",
            "groupid": groupid,
        }

    def add_service(
        self,
        shortname: str,
        *,
        enabled: bool = True,
        users: Iterable[int] | None = None,
    ) -> None:
        """Add an external service token.php may issue tokens for."""
        with self._data:
            self.services[shortname] = {
                "enabled": enabled,
                "users": None if users is None else set(users),
            }

    # --- faults, pauses, the call log ---------------------------------------

    def fail_next(
        self,
        reply: Reply,
        *,
        function: str | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer the next ``times`` calls (of ``function``, if given) with ``reply``.

        ``after`` lets that many of those calls go by first (answered as
        usual or by another fault), so a fault can strike in the middle of a
        stream. ``function`` "token.php" targets the token endpoint.
        """
        with self._data:
            self._faults.append(_Fault(reply, function, times, after))

    def clear_faults(self) -> None:
        """Drop every scripted fault not yet used."""
        with self._data:
            self._faults.clear()

    def pause_at(self, call_number: int) -> tuple[threading.Event, threading.Event]:
        """Hold the ``call_number``-th web service call until released.

        Return (reached, release): ``reached`` is set when the call arrives;
        the call waits for ``release`` (or the server stopping).
        """
        events = (threading.Event(), threading.Event())
        with self._data:
            self._pauses[call_number] = events
        return events

    def calls(self, function: str | None = None) -> int:
        """Return how many web service calls arrived (of ``function``, if given)."""
        with self._data:
            return sum(1 for name, _ in self.call_log if function in (None, name))

    def params_of(self, function: str) -> list[dict[str, Any]]:
        """Return the parsed arguments of every call of ``function``."""
        with self._data:
            return [
                copy.deepcopy(params)
                for name, params in self.call_log
                if name == function
            ]

    def _take_fault(self, function: str) -> Reply | None:
        with self._data:
            for fault in self._faults:
                if fault.function in (None, function):
                    if fault.let_through > 0:
                        fault.let_through -= 1
                        continue
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault.reply
        return None

    # --- the web service endpoint -------------------------------------------

    def _serve_webservice(self, request: RecordedRequest) -> Reply:
        arguments = _request_arguments(request)
        function = str(arguments.pop("wsfunction", "") or "")
        token = arguments.pop("wstoken", None)
        restformat = arguments.pop("moodlewsrestformat", "xml")
        with self._data:
            self.call_log.append((function, copy.deepcopy(arguments)))
            number = len(self.call_log)
            pause = self._pauses.pop(number, None)
        if pause is not None:
            reached, release = pause
            reached.set()
            while not release.wait(0.05):
                if not self.sleep(0):
                    break

        fault = self._take_fault(function)
        if fault is not None:
            return fault
        if not self.webservices_enabled:
            # server.php dies without output when the protocol is disabled.
            return Reply(200, b"", content_type="text/html")
        if restformat != "json":
            return Reply(
                200,
                '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE></RESPONSE>\n',
                content_type="application/xml; charset=utf-8",
            )
        try:
            if token not in self.tokens:
                raise MoodleError("invalidtoken", "Invalid token - token not found")
            if function not in FUNCTIONS:
                raise missing_record("external_functions")
            if function not in self.functions:
                raise MoodleError(
                    "accessexception",
                    "Access control exception",
                    "webservice_access_exception",
                    debuginfo=f"Access to the function {function}() is not allowed.",
                )
            handler = getattr(self, f"_fn_{function}")
            with self._data:
                result = handler(arguments)
        except MoodleError as error:
            return Reply.json(self._error_body(error))
        return Reply.json(result)

    def _error_body(self, error: MoodleError) -> dict[str, Any]:
        body = {
            "exception": error.exception,
            "errorcode": error.errorcode,
            "message": error.message,
        }
        if self.debug and error.debuginfo:
            body["debuginfo"] = error.debuginfo
        return body

    # --- /login/token.php ---------------------------------------------------

    def _serve_token(self, request: RecordedRequest) -> Reply:
        arguments = _request_arguments(request)
        fault = self._take_fault("token.php")
        if fault is not None:
            return fault
        with self._data:
            error = self._token_problem(arguments)
            if error is not None:
                body = {
                    "error": error.message,
                    "errorcode": error.errorcode,
                    "stacktrace": None,
                    "debuginfo": None,
                    "reproductionlink": None,
                }
                return Reply.json(body, status=self.token_error_status)
            username = arguments["username"]
            service = arguments["service"]
            token = self._token_for(username, service)
        return Reply.json({"token": token, "privatetoken": None})

    def _token_problem(self, arguments: dict[str, Any]) -> MoodleError | None:
        if not self.webservices_enabled:
            return MoodleError("enablewsdescription", "Web services must be enabled.")
        username = arguments.get("username")
        password = arguments.get("password")
        service = arguments.get("service")
        if not username or password is None or not service:
            return MoodleError("missingparam", "A required parameter was missing")
        login = self.logins.get(username)
        if login is None or login[0] != password:
            return MoodleError("invalidlogin", "Invalid login, please try again")
        entry = self.services.get(service)
        if entry is None or not entry["enabled"]:
            return MoodleError(
                "servicenotavailable",
                "Web service is not available (it doesn't exist or might be disabled)",
            )
        if entry["users"] is not None and login[1] not in entry["users"]:
            return MoodleError(
                "usernotallowed", f"The user is not allowed for this service. {service}"
            )
        return None

    def _token_for(self, username: str, service: str) -> str:
        # token.php hands back the existing token of the user and service.
        key = (username, service)
        if key not in self._issued:
            self._issued[key] = secrets.token_hex(16)
        token = self._issued[key]
        self.tokens.add(token)
        return token

    def revoke_tokens(self) -> None:
        """Forget every token, as deleting them in Moodle's admin would."""
        with self._data:
            self.tokens.clear()
            self._issued.clear()

    # --- functions ----------------------------------------------------------

    def _fn_core_webservice_get_site_info(self, args: dict[str, Any]) -> dict[str, Any]:
        admin = self.users.get(self.admin_id) or {
            "username": "admin",
            "firstname": "Admin",
            "lastname": "User",
        }
        return {
            "sitename": self.sitename,
            "username": admin["username"],
            "firstname": admin["firstname"],
            "lastname": admin["lastname"],
            "fullname": f"{admin['firstname']} {admin['lastname']}",
            "lang": "en",
            "userid": self.admin_id,
            "siteurl": self.url,
            "userpictureurl": f"{self.url}/theme/image.php/boost/core/1/u/f1",
            "functions": [
                {"name": name, "version": self.version}
                for name in sorted(self.functions)
            ],
            "downloadfiles": 1,
            "uploadfiles": 1,
            "release": self.release,
            "version": self.version,
            "mobilecssurl": "",
            "advancedfeatures": [
                {"name": "usecomments", "value": 1},
                {"name": "usetags", "value": 1},
                {"name": "enablenotes", "value": 1},
                {"name": "messaging", "value": 1},
                {"name": "enablecompletion", "value": 1},
                {"name": "mnet_dispatcher_mode", "value": 0},
            ],
            "usercanmanageownfiles": True,
            "userquota": 104857600,
            "usermaxuploadfilesize": 104857600,
            "userhomepage": 1,
            "userprivateaccesskey": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "siteid": SITE_ID,
            "sitecalendartype": "gregorian",
            "usercalendartype": "gregorian",
            "userissiteadmin": True,
            "theme": "boost",
            "limitconcurrentlogins": 0,
        }

    def _fn_core_course_get_courses(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        options = args.get("options") or {}
        if not isinstance(options, dict):
            raise invalid_parameter("options: expected a structure")
        ids = options.get("ids")
        if ids is None:
            chosen = sorted(self.courses)
        else:
            if not isinstance(ids, list):
                raise invalid_parameter("options[ids]: expected a list")
            chosen = [_int(value, "options[ids]") for value in ids]
        return [
            copy.deepcopy(self.courses[cid]) for cid in chosen if cid in self.courses
        ]

    def _fn_core_enrol_get_enrolled_users(
        self, args: dict[str, Any]
    ) -> list[dict[str, Any]]:
        course_id = _int(args.get("courseid"), "courseid")
        if course_id not in self.courses:
            raise missing_record("course")
        settings = {
            "userfields": "",
            "onlyactive": "0",
            "limitfrom": "0",
            "limitnumber": "0",
        }
        settings["sortby"] = "id"
        settings["sortdirection"] = "ASC"
        for option in args.get("options") or []:
            if (
                not isinstance(option, dict)
                or "name" not in option
                or "value" not in option
            ):
                raise invalid_parameter("options: each option needs a name and a value")
            settings[option["name"]] = option["value"]
        if settings["sortby"] not in ("id", "firstname", "lastname", "siteorder"):
            raise invalid_parameter("Invalid value for sortby parameter")

        enrolled = self.enrolments.get(course_id, {})
        user_ids = [
            user_id
            for user_id, enrolment in enrolled.items()
            if enrolment["active"] or settings["onlyactive"] in ("0", "")
        ]
        key = settings["sortby"] if settings["sortby"] != "siteorder" else "lastname"
        user_ids.sort(key=lambda uid: (self.users[uid].get(key, uid), uid))
        if str(settings["sortdirection"]).upper() == "DESC":
            user_ids.reverse()
        start = _int(settings["limitfrom"], "limitfrom")
        limit = _int(settings["limitnumber"], "limitnumber")
        user_ids = user_ids[start : start + limit] if limit else user_ids[start:]

        fields = [f for f in str(settings["userfields"]).split(",") if f]
        return [self._user_details(uid, course_id, fields) for uid in user_ids]

    def _user_details(
        self, user_id: int, course_id: int, fields: list[str]
    ) -> dict[str, Any]:
        user = self.users[user_id]
        details: dict[str, Any] = {
            "id": user_id,
            "username": user["username"],
            "firstname": user["firstname"],
            "lastname": user["lastname"],
            "fullname": f"{user['firstname']} {user['lastname']}",
            "email": user["email"],
            "department": "",
            "firstaccess": 1735800000,
            "lastaccess": 1736900000,
            "lastcourseaccess": 1736800000,
            "description": "",
            "descriptionformat": 1,
            "profileimageurlsmall": f"{self.url}/theme/image.php/boost/core/1/u/f2",
            "profileimageurl": f"{self.url}/theme/image.php/boost/core/1/u/f1",
            "roles": [
                {
                    "roleid": ROLES[role][0],
                    "name": "",
                    "shortname": role,
                    "sortorder": ROLES[role][2],
                }
                for role in self.enrolments[course_id][user_id]["roles"]
            ],
            "enrolledcourses": [
                {
                    "id": cid,
                    "fullname": self.courses[cid]["fullname"],
                    "shortname": self.courses[cid]["shortname"],
                }
                for cid, enrolled in sorted(self.enrolments.items())
                if user_id in enrolled and cid in self.courses
            ],
        }
        wanted = set(fields) | {"id"} if fields else set(DEFAULT_USER_FIELDS)
        return {name: value for name, value in details.items() if name in wanted}

    def _fn_gradereport_user_get_grade_items(
        self, args: dict[str, Any]
    ) -> dict[str, Any]:
        course_id = _int(args.get("courseid"), "courseid")
        user_id = _int(args.get("userid", 0), "userid")
        if course_id not in self.courses:
            raise missing_record("course")
        if user_id:
            if user_id not in self.users:
                raise missing_record("user")
            user_ids = [user_id]
        else:
            # graded_users_iterator: users with a gradebook role (student)
            # and, for this caller, an active enrolment.
            user_ids = sorted(
                uid
                for uid, enrolment in self.enrolments[course_id].items()
                if enrolment["active"] and "student" in enrolment["roles"]
            )
        course = self.courses[course_id]
        return {
            "usergrades": [
                {
                    "courseid": course_id,
                    "courseidnumber": course["idnumber"],
                    "userid": uid,
                    "userfullname": f"{self.users[uid]['firstname']} "
                    f"{self.users[uid]['lastname']}",
                    "useridnumber": "",
                    "maxdepth": 2,
                    "gradeitems": self._grade_items(course_id, uid),
                }
                for uid in user_ids
            ],
            "warnings": [],
        }

    def _grade_items(self, course_id: int, user_id: int) -> list[dict[str, Any]]:
        items = []
        earned = possible = 0.0
        for activity in self.activities[course_id]:
            raw = self.grades.get((course_id, user_id, activity["cmid"]))
            span = activity["grademax"] - activity["grademin"]
            if raw is not None:
                earned += raw - activity["grademin"]
                possible += span
            items.append(
                {
                    "id": activity["itemid"],
                    "itemname": activity["name"],
                    "itemtype": "mod",
                    "itemmodule": activity["modname"],
                    "iteminstance": activity["instance"],
                    "itemnumber": 0,
                    "idnumber": activity["idnumber"],
                    "categoryid": 1,
                    "outcomeid": None,
                    "scaleid": None,
                    "locked": activity["locked"],
                    "cmid": activity["cmid"],
                    "weightraw": 0,
                    "weightformatted": "",
                    "status": "",
                    "graderaw": raw,
                    "gradedatesubmitted": None,
                    "gradedategraded": 1736000000 if raw is not None else None,
                    "gradehiddenbydate": False,
                    "gradeneedsupdate": False,
                    "gradeishidden": False,
                    "gradeislocked": activity["locked"],
                    "gradeisoverridden": False,
                    "gradeformatted": "-" if raw is None else f"{raw:.2f}",
                    "grademin": activity["grademin"],
                    "grademax": activity["grademax"],
                    "rangeformatted": f"{activity['grademin']:.2f}&ndash;"
                    f"{activity['grademax']:.2f}",
                    "percentageformatted": "-"
                    if raw is None
                    else f"{(raw - activity['grademin']) / span * 100:.2f} %",
                    "feedback": "",
                    "feedbackformat": 0,
                }
            )
        total = earned / possible * 100 if possible else None
        items.append(
            {
                "id": 9000 + course_id,
                "itemname": None,
                "itemtype": "course",
                "itemmodule": None,
                "iteminstance": course_id,
                "itemnumber": None,
                "idnumber": "",
                "categoryid": None,
                "outcomeid": None,
                "scaleid": None,
                "locked": False,
                "weightraw": None,
                "graderaw": total,
                "gradedatesubmitted": None,
                "gradedategraded": None,
                "gradehiddenbydate": False,
                "gradeneedsupdate": False,
                "gradeishidden": False,
                "gradeislocked": False,
                "gradeisoverridden": False,
                "gradeformatted": "-" if total is None else f"{total:.2f}",
                "grademin": 0,
                "grademax": 100,
                "rangeformatted": "0&ndash;100",
                "percentageformatted": "-" if total is None else f"{total:.2f} %",
                "feedback": "",
                "feedbackformat": 0,
            }
        )
        return items

    def _fn_core_completion_get_activities_completion_status(
        self, args: dict[str, Any]
    ) -> dict[str, Any]:
        course_id, user_id = self._course_and_user(args)
        statuses = []
        for activity in self.activities[course_id]:
            if not activity["tracking"]:
                continue
            state = self.states.get((course_id, user_id, activity["cmid"]), {})
            statuses.append(
                {
                    "cmid": activity["cmid"],
                    "modname": activity["modname"],
                    "instance": activity["instance"],
                    "state": state.get("state", 0),
                    "timecompleted": state.get("timecompleted", 0),
                    "tracking": activity["tracking"],
                    "overrideby": state.get("overrideby"),
                    "valueused": False,
                    "hascompletion": True,
                    "isautomatic": activity["tracking"] == 2,
                    "istrackeduser": True,
                    "uservisible": True,
                    "details": [],
                }
            )
        return {"statuses": statuses, "warnings": []}

    def _fn_core_completion_get_course_completion_status(
        self, args: dict[str, Any]
    ) -> dict[str, Any]:
        course_id, user_id = self._course_and_user(args)
        if not self.courses[course_id]["enablecompletion"]:
            raise MoodleError("cannotviewreport", "You cannot view this report")
        enrolment = self.enrolments[course_id].get(user_id)
        if (
            not enrolment
            or not enrolment["active"]
            or "student" not in enrolment["roles"]
        ):
            raise MoodleError("usernotenroled", "User is not enrolled in this course")
        criteria = self.criteria.get(course_id)
        if not criteria:
            raise MoodleError("nocriteriaset", "No criteria set for this course")

        names = {a["cmid"]: a for a in self.activities[course_id]}
        rows = []
        for cmid in criteria["cmids"]:
            state = self.states.get((course_id, user_id, cmid), {})
            complete = state.get("state", 0) != 0
            rows.append(
                {
                    "type": 4,
                    "title": f"Activity completion: {names[cmid]['name']}",
                    "status": "Yes" if complete else "No",
                    "complete": complete,
                    "timecompleted": state.get("timecompleted") if complete else None,
                    "details": {
                        "type": "Activity completion",
                        "criteria": f'<a href="{self.url}/mod/assign/view.php?id={cmid}">'
                        f"{names[cmid]['name']}</a>",
                        "requirement": "Marking yourself complete",
                        "status": "",
                    },
                }
            )
        done = [row["complete"] for row in rows]
        completed = any(done) if criteria["aggregation"] == 2 else all(done)
        return {
            "completionstatus": {
                "completed": completed,
                "aggregation": criteria["aggregation"],
                "completions": rows,
            },
            "warnings": [],
        }

    def _fn_core_grades_update_grades(self, args: dict[str, Any]) -> int:
        for name in ("source", "courseid", "component", "activityid", "itemnumber"):
            if name not in args:
                raise invalid_parameter(
                    f"Missing required key in single structure: {name}"
                )
        course_id = _int(args["courseid"], "courseid")
        cmid = _int(args["activityid"], "activityid")
        modname = str(args["component"]).removeprefix("mod_")
        activity = next(
            (
                a
                for a in self.activities.get(course_id, [])
                if a["cmid"] == cmid and a["modname"] == modname
            ),
            None,
        )
        if activity is None:
            raise MoodleError("invalidcoursemodule", "Invalid course module ID")
        if activity["locked"]:
            return 4
        for grade in args.get("grades") or []:
            student = _int(grade.get("studentid"), "studentid")
            value = grade.get("grade")
            try:
                self.grades[(course_id, student, cmid)] = float(value)
            except (TypeError, ValueError):
                raise invalid_parameter("grades: grade is not a number") from None
        return 0

    def _fn_core_completion_override_activity_completion_status(
        self, args: dict[str, Any]
    ) -> dict[str, Any]:
        user_id = _int(args.get("userid"), "userid")
        cmid = _int(args.get("cmid"), "cmid")
        newstate = _int(args.get("newstate"), "newstate")
        found = [
            (course_id, activity)
            for course_id, activities in self.activities.items()
            for activity in activities
            if activity["cmid"] == cmid
        ]
        if not found:
            raise missing_record("course_modules")
        course_id, activity = found[0]
        key = (course_id, user_id, cmid)
        if activity["tracking"]:
            if newstate not in (0, 1):
                raise MoodleError("codingerror", "Unexpected manual completion state")
            self.states[key] = {
                "state": newstate,
                "timecompleted": int(time.time()),
                "overrideby": self.admin_id,
            }
        state = self.states.get(key, {})
        return {
            "cmid": cmid,
            "userid": user_id,
            "state": state.get("state", 0),
            "timecompleted": state.get("timecompleted", 0),
            "overrideby": state.get("overrideby"),
            "tracking": activity["tracking"],
        }

    # mod_assign (mod/assign/externallib.php): what the token may not see is
    # a warning in the answer, never an exception.

    def _assignments_of(self, course_id: int) -> list[dict[str, Any]]:
        return [
            activity
            for activity in self.activities.get(course_id, [])
            if activity["modname"] == "assign"
        ]

    def _fn_mod_assign_get_assignments(self, args: dict[str, Any]) -> dict[str, Any]:
        course_ids = [_int(value, "courseids") for value in args.get("courseids") or []]
        include_all = str(args.get("includenotenrolledcourses", "0")) in ("1", "true")
        if not course_ids:
            # Without ids: the courses the token's user is enrolled in.
            course_ids = [
                cid
                for cid, enrolled in sorted(self.enrolments.items())
                if self.admin_id in enrolled
            ]
            include_all = True
        courses, warnings = [], []
        for course_id in course_ids:
            enrolled = self.admin_id in self.enrolments.get(course_id, {})
            if not include_all and not enrolled:
                warnings.append(
                    {
                        "item": "course",
                        "itemid": course_id,
                        "warningcode": "2",
                        "message": "User is not enrolled or does not have requested "
                        "capability",
                    }
                )
                continue
            if course_id not in self.courses or course_id == SITE_ID:
                warnings.append(
                    {
                        "item": "course",
                        "itemid": course_id,
                        "warningcode": "1",
                        "message": "No access rights in course context",
                    }
                )
                continue
            course = self.courses[course_id]
            courses.append(
                {
                    "id": course_id,
                    "fullname": course["fullname"],
                    "shortname": course["shortname"],
                    "timemodified": course["timemodified"],
                    "assignments": [
                        self._assignment_json(course_id, activity)
                        for activity in self._assignments_of(course_id)
                    ],
                }
            )
        return {"courses": courses, "warnings": warnings}

    def _assignment_json(
        self, course_id: int, activity: dict[str, Any]
    ) -> dict[str, Any]:
        settings = self.assign_settings.get(activity["instance"], {})
        return {
            "id": activity["instance"],
            "cmid": activity["cmid"],
            "course": course_id,
            "name": activity["name"],
            "nosubmissions": 0,
            "submissiondrafts": 1,
            "sendnotifications": 0,
            "sendlatenotifications": 0,
            "sendstudentnotifications": 1,
            "duedate": settings.get("duedate", 0),
            "allowsubmissionsfromdate": 0,
            "grade": int(activity["grademax"]),
            "timemodified": settings.get("timemodified", 1736000000),
            "completionsubmit": 0,
            "cutoffdate": 0,
            "teamsubmission": 0,
            "requireallteammemberssubmit": 0,
            "teamsubmissiongroupingid": 0,
            "blindmarking": 0,
            "revealidentities": 0,
            "attemptreopenmethod": "manual",
            "maxattempts": -1,
            "markingworkflow": int(bool(settings.get("markingworkflow"))),
            "markingallocation": 0,
            "requiresubmissionstatement": 0,
            "preventsubmissionnotingroup": 0,
            "configs": [],
        }

    def _assign_instances(
        self, args: dict[str, Any]
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """Return the requested assignments the token may grade, and warnings."""
        raw = args.get("assignmentids")
        if not isinstance(raw, list) or not raw:
            raise invalid_parameter("assignmentids: 1 or more assignment ids")
        requested = [_int(value, "assignmentids") for value in raw]
        known = {
            activity["instance"]
            for course_id in self.activities
            for activity in self._assignments_of(course_id)
        }
        allowed, warnings = [], []
        for instance in requested:
            if instance not in known:
                continue  # not an assign module: silently left out
            if self.assign_settings.get(instance, {}).get("hidden"):
                warnings.append(
                    {
                        "item": "assignment",
                        "itemid": instance,
                        "warningcode": "1",
                        "message": "No access rights in module context",
                    }
                )
                continue
            allowed.append(instance)
        return allowed, warnings

    def _grading_status(self, instance: int, user_id: int, number: int) -> str:
        # assign::get_grading_status: the marking workflow's state where the
        # assignment uses one, else whether the attempt has a grade.
        if self.assign_settings.get(instance, {}).get("markingworkflow"):
            return self.marking_states.get((instance, user_id), "notmarked")
        grade = self.assign_grades.get((instance, user_id, number))
        graded = grade is not None and float(grade["grade"]) >= 0
        return "graded" if graded else "notgraded"

    def _fn_mod_assign_get_submissions(self, args: dict[str, Any]) -> dict[str, Any]:
        allowed, warnings = self._assign_instances(args)
        status = str(args.get("status") or "")
        since = _int(args.get("since", 0), "since")
        assignments = []
        for instance in allowed:
            rows = []
            for (assigned, user_id), attempts in sorted(
                self.assign_submissions.items()
            ):
                latest = attempts[-1]
                if assigned != instance or latest["timemodified"] < since:
                    continue
                if status and latest["status"] != status:
                    continue
                rows.append(
                    {
                        **copy.deepcopy(latest),
                        "plugins": [],
                        "gradingstatus": self._grading_status(
                            instance, user_id, latest["attemptnumber"]
                        ),
                    }
                )
            if not rows:
                warnings.append(
                    {
                        "item": "module",
                        "itemid": instance,
                        "warningcode": "3",
                        "message": "No submissions found",
                    }
                )
            assignments.append({"assignmentid": instance, "submissions": rows})
        return {"assignments": assignments, "warnings": warnings}

    def _fn_mod_assign_get_grades(self, args: dict[str, Any]) -> dict[str, Any]:
        allowed, warnings = self._assign_instances(args)
        since = _int(args.get("since", 0), "since")
        assignments = []
        for instance in allowed:
            grades = [
                copy.deepcopy(grade)
                for (assigned, user_id, number), grade in sorted(
                    self.assign_grades.items()
                )
                if assigned == instance
                and grade["timemodified"] >= since
                # Only the grade of each user's latest attempt (s.latest = 1).
                and self.assign_submissions[(instance, user_id)][-1]["attemptnumber"]
                == number
            ]
            if grades:
                assignments.append({"assignmentid": instance, "grades": grades})
            else:
                warnings.append(
                    {
                        "item": "assignment",
                        "itemid": instance,
                        "warningcode": "3",
                        "message": "No grades found",
                    }
                )
        return {"assignments": assignments, "warnings": warnings}

    def _fn_mod_quiz_get_quizzes_by_courses(
        self, args: dict[str, Any]
    ) -> dict[str, Any]:
        course_ids = args.get("courseids") or []
        if not isinstance(course_ids, list):
            raise invalid_parameter("courseids: expected a list")
        wanted = [_int(value, "courseids") for value in course_ids]
        if not wanted:
            wanted = sorted(cid for cid in self.courses if cid != SITE_ID)
        quizzes: list[dict[str, Any]] = []
        warnings: list[dict[str, Any]] = []
        for course_id in wanted:
            if course_id not in self.courses or course_id == SITE_ID:
                # external_util::validate_courses: a course the user cannot
                # enter becomes a warning, not an error.
                warnings.append(
                    {
                        "item": "course",
                        "itemid": course_id,
                        "warningcode": "1",
                        "message": "No access rights in course context",
                    }
                )
                continue
            for activity in self.activities.get(course_id, []):
                if activity["modname"] == "quiz":
                    quizzes.append(self._quiz_details(course_id, activity))
        return {"quizzes": quizzes, "warnings": warnings}

    def _quiz_details(self, course_id: int, activity: dict[str, Any]) -> dict[str, Any]:
        details = {
            "id": activity["instance"],
            "coursemodule": activity["cmid"],
            "course": course_id,
            "name": activity["name"],
            "intro": f"<p>{activity['name']}</p>",
            "introformat": 1,
            "introfiles": [],
            "timeopen": 0,
            "timeclose": 0,
            "grademethod": 1,
            "section": 1,
            "visible": 1,
            "groupmode": 0,
            "groupingid": 0,
            "timelimit": 0,
            "attempts": 0,
            "sumgrades": 10.0,
            "grade": activity["grademax"],
            "hasquestions": 1,
            "shuffleanswers": 1,
            "timecreated": 1733011200,
            "timemodified": 1736899200,
            "password": "",
            "subnet": "",
        }
        details.update(copy.deepcopy(self.quiz_options.get(activity["cmid"], {})))
        return details

    def _course_and_user(self, args: dict[str, Any]) -> tuple[int, int]:
        course_id = _int(args.get("courseid"), "courseid")
        user_id = _int(args.get("userid"), "userid")
        if course_id not in self.courses:
            raise missing_record("course")
        if user_id not in self.users:
            raise missing_record("user")
        return course_id, user_id


def _site_course() -> dict[str, Any]:
    return {
        "id": SITE_ID,
        "shortname": "fake",
        "categoryid": 0,
        "categorysortorder": 1,
        "fullname": "Fake Moodle",
        "displayname": "Fake Moodle",
        "idnumber": "",
        "summary": "",
        "summaryformat": 1,
        "format": "site",
        "showgrades": 1,
        "newsitems": 3,
        "startdate": 0,
        "enddate": 0,
        "maxbytes": 0,
        "showreports": 0,
        "visible": 1,
        "groupmode": 0,
        "groupmodeforce": 0,
        "defaultgroupingid": 0,
        "timecreated": 1733011200,
        "timemodified": 1733011200,
        "enablecompletion": 0,
        "completionnotify": 0,
        "lang": "",
        "forcetheme": "",
        "courseformatoptions": [],
        "showactivitydates": False,
        "showcompletionconditions": False,
    }


def _request_arguments(request: RecordedRequest) -> dict[str, Any]:
    """Return the request's parameters: query string and form body merged."""
    pairs = [
        (name, value) for name, values in request.query.items() for value in values
    ]
    content_type = request.header("Content-Type") or ""
    if request.body and "application/x-www-form-urlencoded" in content_type:
        pairs += parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    return parse_php_params(pairs)


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(f"{name}: expected an integer") from None


# --- demo data --------------------------------------------------------------


def demo_site(fake: MoodleFake) -> MoodleFake:
    """Fill ``fake`` with a small school: two courses, a teacher, three learners."""
    fake.add_user(
        2,
        "Admin",
        "User",
        "admin@example.edu",
        username="admin",
        password="Admin-pass-1",
    )
    fake.add_user(101, "Ada", "Byron", "ada@example.edu")
    fake.add_user(102, "Grace", "Hopper", "grace@example.edu")
    fake.add_user(103, "Alan", "Turing", "alan@example.edu")
    fake.add_user(201, "Edsger", "Dijkstra", "edsger@example.edu")
    fake.add_service("portal", users=[2])

    fake.add_course(11, "Introduction to Biology", "BIO-101", enddate=1766102400)
    fake.add_course(12, "Discrete Mathematics", "MATH-210", visible=0)
    for course_id in (11, 12):
        fake.enrol(course_id, 201, "editingteacher")
    fake.enrol(11, 101, "student")
    fake.enrol(11, 102, "student")
    fake.enrol(12, 101, "student")
    fake.enrol(12, 103, "student")

    fake.add_activity(11, 501, "Cell structure quiz", modname="quiz")
    fake.add_activity(11, 502, "Lab report", grademax=25)
    fake.add_activity(
        11, 503, "Portal progress", idnumber="portal-progress", tracking=1
    )
    fake.set_criteria(11, [501, 502])
    fake.add_activity(12, 601, "Proof set", grademax=20)
    fake.set_state(11, 101, 501, 1, 1736100000)
    fake.set_state(11, 101, 502, 2, 1736200000)
    fake.set_state(11, 102, 501, 1, 1736150000)
    fake.set_grade(11, 101, 501, 80)
    fake.set_grade(11, 101, 502, 20)
    fake.set_grade(11, 102, 501, 55)
    fake.set_grade(12, 103, 601, 15)
    return fake


def main(argv: list[str] | None = None) -> None:
    """Serve the demo site until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.moodle",
        description="Serve a fake Moodle web service with a demo school on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default="demo-moodle-token-0123456789abcd")
    args = parser.parse_args(argv)

    fake = demo_site(MoodleFake(token=args.token, host=args.host))
    server = _Server((args.host, args.port), _RequestHandler)
    server.fake = fake
    fake._server = server
    print(f"Fake Moodle on {fake.url} (token {args.token})")
    print(f"  POST {WS_PATH}?wsfunction=...&moodlewsrestformat=json")
    print(f"  POST {TOKEN_PATH} (admin / Admin-pass-1, service 'portal')")
    print("Ctrl-C stops it.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
