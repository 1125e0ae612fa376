"""The Canvas LMS provider: identity, settings, auth and the hooks it gives.

An admin's access token (``Authorization: Bearer``; credential
``access_token``) reads the courses of an account (``account_id``) or of the
token's user, then each course's assignments, enrollments and progress; a
learner's grade is written back as a submission's posted grade on a portal
assignment. docs/providers/canvas.md documents settings, calls and states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integrations.http.auth import BearerToken
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.canvas import health, writeback
from integrations.providers.canvas.client import (
    DEFAULT_QUOTA,
    DEFAULT_REFILL,
    CanvasThrottle,
    map_canvas_error,
)
from integrations.providers.canvas.quizzes import quiz_streams
from integrations.providers.canvas.sync import (
    ENROLLMENT_TYPES,
    MODULE_PROGRESS_MODES,
    CanvasConfig,
    CanvasStream,
    build_streams,
)
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

WRITEBACK_GRADES = ("percent", "grade")

SETTINGS_SCHEMA = (
    SettingField(
        "account_id",
        type="int",
        minimum=1,
        help="Canvas account whose courses to sync (the number in /accounts/<id>); "
        "leave empty to sync the courses of the token's own user.",
    ),
    SettingField(
        "own_enrollments_only",
        type="bool",
        default=False,
        help="Read only the token user's own enrollments and progress "
        "(user_id=self), as with a learner's token: a student may see a "
        "course's roster but not the others' grades.",
    ),
    SettingField(
        "per_page",
        type="int",
        default=100,
        minimum=1,
        maximum=100,
        help="Items per request; 100 is the most Canvas returns.",
    ),
    SettingField(
        "enrollment_types",
        type="list",
        default=["student", "teacher"],
        help="Enrollment roles to sync: student, teacher, ta, designer, observer.",
    ),
    SettingField(
        "include_completed",
        type="bool",
        default=True,
        help="Sync concluded courses and completed enrollments too.",
    ),
    SettingField(
        "include_unpublished_assignments",
        type="bool",
        default=False,
        help="Sync assignments learners cannot see yet (unpublished).",
    ),
    SettingField(
        "module_progress",
        type="choice",
        default="bulk",
        choices=MODULE_PROGRESS_MODES,
        help="Module completion for progress: bulk (one listing per course), "
        "per_user (one request per learner) or off (grades only).",
    ),
    SettingField(
        "writeback_assignment_name",
        default="Portal progress",
        help="Name of the assignment each course's grades are written back to.",
    ),
    SettingField(
        "writeback_create_assignment",
        type="bool",
        default=False,
        help="Create that assignment (published, percent, out of the final grade) "
        "in a course that has none.",
    ),
    SettingField(
        "writeback_grade",
        type="choice",
        default="percent",
        choices=WRITEBACK_GRADES,
        help="What to post: the progress percent (as '85%') or the progress grade.",
    ),
    SettingField(
        "rate_limit_quota",
        type="float",
        default=DEFAULT_QUOTA,
        minimum=1,
        help="The token's throttle quota (Canvas's default high water mark: 700).",
    ),
    SettingField(
        "concurrency",
        type="int",
        default=4,
        minimum=1,
        maximum=8,
        help="Courses the per-course streams read at once (1: one request at a "
        "time). Canvas adds a pre-flight penalty to parallel requests, so keep it "
        "small.",
    ),
    SettingField(
        "sync_submissions",
        type="bool",
        default=False,
        help="Also sync each student's submission of each published assignment "
        "(the submissions stream), which emits assignment.submitted.",
    ),
    SettingField(
        "sync_quizzes",
        type="bool",
        default=False,
        help="Also sync each course's classic quizzes and learners' results "
        "(streams quizzes and quiz_results): one more listing per course and "
        "one per quiz; the token needs to view all grades.",
    ),
    SettingField(
        "rate_limit_refill",
        type="float",
        default=DEFAULT_REFILL,
        minimum=0.001,
        help="Quota units the throttle gives back per second (Canvas's default: 10).",
    ),
)


def parse_settings(values: Any) -> tuple[CanvasConfig | None, list[str]]:
    """Return the config the settings describe and every problem found.

    Each problem names the setting at fault.
    """
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    types = list(cleaned["enrollment_types"])
    if not types:
        problems.append("enrollment_types: list at least one role, e.g. ['student']")
    for position, role in enumerate(types):
        if role not in ENROLLMENT_TYPES:
            problems.append(
                f"enrollment_types.{position}: {role!r} is not a role; expected one "
                f"of {', '.join(ENROLLMENT_TYPES)}"
            )
    if len(set(map(str, types))) != len(types):
        problems.append("enrollment_types: a role is listed twice")
    name = cleaned["writeback_assignment_name"].strip()
    if not 3 <= len(name) <= 255:
        problems.append(
            "writeback_assignment_name: expected 3 to 255 characters (Canvas searches "
            "assignments by name, from 2 characters)"
        )

    if problems:
        return None, problems
    config = CanvasConfig(
        account_id=cleaned.get("account_id"),
        own_enrollments_only=cleaned["own_enrollments_only"],
        per_page=cleaned["per_page"],
        enrollment_types=tuple(types),
        include_completed=cleaned["include_completed"],
        include_unpublished_assignments=cleaned["include_unpublished_assignments"],
        module_progress=cleaned["module_progress"],
        writeback_assignment_name=name,
        writeback_create_assignment=cleaned["writeback_create_assignment"],
        writeback_grade=cleaned["writeback_grade"],
        rate_limit_quota=float(cleaned["rate_limit_quota"]),
        rate_limit_refill=float(cleaned["rate_limit_refill"]),
        concurrency=cleaned["concurrency"],
        sync_submissions=cleaned["sync_submissions"],
        sync_quizzes=cleaned["sync_quizzes"],
    )
    return config, []


@register
class CanvasProvider(Provider):
    """Sync courses, assignments, enrollments and progress from Canvas LMS."""

    slug = "canvas"
    title = "Canvas LMS"
    description = (
        "Instructure Canvas: courses of an account or of the token's user, with "
        "their assignments, enrollments and learners' progress; grades are "
        "written back to a portal assignment."
    )
    auth_kind = AuthKind.API_KEY
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "access_token",
            kind="api_key",
            required=True,
            help="An access token of a Canvas admin (Account > Settings > New "
            "access token), sent as 'Authorization: Bearer'.",
        ),
    )
    requires_base_url = True
    #: A ceiling far above what a sync sends, even reading four courses at
    #: once from a Canvas a millisecond away; it gives the shared limiter
    #: that Canvas's own throttle headers steer (see CanvasThrottle).
    default_rate_limit = (60_000, 60.0)
    supports_write_back = True

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its setting."""
        refuse_bad_settings(parse_settings, settings)

    def config(self, integration: Integration) -> CanvasConfig:
        """Return the integration's checked settings or raise ConfigurationError."""
        return config_of(integration, parse_settings)

    def streams(self, integration: Integration) -> list[CanvasStream]:
        """Return courses, assignments, enrollments and progress, in that order.

        With ``sync_submissions``, submissions follow them; with
        ``sync_quizzes``, quizzes and quiz_results.
        """
        config = self.config(integration)
        return [*build_streams(config), *quiz_streams(config)]

    def access_token(self, integration: Integration) -> str:
        """Return the token requests are made with: the ``access_token`` credential.

        The one place the token comes from, so a token obtained another way
        (a learner's OAuth grant, refreshed when it expires) plugs in here.
        """
        return integration.secret("access_token")

    def auth_for(self, integration: Integration) -> BearerToken:
        """Send the access token as ``Authorization: Bearer``."""
        return BearerToken(self.access_token(integration))

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Ask for JSON; read Canvas's errors and throttling headers."""
        config = self.config(integration)
        return {
            "default_headers": {"Accept": "application/json"},
            "error_mapper": map_canvas_error,
            "rate_limit_signals": CanvasThrottle(
                quota=config.rate_limit_quota, refill=config.rate_limit_refill
            ),
        }

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """GET /api/v1/users/self and report the user and the throttle budget."""
        return health.check_canvas_health(client, self.config(integration))

    def push_progress(
        self, integration: Integration, client: HttpClient, progress: Any
    ) -> dict:
        """Post the learner's grade on the course's portal assignment in Canvas."""
        return writeback.push_progress(
            self.config(integration), integration, client, progress
        )
