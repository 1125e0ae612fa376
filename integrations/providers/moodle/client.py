"""A thin Moodle web-service client on the portal's shared HTTP layer.

Every call is a form-encoded ``POST`` to ``/webservice/rest/server.php``:
``wsfunction`` and ``moodlewsrestformat=json`` travel in the query string (so
logs and metrics show which function ran), while the token (``wstoken``) and
the function's arguments travel in the body, so neither ever sits in a URL.
Arguments are encoded the way PHP parses them: ``options[ids][0]=2``.

Moodle answers most errors with HTTP 200 and a JSON body carrying
``exception``, ``errorcode`` and ``message`` (``debuginfo`` in debug mode),
see ``webservice/rest/locallib.php``; ``/login/token.php`` answers
``{"error", "errorcode", ...}`` with a status that varies by version.
:func:`map_moodle_error` turns both into the portal's typed errors; the
provider installs it as the HTTP client's ``error_mapper`` so it has the first
say on every response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from integrations import errors, redaction
from integrations.http.client import HttpClient, HttpResponse

logger = logging.getLogger(__name__)

WS_PATH = "/webservice/rest/server.php"
TOKEN_PATH = "/login/token.php"  # noqa: S105 (a path, not a secret)

# Error codes, by what the admin has to do about them. Sources: the
# exceptions thrown by webservice/lib.php (token checks), lib/setuplib.php
# (required_capability_exception is "nopermissions", require_login_exception
# "requireloginerror", webservice_access_exception "accessexception") and the
# functions the provider calls.
AUTH_CODES = frozenset(
    {
        "invalidtoken",
        "invalidtimedtoken",
        "invalidiptoken",
        "invalidlogin",
        "passwordisexpired",
        "forcepasswordchangenotice",
        "restoredaccountresetpassword",
        "usernotconfirmed",
        "noguest",
    }
)
AUTH_CODE_PREFIXES = ("wsaccessuser",)
PERMISSION_CODES = frozenset(
    {
        "accessexception",
        "nopermissions",
        "requireloginerror",
        "nopermissiontoviewgrades",
        "cannotviewreport",
        "accessdenied",
        "notingroup",
        "usernotallowed",
        "servicenotavailable",
        "missingrequiredcapability",
        "enablewsdescription",
        "errorcoursecontextnotvalid",
    }
)
NOT_FOUND_CODES = frozenset({"invalidrecord", "invalidrecordunknown"})
TRANSIENT_CODES = frozenset({"sitemaintenance"})

#: Longest piece of Moodle's own message kept in an error's details.
MAX_MESSAGE_CHARS = 200


def encode_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Return ``params`` as form pairs in PHP's bracket notation.

    ``{"options": {"ids": [2, 5]}}`` becomes ``options[ids][0]=2`` and
    ``options[ids][1]=5``; a list of mappings becomes
    ``options[0][name]=...``. Booleans are sent as 1 and 0, which PARAM_BOOL
    and PARAM_INT both accept; None leaves the parameter out.
    """
    pairs: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"Moodle parameter names must be text, not {name!r}.")
        _encode(name, value, pairs)
    return pairs


