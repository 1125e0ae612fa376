"""The GitHub provider: identity, settings, auth and the hooks it gives.

A token (credential ``access_token``, sent as ``Authorization: Bearer``)
or a learner's connected GitHub account (``Integration.connection``; the
client factory authenticates with it) reads the repositories of the
token's user (``affiliation``, ``visibility``) or of one organization
(``org``), each with its README. docs/providers/github.md documents
settings, calls and rate-limit handling.
"""

from __future__ import annotations

import re
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
from integrations.providers.github import health
from integrations.providers.github.client import (
    API_VERSION,
    JSON_MEDIA_TYPE,
    PUBLIC_API,
    GitHubErrors,
    GitHubThrottle,
)
from integrations.providers.github.sync import (
    AFFILIATIONS,
    MAX_PER_PAGE,
    ORG_TYPES,
    VISIBILITIES,
    GitHubConfig,
    RepositoriesStream,
)
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

#: GitHub's rule for account and organization names.
LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")

SETTINGS_SCHEMA = (
    SettingField(
        "org",
        help="Sync this organization's repositories (GET /orgs/{org}/repos) "
        "instead of the token user's own.",
    ),
    SettingField(
        "affiliation",
        type="list",
        default=list(AFFILIATIONS),
        help="Without org: whose repositories of the token's user to list: "
        "owner, collaborator, organization_member.",
    ),
    SettingField(
        "visibility",
        type="choice",
        default="all",
        choices=VISIBILITIES,
        help="Without org: all, public or private repositories.",
    ),
    SettingField(
        "org_type",
        type="choice",
        default="all",
        choices=ORG_TYPES,
        help="With org: which of its repositories (GitHub's 'type' filter).",
    ),
    SettingField(
        "per_page",
        type="int",
        default=MAX_PER_PAGE,
        minimum=1,
        maximum=MAX_PER_PAGE,
        help="Repositories per request; 100 is the most GitHub returns.",
    ),
    SettingField(
        "readmes",
        type="bool",
        default=True,
        help="Read each repository's README (one request per repository pushed "
        "to since the last sync).",
    ),
)


def parse_settings(values: Any) -> tuple[GitHubConfig | None, list[str]]:
    """Return the config the settings describe and every problem found.

    Each problem names the setting at fault.
    """
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    org = cleaned.get("org")
    if org is not None and not LOGIN.match(org):
        problems.append(
            f"org: {org!r} is not a GitHub organization name (letters, digits and "
            "single hyphens, at most 39 characters)"
        )
    affiliation = list(cleaned["affiliation"])
    if not affiliation:
        problems.append("affiliation: list at least one of " + ", ".join(AFFILIATIONS))
    for position, value in enumerate(affiliation):
        if value not in AFFILIATIONS:
            problems.append(
                f"affiliation.{position}: {value!r} is not an affiliation; expected "
                f"one of {', '.join(AFFILIATIONS)}"
            )
    if len(set(map(str, affiliation))) != len(affiliation):
        problems.append("affiliation: a value is listed twice")
    if org is not None:
        # GitHub's /orgs/{org}/repos has neither filter: a value given with
        # an org would silently do nothing. (Defaults are filled in before
        # this runs, so only values other than the default can be told.)
        if tuple(affiliation) != AFFILIATIONS:
            problems.append(
                "affiliation: applies to the token user's repositories only; "
                "remove it, or remove org"
            )
        if cleaned["visibility"] != "all":
            problems.append(
                "visibility: applies to the token user's repositories only; "
                "remove it, or remove org (org_type filters an organization's)"
            )
    elif cleaned["org_type"] != "all":
        problems.append("org_type: applies with org only; set org or remove it")

    if problems:
        return None, problems
    config = GitHubConfig(
        org=org,
        affiliation=tuple(affiliation),
        visibility=cleaned["visibility"],
        org_type=cleaned["org_type"],
        per_page=cleaned["per_page"],
        readmes=cleaned["readmes"],
    )
    return config, []


@register
class GitHubProvider(Provider):
    """Sync repositories, with their READMEs, from GitHub or GitHub Enterprise."""

    slug = "github"
    title = "GitHub"
    description = (
        "GitHub and GitHub Enterprise Server: the repositories of the token's "
        "user or of an organization, with topics and README."
    )
    auth_kind = AuthKind.API_KEY
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "access_token",
            kind="api_key",
            required=True,
            help="A personal access token (fine-grained: Metadata and Contents "
            "read; classic: 'repo' for private repositories), sent as "
            "'Authorization: Bearer'. A learner's integration uses the learner's "
            "connected account instead.",
        ),
    )
    #: Empty means https://api.github.com; GitHub Enterprise Server is
    #: https://HOST/api/v3.
    requires_base_url = False
    #: GitHub's secondary limit allows 900 points a minute for REST calls (a
    #: GET costs one); in windows of 10 s so a window boundary cannot let
    #: twice that through at once. The hour's quota is steered by
    #: GitHub's own headers (GitHubThrottle).
    default_rate_limit = (150, 10.0)

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its setting."""
        refuse_bad_settings(parse_settings, settings)

    def config(self, integration: Integration) -> GitHubConfig:
        """Return the integration's checked settings or raise ConfigurationError."""
        return config_of(integration, parse_settings)

    def streams(self, integration: Integration) -> list[RepositoriesStream]:
        """Return the one stream: repositories."""
        return [RepositoriesStream(self.config(integration))]

    def auth_for(self, integration: Integration) -> BearerToken:
        """Send the ``access_token`` credential as ``Authorization: Bearer``."""
        return BearerToken(integration.secret("access_token"))

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Ask for GitHub's JSON at a fixed API version; read its errors and limits."""
        self.config(integration)
        return {
            "base_url": integration.base_url or PUBLIC_API,
            "default_headers": {
                "Accept": JSON_MEDIA_TYPE,
                "X-GitHub-Api-Version": API_VERSION,
            },
            "error_mapper": GitHubErrors(learner=integration.connection_id is not None),
            "rate_limit_signals": GitHubThrottle(),
        }

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """GET /user and report the login and the remaining quota."""
        return health.check_github_health(client)
