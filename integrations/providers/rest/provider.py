"""The generic REST provider: any JSON API, described by the admin.

Where no dedicated provider exists, an admin points this one at a JSON API
and maps its collections to portal records in the integration's settings:
how to authenticate, how the API pages, and for each endpoint which record
type its items become and where each field sits in an item.
docs/providers/rest.md documents every setting.
"""

from __future__ import annotations

import re
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
    config_of,
    refuse_bad_settings,
)
from integrations.providers.rest.health import check_endpoint_health
from integrations.providers.rest.sync import (
    PAGINATION_STYLES,
    Endpoint,
    Paging,
    RestStream,
    build_streams,
    check_path,
    is_dotted_path,
    parse_endpoints,
    query_params,
)
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

AUTH_STYLES = ("bearer", "header", "query", "basic", "none")

# RFC 9110 token characters: what a header field name may consist of.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Header names that carry secrets; those belong in encrypted credentials.
SECRET_HEADER = re.compile(
    r"auth|token|key|secret|pass|cookie|signature", re.IGNORECASE
)
# Headers the HTTP client sets from the connection itself.
TRANSPORT_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
)

SETTINGS_SCHEMA = (
    SettingField(
        "auth",
        type="choice",
        default="bearer",
        choices=AUTH_STYLES,
        help="How to send the credentials: bearer token, API key header, API key "
        "query parameter, HTTP Basic, or none.",
    ),
    SettingField(
        "auth_header",
        default="X-API-Key",
        help="Header that carries the token when auth is 'header'.",
    ),
    SettingField(
        "auth_param",
        default="api_key",
        help="Query parameter that carries the token when auth is 'query'.",
    ),
    SettingField(
        "username", help="User name for auth 'basic' (the password is a credential)."
    ),
    SettingField(
        "pagination",
        type="choice",
        default="link",
        choices=PAGINATION_STYLES,
        help="How the API pages its collections.",
    ),
    SettingField(
        "page_size",
        type="int",
        default=100,
        minimum=1,
        maximum=10000,
        help="Items to ask for per request.",
    ),
    SettingField(
        "page_param", default="page", help="Page number parameter (page, header_page)."
    ),
    SettingField(
        "size_param",
        help="Page size parameter; 'per_page' for page pagination when empty. With link, "
        "cursor and header_page pagination it is sent only when set.",
    ),
    SettingField(
        "first_page",
        type="int",
        default=1,
        minimum=0,
        help="Number of the first page (page).",
    ),
    SettingField("offset_param", default="offset", help="Offset parameter (offset)."),
    SettingField("limit_param", default="limit", help="Limit parameter (offset)."),
    SettingField(
        "cursor_path",
        default="next_cursor",
        help="Dotted path to the next cursor in the body (cursor).",
    ),
    SettingField(
        "cursor_param", default="cursor", help="Parameter that sends the cursor."
    ),
    SettingField(
        "next_page_header",
        default="X-Next-Page",
        help="Response header that holds the next page number (header_page).",
    ),
    SettingField(
        "health_path",
        help="Path the health check reads; default: the first endpoint, one item.",
    ),
    SettingField("headers", type="dict", help="Extra headers sent with every request."),
    SettingField(
        "endpoints",
        type="list",
        required=True,
        help="The collections to sync and how their items map to portal records.",
    ),
)


@dataclass(frozen=True)
class RestConfig:
    """The checked settings of one REST integration, defaults filled in."""

    auth: str
    auth_header: str
    auth_param: str
    username: str
    headers: dict[str, str]
    paging: Paging
    health_path: str
    endpoints: list[Endpoint]


def parse_settings(values: Any) -> tuple[RestConfig | None, list[str]]:
    """Return the config the settings describe and every problem found.

    Each problem names the setting or path at fault.
    """
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    errors: list[str] = []
    auth = cleaned["auth"]
    username = cleaned.get("username", "")
    if auth == "basic" and not username:
        errors.append("username: required when auth is 'basic'")
    if auth == "basic" and ":" in username:
        errors.append("username: HTTP Basic user names cannot contain ':'")
    if auth == "header" and not HEADER_NAME.match(cleaned["auth_header"]):
        errors.append("auth_header: not a valid header name")
    if auth == "query" and any(char in cleaned["auth_param"] for char in "&=#? "):
        errors.append("auth_param: not a plain query parameter name")
    headers = cleaned.get("headers") or {}
    errors.extend(_check_headers(headers, auth, cleaned["auth_header"]))

    paging = Paging(
        style=cleaned["pagination"],
        page_size=cleaned["page_size"],
        page_param=cleaned["page_param"],
        size_param=cleaned.get("size_param", ""),
        first_page=cleaned["first_page"],
        offset_param=cleaned["offset_param"],
        limit_param=cleaned["limit_param"],
        cursor_path=cleaned["cursor_path"],
        cursor_param=cleaned["cursor_param"],
        next_page_header=cleaned["next_page_header"],
    )
    errors.extend(check_paging(paging))
    health_path = cleaned.get("health_path", "")
    if health_path and check_path(health_path):
        errors.append(f"health_path: {check_path(health_path)}")

    reserved = {
        param: f"the pagination setting {setting!r}"
        for param, setting in paging.reserved_params().items()
    }
    if auth == "query":
        reserved[cleaned["auth_param"]] = (
            "auth 'query' (auth_param), from the token credential"
        )
    endpoints, endpoint_errors = parse_endpoints(
        cleaned["endpoints"], reserved_params=reserved
    )
    errors.extend(endpoint_errors)

    if errors:
        return None, errors
    config = RestConfig(
        auth=auth,
        auth_header=cleaned["auth_header"],
        auth_param=cleaned["auth_param"],
        username=username,
        headers=dict(headers),
        paging=paging,
        health_path=health_path,
        endpoints=endpoints,
    )
    return config, []


