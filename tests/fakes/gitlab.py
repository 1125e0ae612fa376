"""A fake GitLab on loopback: its OAuth 2 provider and the current-user API.

Built on :class:`tests.fakes.server.FakeServer` and
:class:`tests.fakes.oauth.AuthorizationServer`. A self-hosted GitLab is just
another base URL, so one class serves gitlab.com and self-managed instances
alike; ``prefix`` installs it under a path, as GitLab runs under a relative
URL root (``external_url "https://example.com/gitlab"``, docs.gitlab.com
"Install GitLab under a relative URL"), where every route below moves with
it. What it reproduces, from docs.gitlab.com/api/oauth2 ("OAuth 2.0
identity provider API", GitLab's doc/api/oauth2.md) unless marked:

- ``GET /oauth/authorize`` with ``response_type=code``, ``state``, a
  space-separated ``scope`` (``read_user read_api``) and PKCE with
  ``code_challenge_method`` ``S256`` or ``plain`` (RFC 7636; GitLab's
  provider is the doorkeeper gem, whose PKCE takes both). The consent page
  approves or denies; Deny redirects with ``error=access_denied`` and
  Doorkeeper's description. A scope the application was not registered
  with is refused with ``invalid_scope`` ("by enabling proper scopes, you
  can limit the range of resources which the application can access").
  An unknown client gets a 401 page and an unregistered redirect URI a 400
  page, never a redirect (RFC 6749 4.1.2.1; the statuses are Doorkeeper's
  ``ErrorResponse``, assumed rather than documented by GitLab).
- ``POST /oauth/token``, client credentials in the form (the docs) or HTTP
  Basic (RFC 6749 2.3.1): the ``authorization_code`` grant (``redirect_uri``
  must match the authorization's: "The redirect_uri must match the
  redirect_uri used in the original authorization request"; the
  ``code_verifier`` must match the challenge) and the ``refresh_token``
  grant, which "Invalidates the existing access_token and refresh_token"
  and sends new ones. The answer is JSON: ``access_token``, ``token_type``,
  ``expires_in`` 7200 (two hours, "OAuth tokens without expiration" were
  removed in GitLab 15.0), ``refresh_token``, ``scope`` and ``created_at``.
  ``token_type`` is ``Bearer`` as Doorkeeper 5 writes it; the older
  examples in GitLab's docs show ``bearer``. Errors are RFC 6749 5.2 JSON
  with Doorkeeper's ``error_description`` texts (config/locales/en.yml):
  ``invalid_grant`` 400 for a bad, used or expired code, a redirect_uri or
  verifier that does not match and a refresh token that is unknown or
  retired; ``invalid_client`` 401 with ``WWW-Authenticate``. Assumed: a
  missing ``code_verifier`` is ``invalid_grant`` here (Doorkeeper 5 says
  ``invalid_request``).
- ``POST /oauth/revoke`` (RFC 7009) with ``client_id``, ``client_secret``
  and ``token``: "returns a 200 response code and an empty JSON hash", also
  for a token it does not know (RFC 7009 2.2). Revoking either token of a
  pair revokes both (Doorkeeper keeps them on one row). From Doorkeeper 5's
  ``TokensController#revoke``, not GitLab's docs: wrong client credentials
  get 401 ``invalid_client``, another application's token 403
  ``unauthorized_client``.
- ``GET /api/v4/user`` with the token in ``Authorization: Bearer`` or the
  ``access_token`` query parameter ("Access GitLab API with access token"):
  the current user's JSON (``id``, ``username``, ``name``, ``email``,
  ``state``, ``avatar_url``, ``web_url``, ... as the Users API's "Get the
  current user" example). Unknown token: 401 ``{"message": "401
  Unauthorized"}``; an expired or revoked one: 401 ``invalid_token`` with
  the descriptions of GitLab's lib/api/api_guard.rb ("Token is expired. You
  can either do re-authorization or token refresh.", "Token was revoked.
  You have to re-authorize from the user."); a token without ``api``,
  ``read_api`` or ``read_user``: 403 ``insufficient_scope`` (the body of the
  REST docs' sudo example). The realm of ``WWW-Authenticate`` is
  rack-oauth2's default, assumed.
- Tokens, codes and application secrets look like GitLab's: 64 hexadecimal
  characters (the docs' examples) and the ``gloas-`` prefix of application
  secrets (docs.gitlab.com "GitLab token overview", token prefixes).

Not modelled: public (non-confidential) applications that exchange a code
without their secret, the device and password grants, ``/oauth/userinfo``
and ``/oauth/token/info``.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from tests import leakcheck
from tests.fakes.oauth import (
    RFC6749_ERRORS,
    AuthorizationServer,
    OAuthClient,
    OAuthRefusal,
    OAuthUser,
    TokenIssue,
    bearer_token,
    redirect_with,
    request_parameters,
)
from tests.fakes.server import FakeServer, RecordedRequest, Reply

#: GitLab 15.0 and later: every OAuth access token lives two hours.
ACCESS_TOKEN_LIFETIME = 7200
#: What the portal asks for by default (portal/accounts/services.py).
DEFAULT_APP_SCOPES = ("read_user", "read_api")
#: Scopes that open ``GET /api/v4/user`` (docs.gitlab.com "Configure GitLab
#: as an OAuth 2.0 authentication identity provider", the scope table).
USER_SCOPES = ("api", "read_api", "read_user")

#: Doorkeeper's descriptions by error code (config/locales/en.yml).
DOORKEEPER_MESSAGES = {
    "invalid_request": "The request is missing a required parameter, includes an "
    "unsupported parameter value, or is otherwise malformed.",
    "invalid_redirect_uri": "The requested redirect uri is malformed or doesn't "
    "match client redirect URI.",
    "access_denied": "The resource owner or authorization server denied the request.",
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
    "invalid_code_challenge_method": "The code challenge method must be plain or S256.",
    "invalid_client": "Client authentication failed due to unknown client, no "
    "client authentication included, or unsupported authentication method.",
    "invalid_grant": "The provided authorization grant is invalid, expired, "
    "revoked, does not match the redirection URI used in the authorization "
    "request, or was issued to another client.",
    "unsupported_grant_type": "The authorization grant type is not supported by "
    "the authorization server.",
    "unauthorized_client": "You are not authorized to revoke this token",
}
GITLAB_ERRORS = {
    kind: (status, error, DOORKEEPER_MESSAGES.get(error, description))
    for kind, (status, error, description) in RFC6749_ERRORS.items()
}
UNAUTHORIZED = {"message": "401 Unauthorized"}
EXPIRED_TOKEN = "Token is expired. You can either do re-authorization or token refresh."
REVOKED_TOKEN = "Token was revoked. You have to re-authorize from the user."
INSUFFICIENT_SCOPE = (
    "The request requires higher privileges than provided by the access token."
)


class GitLabAuthorization(AuthorizationServer):
    """GitLab's OAuth 2 provider (Doorkeeper) at ``prefix`` on the server."""

    access_token_lifetime = ACCESS_TOKEN_LIFETIME
    pkce_methods = ("S256", "plain")
    rotates_refresh_tokens = True
    refresh_replaces_access_token = True
    errors = GITLAB_ERRORS
    www_authenticate = (
        'Bearer realm="Doorkeeper", error="invalid_client", '
        f'error_description="{DOORKEEPER_MESSAGES["invalid_client"]}"'
    )
    service_name = "GitLab"

    def __init__(self, server: FakeServer, *, prefix: str = "") -> None:
        self.authorize_path = f"{prefix}/oauth/authorize"
        self.token_path = f"{prefix}/oauth/token"
        self.revoke_path = f"{prefix}/oauth/revoke"
        #: Client id -> the scopes its application was registered with.
        self.client_scopes: dict[str, set[str]] = {}
        super().__init__(server)

    @property
    def revoke_url(self) -> str:
        """Return the absolute URL of the revocation endpoint."""
        return self.server.url_for(self.revoke_path)

    def add_client(
        self,
        redirect_uris: list[str] | tuple[str, ...],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: tuple[str, ...] | list[str] = DEFAULT_APP_SCOPES,
    ) -> OAuthClient:
        """Register an application with ``scopes`` enabled; return it."""
        client = super().add_client(
            redirect_uris, client_id=client_id, client_secret=client_secret
        )
        with self._lock:
            self.client_scopes[client.client_id] = set(scopes)
        return client

    def mint(self, kind: str) -> str:
        """Return 64 hex characters; an application secret starts ``gloas-``."""
        value = secrets.token_hex(32)
        return leakcheck.secret(f"gloas-{value}" if kind == "secret" else value)

    def token_response(self, issue: TokenIssue) -> dict[str, Any]:
        """Add ``created_at`` (epoch seconds), as Doorkeeper's answer has."""
        body = super().token_response(issue)
        body["created_at"] = int(self.clock.now())
        return body

    def unknown_client_page(self, params: dict[str, str]) -> Reply:
        """Answer Doorkeeper's invalid_client error page (401)."""
        return self.error_page(
            401, "invalid_client", DOORKEEPER_MESSAGES["invalid_client"]
        )

    def redirect_mismatch_page(
        self, client: OAuthClient, params: dict[str, str]
    ) -> Reply:
        """Answer Doorkeeper's invalid_redirect_uri error page (400)."""
        return self.error_page(
            400, "invalid_redirect_uri", DOORKEEPER_MESSAGES["invalid_redirect_uri"]
        )

    def denied_params(self) -> dict[str, str]:
        """Return access_denied with Doorkeeper's description."""
        return {
            "error": "access_denied",
            "error_description": DOORKEEPER_MESSAGES["access_denied"],
        }

    def _authorize(self, request: RecordedRequest) -> Reply:
        # Doorkeeper checks the scope and the PKCE method once the client and
        # its redirect URI are known good, and redirects with the error.
        params = {name: values[0] for name, values in request.query.items()}
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri")
        if client is None or redirect_uri not in client.redirect_uris:
            return super()._authorize(request)

        method = params.get("code_challenge_method")
        if method is not None and method not in self.pkce_methods:
            error = ("invalid_request", "invalid_code_challenge_method")
        elif not set(self.parse_scope(params.get("scope"))) <= self.client_scopes.get(
            client.client_id, set()
        ):
            error = ("invalid_scope", "invalid_scope")
        else:
            return super()._authorize(request)
        return redirect_with(
            redirect_uri,
            error=error[0],
            error_description=DOORKEEPER_MESSAGES[error[1]],
            state=params.get("state"),
        )

    def revocation_reply(self, request: RecordedRequest) -> Reply:
        """Answer ``POST /oauth/revoke`` as Doorkeeper 5 does (RFC 7009)."""
        params = request_parameters(request)
        try:
            with self._lock:
                client = self._authenticate(request, params)
        except OAuthRefusal as refusal:
            return self.error_reply(request, refusal.kind)

        token = params.get("token", "")
        with self._lock:
            record = self.access_tokens.get(token) or self.refresh_tokens.get(token)
        if record is None:
            return Reply.json({})
        if record.client_id != client.client_id:
            return Reply.json(
                {
                    "error": "unauthorized_client",
                    "error_description": DOORKEEPER_MESSAGES["unauthorized_client"],
                },
                403,
            )
        self.revoke(token)
        return Reply.json({})


