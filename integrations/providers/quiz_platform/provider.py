"""The quiz platform provider: any JSON quiz service, described by the admin.

Portal quizzes are published to it (POST of the quiz as JSON) and their
results are read back page by page. The settings name the platform's paths,
how it authenticates (bearer token or an API-key header) and how its result
listings page, reusing the generic REST provider's pagination settings.
docs/providers/quiz_platform.md documents every setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.errors import ConfigurationError
from integrations.http import auth as http_auth
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
    Stream,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.quiz_platform.sync import PlatformResultsStream
from integrations.providers.rest.health import check_endpoint_health
from integrations.providers.rest.provider import (
    HEADER_NAME,
    SETTINGS_SCHEMA,
    check_paging,
)
from integrations.providers.rest.sync import Paging, check_path, is_dotted_path
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

AUTH_STYLES = ("bearer", "header")
#: The generic REST provider's pagination settings, reused as they are; all
#: but the first are also the names of Paging's fields.
PAGING_SETTINGS = (
    "pagination",
    "page_size",
    "page_param",
    "size_param",
    "first_page",
    "offset_param",
    "limit_param",
    "cursor_path",
    "cursor_param",
    "next_page_header",
)
_REST_FIELDS = {field.name: field for field in SETTINGS_SCHEMA}

SETTINGS_SCHEMA_QUIZ = (
    SettingField(
        "auth",
        type="choice",
        default="bearer",
        choices=AUTH_STYLES,
        help="How to send the token credential: bearer token or API key header.",
    ),
    _REST_FIELDS["auth_header"],
    SettingField(
        "quizzes_path",
        default="/quizzes",
        help="Path that creates quizzes (POST) and finds one by reference (GET).",
    ),
    SettingField(
        "reference_param",
        default="reference",
        help="Query parameter of the quizzes path that finds a quiz by reference.",
    ),
    SettingField(
        "results_path",
        default="/quizzes/{id}/results",
        help="Path of a quiz's results; {id} is the platform's quiz id.",
    ),
    SettingField(
        "items_path",
        help="Dotted path to the list in listing bodies; empty: the body is the list.",
    ),
    *(_REST_FIELDS[name] for name in PAGING_SETTINGS),
)


@dataclass(frozen=True)
class QuizPlatformConfig:
    """The checked settings of one quiz platform integration."""

    auth: str
    auth_header: str
    quizzes_path: str
    reference_param: str
    results_path: str
    items_path: str | None
    paging: Paging

    def results_path_for(self, quiz_id: str) -> str:
        """Return the results path of the platform's quiz ``quiz_id``."""
        return self.results_path.replace("{id}", quiz_id)


def parse_settings(values: Any) -> tuple[QuizPlatformConfig | None, list[str]]:
    """Return the config the settings describe and every problem found."""
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA_QUIZ)
    if cleaned is None:
        return None, problems

    errors = []
    if cleaned["auth"] == "header" and not HEADER_NAME.match(cleaned["auth_header"]):
        errors.append("auth_header: not a valid header name")
    for name in ("quizzes_path", "results_path"):
        problem = check_path(cleaned[name].replace("{id}", "1"))
        if problem:
            errors.append(f"{name}: {problem}")
    if "{id}" not in cleaned["results_path"]:
        errors.append("results_path: must contain {id}, the platform's quiz id")
    items_path = cleaned.get("items_path") or None
    if items_path is not None and not is_dotted_path(items_path):
        errors.append("items_path: expected a dotted path such as 'data'")
    if any(char in cleaned["reference_param"] for char in "&=#? "):
        errors.append("reference_param: not a plain query parameter name")
    paging = Paging(
        style=cleaned["pagination"],
        **{
            name: cleaned.get(name, getattr(Paging, name))
            for name in PAGING_SETTINGS[1:]
        },
    )
    errors.extend(check_paging(paging))

    if errors:
        return None, errors
    config = QuizPlatformConfig(
        auth=cleaned["auth"],
        auth_header=cleaned["auth_header"],
        quizzes_path=cleaned["quizzes_path"],
        reference_param=cleaned["reference_param"],
        results_path=cleaned["results_path"],
        items_path=items_path,
        paging=paging,
    )
    return config, []


@register
class QuizPlatformProvider(Provider):
    """Publish portal quizzes to a JSON quiz service and read their results."""

    slug = "quiz_platform"
    title = "Quiz platform (REST)"
    description = (
        "A JSON quiz service: portal quizzes are published to it and learners' "
        "results are synced back into the portal's quiz results and progress."
    )
    auth_kind = AuthKind.API_KEY
    settings_schema = SETTINGS_SCHEMA_QUIZ
    credential_schema = (
        CredentialField(
            "token", kind="api_key", help="Bearer token or API key of the platform."
        ),
    )
    requires_base_url = True

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its setting."""
        refuse_bad_settings(parse_settings, settings)

    def config(self, integration: Integration) -> QuizPlatformConfig:
        """Return the integration's checked settings or raise ConfigurationError."""
        return config_of(integration, parse_settings)

    def streams(self, integration: Integration) -> list[Stream]:
        """Return ``quiz_results``: the results of the quizzes published here.

        The results belong to portal quizzes; portal.assessment stores them
        (docs/assessment.md), the engine gives them runs and a schedule.
        """
        return [PlatformResultsStream(self.config(integration))]

    def auth_for(self, integration: Integration) -> http_auth.HttpAuth:
        """Return the bearer token or API key header from the token credential."""
        config = self.config(integration)
        token = integration.secret("token", required=False)
        if not token:
            raise ConfigurationError(
                f"Integration '{integration.name}' needs the credential 'token'; add "
                "it in the admin or in the integrations file.",
                integration=integration.name,
                details={"credential": "token"},
            )
        if config.auth == "header":
            return http_auth.HeaderApiKey(config.auth_header, token)
        return http_auth.BearerToken(token)

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Ask for JSON."""
        return {"default_headers": {"Accept": "application/json"}}

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """Look up a reference no quiz has: an authenticated, read-only call."""
        config = self.config(integration)
        params = {config.reference_param: "portal-health-check"}
        return check_endpoint_health(
            client, config.quizzes_path, params, auth=config.auth
        )