def _check_headers(headers: dict[str, Any], auth: str, auth_header: str) -> list[str]:
    errors = []
    for name, value in headers.items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            errors.append(f"headers.{name}: not a valid header name")
        elif name.lower() in TRANSPORT_HEADERS or name.lower().startswith("proxy-"):
            errors.append(f"headers.{name}: set by the HTTP client; remove it here")
        elif SECRET_HEADER.search(name) or (
            auth == "header" and name.lower() == auth_header.lower()
        ):
            errors.append(
                f"headers.{name}: looks like it carries a secret; send secrets through "
                "'auth' and the encrypted 'token' credential instead"
            )
        elif not isinstance(value, str) or "\r" in value or "\n" in value:
            errors.append(f"headers.{name}: expected text on one line")
    return errors


def check_paging(paging: Paging) -> list[str]:
    """Return the problems of a pagination style's settings, each naming one."""
    used = {
        "page": ("page_param", "size_param"),
        "offset": ("offset_param", "limit_param"),
        "cursor": ("cursor_param", "size_param"),
        "header_page": ("page_param", "size_param", "next_page_header"),
        "link": ("size_param",),
    }.get(paging.style, ())
    errors = [
        f"{setting}: not a plain query parameter name"
        for setting in used
        if setting.endswith("_param")
        and any(c in getattr(paging, setting) for c in "&=#? ")
    ]
    if paging.style == "cursor" and not is_dotted_path(paging.cursor_path):
        errors.append("cursor_path: expected a dotted path such as 'meta.next_cursor'")
    if paging.style == "header_page" and not HEADER_NAME.match(paging.next_page_header):
        errors.append("next_page_header: not a valid header name")
    return errors


@register
class RestProvider(Provider):
    """Sync courses, assignments, enrollments and progress from any JSON API."""

    slug = "rest"
    title = "Generic REST API"
    description = (
        "Any JSON API: choose how it authenticates and pages, and map each endpoint's "
        "items to portal courses, assignments, enrollments or progress."
    )
    auth_kind = AuthKind.CONFIGURABLE
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "token",
            kind="api_key",
            required=False,
            help="Token or API key, for auth 'bearer', 'header' and 'query'.",
        ),
        CredentialField(
            "password",
            kind="password",
            required=False,
            help="Password for auth 'basic'; the user name is the 'username' setting.",
        ),
    )
    requires_base_url = True
    default_rate_limit = None

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its path."""
        refuse_bad_settings(parse_settings, settings)

    def config(self, integration: Integration) -> RestConfig:
        """Return the integration's checked settings or raise ConfigurationError."""
        return config_of(integration, parse_settings)

    def streams(self, integration: Integration) -> list[RestStream]:
        """Return one stream per endpoint, course streams first."""
        config = self.config(integration)
        return build_streams(config.endpoints, config.paging)

    def auth_for(self, integration: Integration) -> http_auth.HttpAuth | None:
        """Return the HTTP auth the settings choose, from the stored credentials."""
        config = self.config(integration)
        if config.auth == "none":
            return None
        if config.auth == "basic":
            password = self._credential(integration, "password", config.auth)
            return http_auth.BasicAuth(config.username, password)

        token = self._credential(integration, "token", config.auth)
        if config.auth == "header":
            return http_auth.HeaderApiKey(config.auth_header, token)
        if config.auth == "query":
            return http_auth.QueryApiKey(config.auth_param, token)
        return http_auth.BearerToken(token)

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Ask for JSON and add the admin's extra headers to every request."""
        config = self.config(integration)
        return {"default_headers": {"Accept": "application/json", **config.headers}}

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """GET the health path (or the first endpoint, one item) and report."""
        config = self.config(integration)
        if config.health_path:
            path, params = config.health_path, {}
        else:
            first = config.endpoints[0]
            path = first.path
            params = {**query_params(first.params), **config.paging.size_params(1)}
        return check_endpoint_health(client, path, params, auth=config.auth)

    def _credential(self, integration: Integration, key: str, auth: str) -> str:
        value = integration.secret(key, required=False)
        if not value:
            raise ConfigurationError(
                f"Integration '{integration.name}' uses auth '{auth}', which needs the "
                f"credential '{key}'; add it in the admin or in the integrations file.",
                integration=integration.name,
                details={"credential": key},
            )
        return value
