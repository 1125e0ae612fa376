"""The GitLab provider: identity, settings, auth and the hooks it gives.

A token (credential ``access_token``: a personal, project or group access
token, sent as ``PRIVATE-TOKEN``) or a learner's connected GitLab account
(``Integration.connection``; the client factory sends its OAuth token as
``Authorization: Bearer``) reads the projects the token's user is a member
of, or one group's, and each project's repository tree. GitLab.com or a
self-managed instance: the base URL is ``https://HOST[/PATH]/api/v4``.
docs/providers/gitlab.md documents settings, calls and rate limits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from integrations.http.auth import HeaderApiKey
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.gitlab import health
from integrations.providers.gitlab.client import (
    PUBLIC_API,
    TOKEN_HEADER,
    GitLabErrors,
    GitLabThrottle,
)
from integrations.providers.gitlab.sync import (
    ACCESS_LEVELS,
    MAX_PER_PAGE,
    GitLabConfig,
    GitLabStream,
    ProjectsStream,
    RepositoryTreeStream,
)
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

#: A group's numeric id or its full path (``parent/child``).
GROUP = re.compile(
    r"^(?:\d+|[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*)$"
)

SETTINGS_SCHEMA = (
    SettingField(
        "group",
        help="Sync this group's projects (GET /groups/:id/projects; an id or a "
        "full path such as 'school/courses') instead of the token user's.",
    ),
    SettingField(
        "owned",
        type="bool",
        default=False,
        help="Only projects the token's user owns.",
    ),
    SettingField(
        "min_access_level",
        type="int",
        help="Only projects where the user has at least this role: 10 guest, "
        "15 planner, 20 reporter, 30 developer, 40 maintainer, 50 owner.",
    ),
    SettingField(
        "per_page",
        type="int",
        default=MAX_PER_PAGE,
        minimum=1,
        maximum=MAX_PER_PAGE,
        help="Projects or tree entries per request; 100 is GitLab's most.",
    ),
    SettingField(
        "trees",
        type="bool",
        default=True,
        help="Read each project's repository tree (its default branch, "
        "recursively; one request per 100 entries).",
    ),
)


def parse_settings(values: Any) -> tuple[GitLabConfig | None, list[str]]:
    """Return the config the settings describe and every problem found.

    Each problem names the setting at fault.
    """
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    group = cleaned.get("group")
    if group is not None and not GROUP.match(group):
        problems.append(
            f"group: {group!r} is not a GitLab group id or full path (for "
            "example 42 or 'school/courses')"
        )
    level = cleaned.get("min_access_level")
    if level is not None and level not in ACCESS_LEVELS:
        problems.append(
            f"min_access_level: {level!r} is not a GitLab access level; expected "
            f"one of {', '.join(map(str, ACCESS_LEVELS))}"
        )

    if problems:
        return None, problems
    config = GitLabConfig(
        group=group,
        owned=cleaned["owned"],
        min_access_level=level,
        per_page=cleaned["per_page"],
        trees=cleaned["trees"],
    )
    return config, []


@register
class GitLabProvider(Provider):
    """Sync projects, with their repository trees, from GitLab."""

    slug = "gitlab"
    title = "GitLab"
    description = (
        "GitLab.com and self-managed GitLab: the projects of the token's user "
        "or of a group, with each project's file tree."
    )
    auth_kind = AuthKind.API_KEY
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "access_token",
            kind="api_key",
            required=True,
            help="A personal, project or group access token with the read_api "
            "scope, sent as 'PRIVATE-TOKEN'. A learner's integration uses the "
            "learner's connected account instead.",
        ),
    )
    #: Empty means https://gitlab.com/api/v4; a self-managed GitLab is
    #: https://HOST[/PATH]/api/v4.
    requires_base_url = False
    #: GitLab.com allows 2,000 authenticated API requests a minute per user
    #: (docs.gitlab.com "GitLab.com settings"); a tenth of that, in windows
    #: of 10 s, leaves room for the user's other tools.
    default_rate_limit = (30, 10.0)

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its setting."""
        refuse_bad_settings(parse_settings, settings)

    def config(self, integration: Integration) -> GitLabConfig:
        """Return the integration's checked settings or raise ConfigurationError."""
        return config_of(integration, parse_settings)

    def streams(self, integration: Integration) -> list[GitLabStream]:
        """Return projects and, unless turned off, their repository trees."""
        config = self.config(integration)
        streams: list[GitLabStream] = [ProjectsStream(config)]
        if config.trees:
            streams.append(RepositoryTreeStream(config))
        return streams

    def auth_for(self, integration: Integration) -> HeaderApiKey:
        """Send the ``access_token`` credential as ``PRIVATE-TOKEN``."""
        return HeaderApiKey(TOKEN_HEADER, integration.secret("access_token"))

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Read GitLab's errors and rate limits; default to gitlab.com."""
        self.config(integration)
        return {
            "base_url": integration.base_url or PUBLIC_API,
            "default_headers": {"Accept": "application/json"},
            "error_mapper": GitLabErrors(learner=integration.connection_id is not None),
            "rate_limit_signals": GitLabThrottle(),
        }

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """GET /user and report the username and any remaining budget."""
        return health.check_gitlab_health(client)
