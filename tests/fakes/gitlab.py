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

The projects API (docs.gitlab.com/api/projects, api/repositories,
api/rest "Pagination", security/rate_limits):

- Personal access tokens (:meth:`GitLabFake.add_personal_token`) in the
  ``PRIVATE-TOKEN`` header, or in ``Authorization: Bearer`` ("REST API
  authentication": both are accepted for personal access tokens); OAuth
  tokens in ``Authorization: Bearer``.
- ``GET /api/v4/projects?membership=true`` with ``owned`` and
  ``min_access_level`` filters, and ``GET /api/v4/groups/:id/projects``
  (an id or URL-encoded full path); projects the token's user may not see
  are absent. Offset pagination (``page``, ``per_page``, default 20, most
  100) answers ``X-Page``, ``X-Per-Page``, ``X-Next-Page``,
  ``X-Prev-Page``, ``X-Total``, ``X-Total-Pages`` and a ``Link`` header;
  keyset pagination (``pagination=keyset&order_by=id``) answers only a
  ``Link`` ``rel="next"`` URL carrying ``id_after`` [assumed: the name of
  GitLab's keyset parameter for /projects]. Keyset with another
  ``order_by`` is 405 [assumed status, API_NOTES "Keyset"].
- ``GET /api/v4/projects/:id/repository/tree`` with ``ref``,
  ``recursive`` and offset pagination. With ``pagination=keyset`` it
  answers page numbers, the bug of gitlab issue #427205 [assumed to
  persist on the instance]. An empty repository or unknown ref is 404
  ``{"message": "404 Tree Not Found"}`` [assumed body]; a hidden project
  404 ``{"message": "404 Project Not Found"}``.
- Rate limits: with :meth:`GitLabFake.set_rate_limit`, every API answer
  carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``
  (epoch seconds) and ``RateLimit-Name``; :meth:`GitLabFake.throttle`
  answers the next API requests 429 ``Retry later`` with ``Retry-After``.

Not modelled: public (non-confidential) applications that exchange a code
without their secret, the device and password grants, ``/oauth/userinfo``
and ``/oauth/token/info``.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

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
from tests.fakes.server import FakeServer, RecordedRequest, Reply, links_header

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
#: Scopes that open the projects and repository APIs.
API_SCOPES = ("api", "read_api")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
OWNER = 50
DEVELOPER = 30


@dataclass
class FakeProject:
    """A GitLab project: its members' access levels and its files."""

    id: int
    path: str
    namespace: str
    owner_id: int | str
    members: dict[int | str, int]
    files: list[str]
    default_branch: str | None = "main"
    visibility: str = "private"
    description: str | None = None
    topics: list[str] = field(default_factory=list)
    archived: bool = False

    def tree(self, recursive: bool) -> list[dict[str, Any]]:
        """Return the tree entries, directories implied by the file paths."""
        entries: dict[str, str] = {}
        for path in self.files:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                entries.setdefault("/".join(parts[:depth]), "tree")
            entries[path] = "blob"
        if not recursive:
            entries = {path: kind for path, kind in entries.items() if "/" not in path}
        return [
            {
                "id": _git_sha(self.id, path),
                "name": path.rsplit("/", 1)[-1],
                "type": kind,
                "path": path,
                "mode": "040000" if kind == "tree" else "100644",
            }
            for path, kind in sorted(entries.items())
        ]


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
        self.projects: dict[int, FakeProject] = {}
        self.personal_tokens: dict[str, tuple[OAuthUser, tuple[str, ...]]] = {}
        self.rate_limit: tuple[int, int] | None = None
        self._throttled: list[float] = []
        api = re.escape(f"{self.prefix}/api/v4")
        self.route("GET", f"{self.prefix}/api/v4/projects", self._projects)
        self.route(
            "GET", re.compile(api + r"/groups/(?P<group>[^/]+)/projects"), self._group
        )
        self.route(
            "GET",
            re.compile(api + r"/projects/(?P<project>\d+)/repository/tree"),
            self._tree,
        )

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

    @property
    def api_url(self) -> str:
        """Return the REST API's base URL, ``<base_url>/api/v4``."""
        return f"{self.base_url}/api/v4"

    def add_personal_token(
        self, user: OAuthUser, scopes: tuple[str, ...] = ("read_api",)
    ) -> str:
        """Issue a personal access token of ``user``'s (``glpat-`` prefix)."""
        token = leakcheck.secret(f"glpat-{secrets.token_urlsafe(15)}")
        self.personal_tokens[token] = (user, tuple(scopes))
        return token

    def add_project(
        self,
        owner: OAuthUser,
        path: str,
        *,
        files: list[str] | tuple[str, ...] = ("README.md",),
        namespace: str | None = None,
        members: dict[int | str, int] | None = None,
        **fields: Any,
    ) -> FakeProject:
        """Add a project ``owner`` owns; ids rise from 101 in order added."""
        project = FakeProject(
            id=101 + len(self.projects),
            path=path,
            namespace=namespace or owner.login,
            owner_id=owner.id,
            members={owner.id: OWNER, **(members or {})},
            files=list(files),
            **fields,
        )
        self.projects[project.id] = project
        return project

    def set_rate_limit(self, limit: int, remaining: int) -> None:
        """Send ``RateLimit-*`` headers counting down from ``remaining``."""
        self.rate_limit = (limit, remaining)

    def throttle(self, times: int = 1, retry_after: float = 0) -> None:
        """Answer the next ``times`` API requests 429 with ``Retry-After``."""
        with self._faults_lock:
            self._throttled.extend([retry_after] * times)

    def project_json(self, project: FakeProject) -> dict[str, Any]:
        """Return the Projects API's JSON for ``project`` (a subset of fields)."""
        return {
            "id": project.id,
            "description": project.description,
            "name": project.path.replace("-", " ").title(),
            "name_with_namespace": f"{project.namespace} / {project.path}",
            "path": project.path,
            "path_with_namespace": f"{project.namespace}/{project.path}",
            "created_at": "2024-01-15T09:30:00.000Z",
            "updated_at": "2024-02-01T08:00:00.000Z",
            "default_branch": project.default_branch,
            "topics": project.topics,
            "tag_list": project.topics,
            "ssh_url_to_repo": f"git@example.com:{project.namespace}/{project.path}.git",
            "http_url_to_repo": f"{self.base_url}/{project.namespace}/"
            f"{project.path}.git",
            "web_url": f"{self.base_url}/{project.namespace}/{project.path}",
            "star_count": 0,
            "forks_count": 0,
            "last_activity_at": "2024-02-01T08:00:00.000Z",
            "namespace": {
                "id": abs(hash(project.namespace)) % 10_000,
                "name": project.namespace,
                "path": project.namespace.rsplit("/", 1)[-1],
                "kind": "group" if "/" in project.namespace else "user",
                "full_path": project.namespace,
            },
            "visibility": project.visibility,
            "archived": project.archived,
            "empty_repo": not project.files,
        }

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
        personal = self._personal_user(request, USER_SCOPES)
        if isinstance(personal, Reply):
            return personal
        if personal is not None:
            return self._limited(Reply.json(self.user_json(personal)))
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

        return self._limited(Reply.json(self.user_json(record.user)))

    # --- projects API ---------------------------------------------------------

    def _personal_user(
        self, request: RecordedRequest, scopes: tuple[str, ...]
    ) -> OAuthUser | Reply | None:
        """Return a personal token's user or refusal; None for other tokens."""
        token = request.header("PRIVATE-TOKEN") or bearer_token(request)
        if token not in self.personal_tokens:
            if request.header("PRIVATE-TOKEN") is not None:
                return Reply.json(UNAUTHORIZED, 401)
            return None
        user, granted = self.personal_tokens[token]
        if not set(scopes) & set(granted):
            return Reply.json({"error": "insufficient_scope"}, 403)
        return user

    def _api_user(self, request: RecordedRequest) -> OAuthUser | Reply:
        """Return the user a projects-API request authenticates as, or a refusal."""
        with self._faults_lock:
            wait = self._throttled.pop(0) if self._throttled else None
        if wait is not None:
            return Reply.text("Retry later", 429, {"Retry-After": f"{wait:g}"})
        personal = self._personal_user(request, API_SCOPES)
        if personal is not None:
            return personal
        token = bearer_token(request, query_param="access_token")
        record = self.oauth.access_token(token) if token else None
        if record is None:
            return Reply.json(UNAUTHORIZED, 401)
        if record.revoked:
            return _invalid_token(REVOKED_TOKEN)
        user = self.oauth.user_for(token)
        if user is None:
            return _invalid_token(EXPIRED_TOKEN)
        if not set(API_SCOPES) & set(record.scope):
            return Reply.json({"error": "insufficient_scope"}, 403)
        return user

    def _limited(self, reply: Reply) -> Reply:
        """Add the ``RateLimit-*`` headers, counting this request."""
        if self.rate_limit is None:
            return reply
        with self._faults_lock:
            limit, remaining = self.rate_limit
            remaining = max(0, remaining - 1)
            self.rate_limit = (limit, remaining)
        reset = math.ceil(time.time()) + 60
        reply.headers.extend(
            [
                ("RateLimit-Name", "throttle_authenticated_api"),
                ("RateLimit-Limit", str(limit)),
                ("RateLimit-Observed", str(limit - remaining)),
                ("RateLimit-Remaining", str(remaining)),
                ("RateLimit-Reset", str(reset)),
            ]
        )
        return reply

    def _visible(self, user: OAuthUser, project: FakeProject) -> bool:
        return user.id in project.members or project.visibility == "public"

    def _projects(self, request: RecordedRequest) -> Reply:
        user = self._api_user(request)
        if isinstance(user, Reply):
            return user
        projects = [p for p in self.projects.values() if self._visible(user, p)]
        if request.arg("membership") == "true":
            projects = [p for p in projects if user.id in p.members]
        return self._project_listing(request, user, projects)

    def _group(self, request: RecordedRequest) -> Reply:
        user = self._api_user(request)
        if isinstance(user, Reply):
            return user
        group = unquote(request.match["group"])
        projects = [
            p
            for p in self.projects.values()
            if p.namespace == group and self._visible(user, p)
        ]
        if not projects:
            return Reply.json({"message": "404 Group Not Found"}, 404)
        return self._project_listing(request, user, projects)

    def _project_listing(
        self, request: RecordedRequest, user: OAuthUser, projects: list[FakeProject]
    ) -> Reply:
        if request.arg("owned") == "true":
            projects = [p for p in projects if p.owner_id == user.id]
        level = request.arg("min_access_level")
        if level is not None:
            projects = [p for p in projects if p.members.get(user.id, 0) >= int(level)]
        rows = [self.project_json(p) for p in sorted(projects, key=lambda p: p.id)]
        if request.arg("pagination") != "keyset":
            return self._limited(_offset_page(request, rows))
        if request.arg("order_by") != "id":
            return Reply.json(
                {
                    "message": "405 Method Not Allowed: keyset pagination needs "
                    "order_by=id"
                },
                405,
            )

        per_page = _per_page(request)
        after = int(request.arg("id_after") or 0)
        rows = [row for row in rows if row["id"] > after]
        page, more = rows[:per_page], len(rows) > per_page
        headers = {}
        if more:
            query = {name: values[0] for name, values in request.query.items()} | {
                "id_after": page[-1]["id"]
            }
            next_url = self.url_for(f"{request.path}?{urlencode(query)}")
            headers["Link"] = links_header([(next_url, "next")])
        return self._limited(Reply.json(page, 200, headers))

    def _tree(self, request: RecordedRequest) -> Reply:
        user = self._api_user(request)
        if isinstance(user, Reply):
            return user
        project = self.projects.get(int(request.match["project"]))
        if project is None or not self._visible(user, project):
            return Reply.json({"message": "404 Project Not Found"}, 404)
        ref = request.arg("ref") or project.default_branch
        if not project.files or ref != project.default_branch:
            return Reply.json({"message": "404 Tree Not Found"}, 404)

        entries = project.tree(request.arg("recursive") == "true")
        # Keyset asked for or not, the tree answers page numbers (#427205).
        return self._limited(_offset_page(request, entries))


def _per_page(request: RecordedRequest) -> int:
    value = int(request.arg("per_page") or DEFAULT_PER_PAGE)
    return max(1, min(value, MAX_PER_PAGE))


def _offset_page(request: RecordedRequest, rows: list[dict[str, Any]]) -> Reply:
    """Answer one offset page of ``rows`` with GitLab's X- and Link headers."""
    per_page = _per_page(request)
    page = max(1, int(request.arg("page") or 1))
    pages = max(1, math.ceil(len(rows) / per_page))
    chunk = rows[(page - 1) * per_page : page * per_page]
    query = {name: values[0] for name, values in request.query.items()}
    server = request.server

    def url(number: int) -> str:
        target = f"{request.path}?{urlencode(query | {'page': number})}"
        return server.url_for(target) if server is not None else target

    links = [(url(1), "first"), (url(pages), "last")]
    if page < pages:
        links.insert(0, (url(page + 1), "next"))
    if page > 1:
        links.insert(0, (url(page - 1), "prev"))
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Next-Page": str(page + 1) if page < pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "X-Total": str(len(rows)),
        "X-Total-Pages": str(pages),
        "Link": links_header(links),
    }
    return Reply.json(chunk, 200, headers)


def _git_sha(project_id: int, path: str) -> str:
    """Return a stable 40-hex object id for a path of a project."""
    return hashlib.sha1(
        f"{project_id}:{path}".encode(), usedforsecurity=False
    ).hexdigest()


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