class GitLabFake(FakeServer):
    """GitLab's OAuth endpoints and ``/api/v4/user`` on 127.0.0.1.

    A context manager. ``oauth`` is the :class:`GitLabAuthorization`
    (applications, approve/deny, clock, counters, failure switches); users
    are added with :meth:`add_user`. :attr:`base_url` is what an admin
    types as the self-hosted GitLab's address.
    """

    def __init__(self, *, prefix: str = "", host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.prefix = prefix.rstrip("/")
        self.oauth = GitLabAuthorization(self, prefix=self.prefix)
        self.user_path = f"{self.prefix}/api/v4/user"
        self._revocation_faults: list[Reply] = []
        self._faults_lock = threading.Lock()
        self.route("POST", self.oauth.revoke_path, self._revoke)
        self.route("GET", self.user_path, self._user)

    @property
    def base_url(self) -> str:
        """Return the instance's address, e.g. ``http://127.0.0.1:5431/gitlab``."""
        return f"{self.url}{self.prefix}"

    @property
    def user_url(self) -> str:
        """Return the URL of ``GET /api/v4/user``."""
        return self.url_for(self.user_path)

    def add_user(
        self,
        id: int,
        username: str,
        *,
        name: str | None = None,
        email: str | None = None,
        state: str = "active",
    ) -> OAuthUser:
        """Add a GitLab user; the first one added is the one signed in."""
        return self.oauth.add_user(id, username, name=name, email=email, state=state)

    def fail_revocation(self, times: int = 1, status: int = 500) -> None:
        """Answer the next ``times`` revocation requests with a server error."""
        with self._faults_lock:
            self._revocation_faults.extend(
                [Reply.text("Internal Server Error", status)] * times
            )

    def user_json(self, user: OAuthUser) -> dict[str, Any]:
        """Return the Users API's "current user" JSON for ``user``."""
        return {
            "id": user.id,
            "username": user.login,
            "name": user.name,
            "state": user.extra.get("state", "active"),
            "locked": False,
            "avatar_url": f"{self.base_url}/uploads/-/system/user/avatar/"
            f"{user.id}/avatar.png",
            "web_url": f"{self.base_url}/{user.login}",
            "created_at": "2024-01-15T09:30:00.000Z",
            "bio": "",
            "location": "",
            "public_email": None,
            "website_url": "",
            "organization": "",
            "job_title": "",
            "pronouns": None,
            "bot": False,
            "work_information": None,
            "local_time": None,
            "last_sign_in_at": "2024-02-01T08:00:00.000Z",
            "confirmed_at": "2024-01-15T09:31:00.000Z",
            "last_activity_on": "2024-02-01",
            "email": user.email,
            "theme_id": 1,
            "color_scheme_id": 1,
            "projects_limit": 100000,
            "current_sign_in_at": "2024-02-01T08:00:00.000Z",
            "identities": [],
            "can_create_group": True,
            "can_create_project": True,
            "two_factor_enabled": False,
            "external": False,
            "private_profile": False,
            "commit_email": user.email,
        }

    def _revoke(self, request: RecordedRequest) -> Reply:
        with self._faults_lock:
            if self._revocation_faults:
                return self._revocation_faults.pop(0)
        return self.oauth.revocation_reply(request)

    def _user(self, request: RecordedRequest) -> Reply:
        token = bearer_token(request, query_param="access_token")
        record = self.oauth.access_token(token) if token else None
        if record is None:
            return Reply.json(UNAUTHORIZED, 401)
        if record.revoked:
            return _invalid_token(REVOKED_TOKEN)
        if self.oauth.user_for(token) is None:
            return _invalid_token(EXPIRED_TOKEN)
        if not set(USER_SCOPES) & set(record.scope):
            return Reply.json(
                {
                    "error": "insufficient_scope",
                    "error_description": INSUFFICIENT_SCOPE,
                    "scope": " ".join(USER_SCOPES),
                },
                403,
            )

        return Reply.json(self.user_json(record.user))


def _invalid_token(description: str) -> Reply:
    header = (
        'Bearer realm="Protected by OAuth 2.0", error="invalid_token", '
        f'error_description="{description}"'
    )
    return Reply.json(
        {"error": "invalid_token", "error_description": description},
        401,
        {"WWW-Authenticate": header},
    )