def _encode(path: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        pairs.append((path, "1" if value else "0"))
    elif isinstance(value, int | float | Decimal | str):
        pairs.append((path, str(value)))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _encode(f"{path}[{key}]", item, pairs)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _encode(f"{path}[{index}]", item, pairs)
    else:
        raise TypeError(
            f"Moodle parameter {path} has a value of type {type(value).__name__}; "
            "use text, numbers, booleans, lists or mappings."
        )


def map_moodle_error(response: HttpResponse) -> errors.IntegrationError | None:
    """Return the typed error a Moodle response carries, or None if it is fine.

    Installed as the HTTP client's ``error_mapper``, so it sees every
    response first, HTTP 200 included.
    """
    body = _json_or_none(response)
    if isinstance(body, dict) and body.get("errorcode"):
        if "exception" in body:
            return _webservice_error(body)
        if "error" in body:
            return _token_endpoint_error(body)

    if not response.content.strip() and _is_webservice(response):
        hint = (
            "check that web services and the REST protocol are enabled in Moodle "
            "(Site administration > Server > Web services)"
        )
        if response.status == 403:
            return errors.PermissionDenied(
                f"Moodle refused the web service call: {hint}"
            )
        if response.ok:
            return errors.ProviderError(f"Moodle answered an empty body: {hint}")
    return None


def _json_or_none(response: HttpResponse) -> Any:
    content_type = response.headers.get("Content-Type", "")
    if not response.content.strip() or "html" in content_type.lower():
        return None
    try:
        return response.json()
    except errors.InvalidResponse:
        return None


def _is_webservice(response: HttpResponse) -> bool:
    return WS_PATH in response.url or TOKEN_PATH in response.url


def _details(body: dict[str, Any]) -> dict[str, Any]:
    # Moodle's message is short and useful to an admin, but it can echo
    # parameter values, so it is redacted and cut; debuginfo (SQL, stack
    # traces, paths) is never kept.
    message = body.get("message") or body.get("error") or ""
    details: dict[str, Any] = {}
    if isinstance(message, str) and message:
        details["moodle_message"] = redaction.redact_text(message)[:MAX_MESSAGE_CHARS]
    exception = body.get("exception")
    if isinstance(exception, str) and exception:
        details["exception"] = exception[:100]
    return details


def _webservice_error(body: dict[str, Any]) -> errors.IntegrationError:
    code = str(body.get("errorcode"))[:100]
    details = _details(body)
    if code in AUTH_CODES or code.startswith(AUTH_CODE_PREFIXES):
        return errors.AuthenticationFailed(
            "Moodle rejected the web service token: check the 'token' credential "
            "(it may be wrong, expired, IP-restricted or belong to a suspended user)",
            provider_code=code,
            details=details,
        )
    if code in PERMISSION_CODES:
        return errors.PermissionDenied(
            "The Moodle token may not do this: add the function to the token's "
            "external service and give its user the capabilities it needs "
            "(see docs/providers/moodle.md)",
            provider_code=code,
            details=details,
        )
    if code in NOT_FOUND_CODES:
        return errors.NotFound(
            "Moodle has no such record (or no such web service function)",
            provider_code=code,
            details=details,
        )
    if code in TRANSIENT_CODES:
        return errors.TransientError(
            "Moodle is in maintenance mode; the call can be retried later",
            provider_code=code,
            details=details,
        )
    return errors.ProviderError(
        "Moodle reported an error", provider_code=code, details=details
    )


def _token_endpoint_error(body: dict[str, Any]) -> errors.IntegrationError:
    code = str(body.get("errorcode"))[:100]
    details = _details(body)
    if code == "invalidlogin":
        return errors.AuthenticationFailed(
            "Moodle rejected the username and password: check the 'username' "
            "setting and the 'password' credential",
            provider_code=code,
            details=details,
        )
    if code in AUTH_CODES or code.startswith(AUTH_CODE_PREFIXES):
        return errors.AuthenticationFailed(
            "Moodle will not issue a token for this account until it is fixed in "
            "Moodle (expired or unconfirmed account, password change required)",
            provider_code=code,
            details=details,
        )
    if code in ("servicenotavailable", "enablewsdescription"):
        return errors.PermissionDenied(
            "Moodle has no enabled external service by the name in the 'service' "
            "setting, or web services are disabled: check both in Moodle",
            provider_code=code,
            details=details,
        )
    if code in PERMISSION_CODES:
        return errors.PermissionDenied(
            "Moodle will not issue a token for this user and service: authorise "
            "the user for the service or give them the capability it requires",
            provider_code=code,
            details=details,
        )
    if code in TRANSIENT_CODES:
        return errors.TransientError(
            "Moodle is in maintenance mode; the call can be retried later",
            provider_code=code,
            details=details,
        )
    return errors.ProviderError(
        "Moodle refused to issue a token", provider_code=code, details=details
    )


class MoodleClient:
    """Call Moodle web service functions with a token, through an HttpClient.

    ``refresh_token`` is called once when Moodle says the token is invalid
    or expired (when the integration can obtain a new one from a username
    and password); the failed call is then made again with the new token.
    """

    def __init__(
        self,
        http: HttpClient,
        token: str,
        *,
        refresh_token: Callable[[], str] | None = None,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise errors.ConfigurationError(
                "The Moodle client needs a web service token.",
                integration=http.integration,
            )
        redaction.register_secret(token)
        self.http = http
        self._token = token
        self._refresh_token = refresh_token

    def __repr__(self) -> str:
        return f"<MoodleClient {self.http.integration} {self.http.base_url}>"

    @property
    def integration(self) -> str:
        """Return the integration's name."""
        return self.http.integration

    def call(
        self,
        function: str,
        params: Mapping[str, Any] | None = None,
        *,
        write: bool = False,
    ) -> Any:
        """Call web service ``function`` with ``params`` and return its JSON result.

        Read functions are retried on transient failures; ``write`` calls are
        not, because the HTTP layer cannot know whether a failed write took
        effect.
        """
        try:
            return self._call_once(function, params, write)
        except errors.AuthenticationFailed as error:
            if self._refresh_token is None or error.provider_code not in (
                "invalidtoken",
                "invalidtimedtoken",
            ):
                raise
            logger.info(
                "moodle.token.refreshing",
                extra={"integration": self.integration, "function": function},
            )
            self._token = self._refresh_token()
            redaction.register_secret(self._token)
            # One refresh per client: a second rejection is final.
            self._refresh_token = None
        return self._call_once(function, params, write)

    def _call_once(
        self, function: str, params: Mapping[str, Any] | None, write: bool
    ) -> Any:
        body = [("wstoken", self._token), *encode_params(params)]
        response = self.http.request(
            "POST",
            WS_PATH,
            params={"wsfunction": function, "moodlewsrestformat": "json"},
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            idempotent=not write,
        )
        # The client's error mapper normally raised already; a client built
        # without it still must not mistake an error body for a result.
        error = map_moodle_error(response)
        if error is not None:
            error.integration = error.integration or self.integration
            error.method = error.method or "POST"
            error.url = error.url or response.url
            error.status = response.status if error.status is None else error.status
            raise error
        return response.json()
