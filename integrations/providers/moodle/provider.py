"""The Moodle provider: courses, enrollments and progress through web services.

It talks to Moodle's REST web service server with a token (the ``token``
credential) or obtains one from a username and password; docs/providers/
moodle.md lists the settings, the functions the token's external service
needs, every call made and how errors are reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integrations.providers.base import (
    AuthKind,
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.moodle import writeback
from integrations.providers.moodle.client import map_moodle_error
from integrations.providers.moodle.health import check_site_health
from integrations.providers.moodle.quizzes import quiz_streams
from integrations.providers.moodle.sync import (
    DEFAULT_ROLE_MAP,
    MoodleConfig,
    build_streams,
)
from integrations.providers.moodle.token import connect
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration
    from integrations.providers.base import Stream
    from portal.learning.models import Progress

# The portal's roles (portal.learning.models.EnrollmentRole), repeated so
# settings validation does not import the domain app.
PORTAL_ROLES = ("student", "teacher", "ta", "designer", "observer")

SETTINGS_SCHEMA = (
    SettingField(
        "page_size",
        type="int",
        default=100,
        minimum=1,
        maximum=1000,
        help="Users asked for per core_enrol_get_enrolled_users call, and courses "
        "stored per page.",
    ),
    SettingField(
        "only_active_enrolments",
        type="bool",
        default=True,
        help="Sync only active enrolments (suspended or expired ones count as gone).",
    ),
    SettingField(
        "learner_roles",
        type="list",
        default=["student"],
        help="Moodle role short names whose users get progress records.",
    ),
    SettingField(
        "role_map",
        type="dict",
        help="Moodle role short name to portal role, added to the built-in map.",
    ),
    SettingField(
        "username",
        help="Moodle user to obtain a token for, with the 'password' credential.",
    ),
    SettingField(
        "service",
        help="Short name of the external service to obtain a token for.",
    ),
    SettingField(
        "write_back_grade_item",
        help="ID number of the activity (in each course) whose grade the portal "
        "writes; empty: no write-back.",
    ),
    SettingField(
        "sync_submissions",
        type="bool",
        default=False,
        help="Also sync each course's assignments and learners' submissions "
        "(mod_assign functions), which emits assignment.submitted.",
    ),
    SettingField(
        "write_back_completion",
        type="bool",
        default=True,
        help="Also mark that activity complete when the portal progress is completed.",
    ),
    SettingField(
        "sync_quizzes",
        type="bool",
        default=False,
        help="Also sync each course's quizzes and learners' quiz grades (streams "
        "quizzes and quiz_results); the service needs "
        "mod_quiz_get_quizzes_by_courses.",
    ),
)


def parse_settings(values: Any) -> tuple[MoodleConfig | None, list[str]]:
    """Return the config the settings describe and every problem found."""
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    learner_roles = cleaned["learner_roles"]
    if not learner_roles or not all(
        isinstance(role, str) and role.strip() for role in learner_roles
    ):
        problems.append("learner_roles: expected a non-empty list of role short names")
    role_map = cleaned.get("role_map") or {}
    for moodle_role, portal_role in role_map.items():
        if portal_role not in PORTAL_ROLES:
            problems.append(
                f"role_map.{moodle_role}: {portal_role!r} is not a portal role; "
                f"expected one of {', '.join(PORTAL_ROLES)}"
            )
    username = (cleaned.get("username") or "").strip()
    service = (cleaned.get("service") or "").strip()
    if bool(username) != bool(service):
        missing = "service" if username else "username"
        problems.append(
            f"{missing}: obtaining a token needs both 'username' and 'service'"
        )
    if problems:
        return None, problems

    config = MoodleConfig(
        page_size=cleaned["page_size"],
        only_active_enrolments=cleaned["only_active_enrolments"],
        learner_roles=frozenset(role.strip() for role in learner_roles),
        role_map={**DEFAULT_ROLE_MAP, **role_map},
        username=username,
        service=service,
        write_back_grade_item=(cleaned.get("write_back_grade_item") or "").strip(),
        write_back_completion=cleaned["write_back_completion"],
        sync_submissions=cleaned["sync_submissions"],
        sync_quizzes=cleaned["sync_quizzes"],
    )
    return config, []


@register
class MoodleProvider(Provider):
    """Sync courses, enrollments and progress from Moodle; write progress back."""

    slug = "moodle"
    title = "Moodle"
    description = (
        "Moodle LMS through its REST web services: courses (without the front "
        "page), enrolments with roles, activity and course completion and the "
        "course total grade; optional write-back of progress to an activity grade."
    )
    auth_kind = AuthKind.API_KEY
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "token",
            kind="api_key",
            required=False,
            help="Web service token of a user allowed to use the external service.",
        ),
        CredentialField(
            "password",
            kind="password",
            required=False,
            help="Password of the 'username' setting's user, to obtain the token "
            "from /login/token.php instead.",
        ),
    )
    requires_base_url = True
    default_rate_limit = None
    supports_write_back = True

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its setting."""
        refuse_bad_settings(parse_settings, settings)

    def write_back_enabled(self, integration: Integration) -> bool:
        """Only integrations with a write-back grade item receive pushes."""
        config, _ = parse_settings(integration.settings)
        return config is not None and bool(config.write_back_grade_item)

    def config(self, integration: Integration) -> MoodleConfig:
        """Return the integration's checked settings or raise ConfigurationError."""
        return config_of(integration, parse_settings)

    def streams(self, integration: Integration) -> list[Stream]:
        """Return courses, enrollments and progress, in that order.

        With ``sync_submissions``, assignments and submissions follow them;
        with ``sync_quizzes``, quizzes and quiz_results.
        """
        config = self.config(integration)
        return [*build_streams(config), *quiz_streams(config)]

    def auth_for(self, integration: Integration) -> None:
        """Return None: the token travels in each call's POST body, not the URL."""
        return None

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Map Moodle's HTTP-200 error bodies to typed errors; ask for JSON."""
        return {
            "error_mapper": map_moodle_error,
            "default_headers": {"Accept": "application/json"},
            # Every call is a POST carrying the token; nothing is cacheable.
            "response_cache": False,
        }

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """Call core_webservice_get_site_info and name missing functions."""
        config = self.config(integration)
        return check_site_health(connect(integration, client), config)

    def push_progress(
        self, integration: Integration, client: HttpClient, progress: Progress
    ) -> dict[str, Any]:
        """Write a learner's progress to the course's write-back activity."""
        config = self.config(integration)
        return writeback.push_progress(
            integration, connect(integration, client), config, progress
        )
