"""A fake GitHub on loopback: OAuth app sign-in and the user API it opens.

Built on :class:`tests.fakes.server.FakeServer` and
:class:`tests.fakes.oauth.AuthorizationServer`. What it reproduces, from
docs.github.com "Authorizing OAuth apps" and the troubleshooting pages:

- ``GET /login/oauth/authorize`` (PKCE S256 only: "the plain code challenge
  method is not supported"); a redirect_uri that is not registered is not
  followed: GitHub redirects to the *registered* callback URL with
  ``error=redirect_uri_mismatch`` ("Troubleshooting authorization request
  errors"), and Deny gives ``error=access_denied`` with a description.
- ``POST /login/oauth/access_token`` answers form-encoded
  (``access_token=...&scope=...&token_type=bearer``) unless the request
  accepts ``application/json``; errors such as ``bad_verification_code``
  come back with **HTTP 200** and an ``error`` field (golang/oauth2 #274,
  #441); OAuth app tokens never expire and carry no refresh token, unless
  ``expiring_tokens=True`` (8-hour tokens, rotated ``ghr_`` refresh tokens).
- The REST API at ``/`` (api.github.com) and at ``/api/v3`` (the layout
  allauth uses with ``GITHUB_URL``): ``GET /user``, ``GET /user/emails``
  (needs the ``user:email`` or ``user`` scope, else 404), ``GET /user/repos``
  (private ones only with ``repo``; ``affiliation`` owner, collaborator,
  organization_member and ``visibility`` all, public, private, a 422
  "Validation Failed" for another value) with ``Link`` pages (``per_page``
  default 30, at most 100) and ``x-ratelimit-*`` headers; a bad token gets
  401 ``{"message": "Bad credentials", ...}``. Repository JSON carries
  ``topics`` ("Get a repository": topics come with the repository).
- ``GET /orgs/{org}/repos`` ("List organization repositories"): ``type``
  all, public, private, forks, sources, member; private ones only for
  members with ``repo``; 404 for an organization that does not exist.
- ``GET /repos/{owner}/{repo}/readme`` ("Get a repository README"): the
  raw file with ``Accept: application/vnd.github.raw+json`` (or
  ``application/vnd.github.raw``), else the content-file JSON with the
  file base64-encoded in lines of 60 characters; 404 ``Not Found`` when the
  repository has no README, and for a private repository the token may
  not see (GitHub hides it rather than refusing). The raw answer's
  Content-Type is assumed, not documented.
- Rate limits ("Rate limits for the REST API", "Troubleshooting"): over
  the hour's quota, 403 with ``x-ratelimit-remaining: 0`` and the reset
  (:meth:`GitHubFake.exhaust_quota`); the secondary limit, 403 or 429 with
  a message naming it and ``retry-after`` only when the test gives one
  (:meth:`GitHubFake.trip_secondary_limit`).
- ``POST /repos/{owner}/{repo}/issues`` ("Create an issue"): 201 with a
  ``Location`` header naming the issue's API URL and the Issue JSON; 410
  ``Issues are disabled for this repo`` (:meth:`GitHubFake.disable_issues`);
  422 ``Validation Failed`` with ``missing_field`` for a missing or empty
  title and ``invalid`` for labels that are not a list of names; 404 for a
  repository the token may not see; the secondary limit (the endpoint's
  note) through :meth:`GitHubFake.trip_secondary_limit`. The 201 Location
  and the 422 shape are assumed (API_NOTES [U]).
  :meth:`GitHubFake.drop_after_create` creates the issue and then resets
  the connection without an answer, as when a proxy dies after GitHub did
  the work.
- ``GET /repos/{owner}/{repo}/issues`` ("List repository issues"):
  ``state`` open (default), closed or all, ``since`` (updated at or after),
  ``creator``, ``sort=created`` ``direction`` asc or desc (default desc),
  ``Link`` pages.
- ``DELETE /applications/{client_id}/grant`` and ``.../token`` with HTTP
  Basic client_id:client_secret and ``{"access_token": ...}``: 204, 422 for
  a body without ``access_token``. Assumed, not documented for DELETE: 404
  for wrong client credentials or a token the app does not hold (what the
  sibling ``POST /applications/{client_id}/token`` documents).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlencode

from tests.fakes.faulty import Reset
from tests.fakes.oauth import (
    AuthorizationServer,
    OAuthClient,
    OAuthRefusal,
    OAuthUser,
    TokenIssue,
    basic_credentials,
    bearer_token,
    redirect_with,
)
from tests.fakes.server import FakeServer, RecordedRequest, Reply, links_header

DOCS = "https://docs.github.com"
TOKEN_ERRORS_DOC = (
    f"{DOCS}/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors"
)
AUTHORIZE_ERRORS_DOC = (
    f"{DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors"
)
RATE_LIMIT_DOC = f"{DOCS}/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before "
    "you try again. If you reach out to GitHub Support for help, please include "
    "the request ID."
)
RAW_MEDIA_TYPES = ("application/vnd.github.raw+json", "application/vnd.github.raw")
AFFILIATIONS = ("owner", "collaborator", "organization_member")
ORG_TYPES = ("all", "public", "private", "forks", "sources", "member")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
RATE_LIMIT = 5000
UNAUTHENTICATED_RATE_LIMIT = 60

#: GitHub's token errors, every one with HTTP 200 (see the module docstring).
GITHUB_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_client": (
        200,
        "incorrect_client_credentials",
        "The client_id and/or client_secret passed are incorrect.",
    ),
    "invalid_request": (200, "invalid_request", "The request is invalid."),
    "bad_code": (
        200,
        "bad_verification_code",
        "The code passed is incorrect or expired.",
    ),
    # Not documented for PKCE; a verifier that does not match is taken as a
    # code that does not match what the authorization gave.
    "pkce_failed": (
        200,
        "bad_verification_code",
        "The code passed is incorrect or expired.",
    ),
    "redirect_mismatch": (
        200,
        "redirect_uri_mismatch",
        "The redirect_uri MUST match the registered callback URL for this application.",
    ),
    "unverified_email": (
        200,
        "unverified_user_email",
        "The user must have a verified primary email.",
    ),
    "bad_refresh": (
        200,
        "bad_refresh_token",
        "The refresh token passed is incorrect or expired.",
    ),
    "unsupported_grant_type": (
        200,
        "unsupported_grant_type",
        "The grant type is not supported.",
    ),
}
_ERROR_ANCHORS = {
    "incorrect_client_credentials": "incorrect-client-credentials",
    "bad_verification_code": "bad-verification-code",
    "redirect_uri_mismatch": "redirect-uri-mismatch2",
    "unverified_user_email": "unverified-user-email",
}


class GitHubAuthorization(AuthorizationServer):
    """GitHub's OAuth app flow (docs.github.com "Authorizing OAuth apps")."""

    authorize_path = "/login/oauth/authorize"
    token_path = "/login/oauth/access_token"
    access_token_lifetime = None
    issues_refresh_tokens = False
    pkce_methods = ("S256",)
    # "The redirect_uri parameter is optional. If left out, GitHub will
    # redirect users to the callback URL configured in the OAuth app."
    redirect_uri_required = False
    token_redirect_uri_required = False
    errors = GITHUB_ERRORS
    www_authenticate = None
    prefixes = {"access": "gho_", "refresh": "ghr_", "secret": "ghs_"}
    service_name = "GitHub"

    def __init__(self, server: FakeServer, *, expiring_tokens: bool = False) -> None:
        super().__init__(server)
        if expiring_tokens:
            # "Refreshing an access token": 8-hour tokens; a refresh gives a
            # new pair and the old refresh and access tokens stop working.
            self.access_token_lifetime = 28800
            self.issues_refresh_tokens = True
            self.rotates_refresh_tokens = True
            self.refresh_replaces_access_token = True

    def parse_scope(self, raw: str | None) -> list[str]:
        """Split the scope list; spaces per the docs, commas as of old."""
        return [scope for scope in re.split(r"[\s,]+", raw or "") if scope]

    def format_scope(self, scope: list[str]) -> str:
        """Join scopes with commas, as the token response does (``repo,gist``)."""
        return ",".join(scope)

    def check_user(self, user: OAuthUser) -> None:
        """Refuse a user whose primary email is not verified."""
        if not user.email_verified:
            raise OAuthRefusal("unverified_email")

    def token_response(self, issue: TokenIssue) -> dict[str, Any]:
        """Return GitHub's fields in its order: token, [expiry], scope, type."""
        body: dict[str, Any] = {"access_token": issue.access.token}
        if issue.access.expires_at is not None:
            body["expires_in"] = self.access_token_lifetime
            if issue.refresh is not None:
                body["refresh_token"] = issue.refresh.token
                body["refresh_token_expires_in"] = 15897600
        body["scope"] = self.format_scope(issue.access.scope)
        body["token_type"] = "bearer"
        return body

    def token_reply(self, request: RecordedRequest, body: dict[str, Any]) -> Reply:
        """Answer form-encoded by default, JSON for ``Accept: application/json``."""
        if "json" in (request.header("Accept") or "").lower():
            return Reply.json(body)
        return Reply(
            200,
            urlencode(body),
            content_type="application/x-www-form-urlencoded; charset=utf-8",
        )

    def error_reply(self, request: RecordedRequest, kind: str) -> Reply:
        """Return the error with HTTP 200, as GitHub does."""
        status, error, description = self.errors[kind]
        anchor = _ERROR_ANCHORS.get(error, error.replace("_", "-"))
        body = {
            "error": error,
            "error_description": description,
            "error_uri": f"{TOKEN_ERRORS_DOC}/#{anchor}",
        }
        reply = self.token_reply(request, body)
        reply.status = status
        return reply

    def unknown_client_page(self, params: dict[str, str]) -> Reply:
        """Answer GitHub's 404 page for an OAuth app that does not exist."""
        return self.error_page(
            404, "not_found", "This is not the web page you are looking for."
        )

    def redirect_mismatch_page(
        self, client: OAuthClient, params: dict[str, str]
    ) -> Reply:
        """Redirect to the registered callback (never to the URI sent)."""
        return redirect_with(
            client.redirect_uris[0],
            error="redirect_uri_mismatch",
            error_description="The redirect_uri MUST match the registered callback "
            "URL for this application.",
            error_uri=f"{AUTHORIZE_ERRORS_DOC}/#redirect-uri-mismatch",
            state=params.get("state"),
        )

    def denied_params(self) -> dict[str, str]:
        """Return GitHub's access_denied parameters."""
        return {
            "error": "access_denied",
            "error_description": "The user has denied your application access.",
            "error_uri": f"{AUTHORIZE_ERRORS_DOC}/#access-denied",
        }


class GitHubFake(FakeServer):
    """GitHub's OAuth app endpoints and user API on 127.0.0.1; a context manager.

    ``oauth`` is the :class:`GitHubAuthorization` (clients, approve/deny,
    clock, counters, failure switches). Users are added here so they get
    their email records; repositories with :meth:`add_repo`/:meth:`add_repos`.
    """

    def __init__(
        self,
        *,
        expiring_tokens: bool = False,
        rate_limit: int = RATE_LIMIT,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.oauth = GitHubAuthorization(self, expiring_tokens=expiring_tokens)
        self.rate_limit = rate_limit
        self.emails: dict[str, list[dict[str, Any]]] = {}
        self.repos: dict[str, list[dict[str, Any]]] = {}
        #: Organization login -> {"id", "members" (user ids), "repos"}.
        self.orgs: dict[str, dict[str, Any]] = {}
        #: Repository id -> README text (absent: the repository has none).
        self.readmes: dict[int, str] = {}
        #: Repository id -> ids of users added as collaborators.
        self.collaborators: dict[int, set[str]] = {}
        self._secondary: list[tuple[int, float | None]] = []
        self._used: Counter[str] = Counter()
        self._reset_at: dict[str, int] = {}
        self._data_lock = threading.RLock()
        self._next_repo_id = 1000
        #: Repository id -> its issues, oldest first (GitHub's Issue JSON).
        self.issues: dict[int, list[dict[str, Any]]] = {}
        self.issues_disabled: set[int] = set()
        self._drops_after_create = 0
        for prefix in ("", "/api/v3"):
            self.route("GET", f"{prefix}/user", self._user)
            self.route("GET", f"{prefix}/user/emails", self._emails)
            self.route("GET", f"{prefix}/user/repos", self._repos)
            self.route(
                "GET",
                re.compile(rf"{prefix}/orgs/(?P<org>[^/]+)/repos"),
                self._org_repos,
            )
            self.route(
                "GET",
                re.compile(rf"{prefix}/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/readme"),
                self._readme,
            )
            issues = re.compile(
                rf"{prefix}/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues"
            )
            self.route("POST", issues, self._create_issue)
            self.route("GET", issues, self._list_issues)
            self.route(
                "DELETE",
                re.compile(
                    rf"{prefix}/applications/(?P<client_id>[^/]+)/(?P<what>grant|token)"
                ),
                self._delete_authorization,
            )

    @property
    def web_url(self) -> str:
        """Return the root of github.com's part (authorize, access_token)."""
        return self.url

    @property
    def api_url(self) -> str:
        """Return the REST API root as allauth builds it from ``GITHUB_URL``."""
        return f"{self.url}/api/v3"

    @property
    def allauth_settings(self) -> dict[str, str]:
        """Return the SOCIALACCOUNT_PROVIDERS["github"] entries for this fake."""
        return {"GITHUB_URL": self.web_url}

    # --- data ---------------------------------------------------------------

    def add_user(
        self,
        id: int,
        login: str,
        *,
        name: str | None = None,
        email: str | None = None,
        email_verified: bool = True,
    ) -> OAuthUser:
        """Add a user whose primary email is ``email``; return it."""
        user = self.oauth.add_user(
            id, login, name=name, email=email, email_verified=email_verified
        )
        with self._data_lock:
            self.emails[str(id)] = []
            self.repos[str(id)] = []
        if email:
            self.add_email(user, email, verified=email_verified, primary=True)
        return user

    def add_email(
        self,
        user: OAuthUser,
        email: str,
        *,
        verified: bool = True,
        primary: bool = False,
        visibility: str | None = None,
    ) -> dict[str, Any]:
        """Add an email address to a user's account; return its record."""
        record = {
            "email": email,
            "primary": primary,
            "verified": verified,
            "visibility": visibility or ("public" if primary else None),
        }
        with self._data_lock:
            self.emails[str(user.id)].append(record)
        return record

    def add_repo(
        self,
        user: OAuthUser,
        name: str,
        *,
        private: bool = False,
        readme: str | None = None,
        collaborators: Iterable[OAuthUser] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a repository the user owns (GitHub's Repository JSON); return it.

        ``readme`` is its README's text (None: it has none); ``collaborators``
        are users who were added to it.
        """
        repo = self._new_repo(self._owner(user), name, private, readme, fields)
        with self._data_lock:
            self.repos[str(user.id)].append(repo)
            self.collaborators[repo["id"]] = {str(other.id) for other in collaborators}
        return repo

    def add_repos(self, user: OAuthUser, count: int, prefix: str = "repo") -> None:
        """Add ``count`` public repositories named ``<prefix>-001`` and on."""
        for number in range(1, count + 1):
            self.add_repo(user, f"{prefix}-{number:03d}")

    def remove_repo(self, full_name: str) -> None:
        """Delete a repository (a user's or an organization's) by full name."""
        with self._data_lock:
            for listing in [*self.repos.values()] + [
                org["repos"] for org in self.orgs.values()
            ]:
                for repo in list(listing):
                    if repo["full_name"] == full_name:
                        listing.remove(repo)
                        self.readmes.pop(repo["id"], None)
                        return
        raise KeyError(full_name)

    def add_org(
        self, id: int, login: str, *, members: Iterable[OAuthUser] = ()
    ) -> dict[str, Any]:
        """Add an organization with ``members``; return its record."""
        org = {
            "id": id,
            "login": login,
            "members": {str(member.id) for member in members},
            "repos": [],
        }
        with self._data_lock:
            self.orgs[login.lower()] = org
        return org

    def add_org_repo(
        self,
        org: str,
        name: str,
        *,
        private: bool = False,
        readme: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a repository an organization owns; return it."""
        record = self.orgs[org.lower()]
        owner = {
            "login": record["login"],
            "id": record["id"],
            "node_id": f"O_{record['id']}",
            "html_url": f"https://github.com/{record['login']}",
            "type": "Organization",
            "site_admin": False,
        }
        repo = self._new_repo(owner, name, private, readme, fields)
        with self._data_lock:
            record["repos"].append(repo)
        return repo

    def _new_repo(
        self,
        owner: dict[str, Any],
        name: str,
        private: bool,
        readme: str | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        with self._data_lock:
            self._next_repo_id += 1
            repo_id = self._next_repo_id
        full_name = f"{owner['login']}/{name}"
        repo = {
            "id": repo_id,
            "node_id": f"R_{repo_id}",
            "name": name,
            "full_name": full_name,
            "private": private,
            "visibility": "private" if private else "public",
            "owner": owner,
            "html_url": f"https://github.com/{full_name}",
            "description": None,
            "fork": False,
            "url": f"{self.url}/repos/{full_name}",
            "language": None,
            "stargazers_count": 0,
            "watchers_count": 0,
            "forks_count": 0,
            "open_issues_count": 0,
            "archived": False,
            "disabled": False,
            "topics": [],
            "default_branch": "main",
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "pushed_at": "2025-01-01T00:00:00Z",
        }
        repo.update(fields)
        if readme is not None:
            with self._data_lock:
                self.readmes[repo_id] = readme
        return repo

    def issue_token(self, user: OAuthUser, scopes: Iterable[str] = ("repo",)) -> str:
        """Mint a token for ``user``, as a personal access token with ``scopes``."""
        client = OAuthClient("personal-access-tokens", "", [])
        record = self.oauth._new_access(client, user, list(scopes), None)
        return record.token

    # --- rate-limit switches ------------------------------------------------

    def exhaust_quota(self, user: OAuthUser, *, reset_in: int = 3600) -> None:
        """Spend the user's quota; it comes back ``reset_in`` seconds from now."""
        key = str(user.id)
        with self._data_lock:
            self._used[key] = self.rate_limit
            self._reset_at[key] = int(self.oauth.clock.now()) + reset_in

    def set_remaining(self, user: OAuthUser, remaining: int) -> None:
        """Leave ``remaining`` requests of the user's hour (from the next one)."""
        key = str(user.id)
        with self._data_lock:
            if self._reset_at.get(key, 0) <= int(self.oauth.clock.now()):
                self._reset_at[key] = int(self.oauth.clock.now()) + 3600
            self._used[key] = self.rate_limit - remaining

    def trip_secondary_limit(
        self, times: int = 1, *, retry_after: float | None = None, status: int = 403
    ) -> None:
        """Answer the next ``times`` API requests with the secondary limit."""
        with self._data_lock:
            self._secondary.extend([(status, retry_after)] * times)

    def disable_issues(self, repo: dict[str, Any]) -> None:
        """Turn the repository's issues off: creating one answers 410."""
        with self._data_lock:
            self.issues_disabled.add(repo["id"])

    def drop_after_create(self, times: int = 1) -> None:
        """Create the next ``times`` issues, then reset without answering."""
        with self._data_lock:
            self._drops_after_create += times

    # --- the API ------------------------------------------------------------

    def _authenticate(
        self, request: RecordedRequest
    ) -> tuple[OAuthUser | None, str | None, Reply | None]:
        """Return (user, token, refusal) for an API request."""
        # GitHub takes "token" (what allauth sends) as well as "Bearer".
        token = bearer_token(request, schemes=("bearer", "token"))
        if token is None:
            body = {
                "message": "Requires authentication",
                "documentation_url": f"{DOCS}/rest",
            }
            return None, None, self._limited(Reply.json(body, 401), None)
        user = self.oauth.user_for(token)
        if user is None:
            body = {"message": "Bad credentials", "documentation_url": f"{DOCS}/rest"}
            return None, None, self._limited(Reply.json(body, 401), None)
        return user, token, None

    def _limited(self, reply: Reply, user: OAuthUser | None) -> Reply:
        """Count the request against the hour's quota and add the headers."""
        key = str(user.id) if user else "anonymous"
        limit = self.rate_limit if user else UNAUTHENTICATED_RATE_LIMIT
        now = int(self.oauth.clock.now())
        with self._data_lock:
            if self._reset_at.get(key, 0) <= now:
                self._reset_at[key], self._used[key] = now + 3600, 0
            over = self._used[key] >= limit
            if not over:
                self._used[key] += 1
            used, reset = self._used[key], self._reset_at[key]
        secondary = None
        if user is not None and not over:
            with self._data_lock:
                secondary = self._secondary.pop(0) if self._secondary else None
        if secondary is not None:
            status, retry_after = secondary
            reply = Reply.json(
                {
                    "message": SECONDARY_LIMIT_MESSAGE,
                    "documentation_url": f"{RATE_LIMIT_DOC}"
                    "#about-secondary-rate-limits",
                },
                status,
            )
            if retry_after is not None:
                reply.headers.append(("retry-after", f"{retry_after:g}"))
        if over:
            reply = Reply.json(
                {
                    "message": "API rate limit exceeded for user ID "
                    f"{user.id if user else 'anonymous'}.",
                    "documentation_url": RATE_LIMIT_DOC,
                },
                403,
            )
        reply.headers += [
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(limit - used)),
            ("x-ratelimit-used", str(used)),
            ("x-ratelimit-reset", str(reset)),
            ("x-ratelimit-resource", "core"),
        ]
        return reply

    def _scoped(self, reply: Reply, user: OAuthUser, token: str) -> Reply:
        reply.headers.append(("X-OAuth-Scopes", ", ".join(self.oauth.scope_of(token))))
        return self._limited(reply, user)

    def _user(self, request: RecordedRequest) -> Reply:
        user, token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        with self._data_lock:
            public_repos = sum(not repo["private"] for repo in self.repos[str(user.id)])
            public_email = next(
                (
                    record["email"]
                    for record in self.emails[str(user.id)]
                    if record["visibility"] == "public"
                ),
                None,
            )
        body = {
            **self._owner(user),
            "name": user.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": public_email,
            "bio": None,
            "public_repos": public_repos,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
        }
        return self._scoped(Reply.json(body), user, token)

    def _emails(self, request: RecordedRequest) -> Reply:
        user, token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        if not {"user", "user:email"} & set(self.oauth.scope_of(token)):
            # "OAuth app tokens ... need the user:email scope"; without it
            # the endpoint answers 404 (allauth handles that case).
            body = {"message": "Not Found", "documentation_url": f"{DOCS}/rest"}
            return self._scoped(Reply.json(body, 404), user, token)
        with self._data_lock:
            records = [dict(record) for record in self.emails[str(user.id)]]
        return self._scoped(Reply.json(records), user, token)

    def _repos(self, request: RecordedRequest) -> Reply:
        user, token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        affiliation = (request.arg("affiliation") or ",".join(AFFILIATIONS)).split(",")
        visibility = request.arg("visibility") or "all"
        if not set(affiliation) <= set(AFFILIATIONS):
            return self._scoped(_invalid("affiliation"), user, token)
        if visibility not in ("all", "public", "private"):
            return self._scoped(_invalid("visibility"), user, token)
        with_private = "repo" in self.oauth.scope_of(token)
        me = str(user.id)
        with self._data_lock:
            candidates = []
            if "owner" in affiliation:
                candidates += self.repos[me]
            if "collaborator" in affiliation:
                candidates += [
                    repo
                    for repos in self.repos.values()
                    for repo in repos
                    if me in self.collaborators.get(repo["id"], ())
                ]
            if "organization_member" in affiliation:
                candidates += [
                    repo
                    for org in self.orgs.values()
                    if me in org["members"]
                    for repo in org["repos"]
                ]
            items = sorted(
                (
                    repo
                    for repo in {repo["id"]: repo for repo in candidates}.values()
                    if (with_private or not repo["private"])
                    and visibility in ("all", repo["visibility"])
                ),
                # The docs: sort defaults to full_name.
                key=lambda repo: repo["full_name"].lower(),
            )
        body, links = self._page(request, items)
        reply = Reply.json(body, headers={"Link": links} if links else None)
        return self._scoped(reply, user, token)

    def _org_repos(self, request: RecordedRequest) -> Reply:
        user, token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        kind = request.arg("type") or "all"
        if kind not in ORG_TYPES:
            return self._scoped(_invalid("type"), user, token)
        with self._data_lock:
            org = self.orgs.get(unquote(request.match.group("org")).lower())
            if org is None:
                return self._scoped(_not_found(), user, token)
            member = str(user.id) in org["members"]
            may_see_private = member and "repo" in self.oauth.scope_of(token)
            items = [
                repo
                for repo in org["repos"]
                if (may_see_private or not repo["private"])
                and _org_type_matches(kind, repo, member)
            ]
        # "List organization repositories" sorts by created by default.
        items.sort(key=lambda repo: (repo["created_at"], repo["id"]))
        body, links = self._page(request, items)
        reply = Reply.json(body, headers={"Link": links} if links else None)
        return self._scoped(reply, user, token)

    def _readme(self, request: RecordedRequest) -> Reply:
        user, token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        owner = unquote(request.match.group("owner"))
        name = unquote(request.match.group("repo"))
        with self._data_lock:
            repo = self._visible_repo(f"{owner}/{name}", user, token)
            text = self.readmes.get(repo["id"]) if repo else None
        if repo is None or text is None:
            return self._scoped(_not_found(), user, token)
        content = text.encode("utf-8")
        accept = (request.header("Accept") or "").lower()
        if any(media in accept for media in RAW_MEDIA_TYPES):
            reply = Reply(
                200,
                content,
                content_type="application/vnd.github.raw; charset=utf-8",
            )
            return self._scoped(reply, user, token)
        return self._scoped(Reply.json(self._content_file(repo, content)), user, token)

    def _create_issue(self, request: RecordedRequest) -> Reply:
        user, token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        with self._data_lock:
            repo = self._repo_of(request, user, token)
        if repo is None:
            return self._scoped(_not_found(), user, token)
        if repo["id"] in self.issues_disabled:
            body = {
                "message": "Issues are disabled for this repo",
                "documentation_url": f"{DOCS}/rest/issues/issues#create-an-issue",
                "status": "410",
            }
            return self._scoped(Reply.json(body, 410), user, token)
        try:
            fields = request.json()
        except ValueError:
            fields = None
        problem = _issue_problem(fields)
        if problem is not None:
            return self._scoped(problem, user, token)

        reply = self._scoped(Reply(201), user, token)
        if reply.status != 201:
            return reply  # a rate limit: GitHub did nothing
        issue = self._new_issue(request, repo, user, fields)
        with self._data_lock:
            drop = self._drops_after_create > 0
            self._drops_after_create -= int(drop)
        if drop:
            return Reset(None)
        answer = Reply.json(issue, 201, {"Location": issue["url"]})
        answer.headers += [h for h in reply.headers if h[0].lower() != "content-type"]
        return answer

    def _new_issue(
        self,
        request: RecordedRequest,
        repo: dict[str, Any],
        user: OAuthUser,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        api_root = request.path.rsplit("/repos/", 1)[0]
        now = self.oauth.clock.now()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        with self._data_lock:
            issues = self.issues.setdefault(repo["id"], [])
            number = len(issues) + 1
            repository_url = f"{self.url}{api_root}/repos/{repo['full_name']}"
            issue = {
                "id": repo["id"] * 1000 + number,
                "node_id": f"I_{repo['id']}_{number}",
                "url": f"{repository_url}/issues/{number}",
                "repository_url": repository_url,
                "html_url": f"https://github.com/{repo['full_name']}/issues/{number}",
                "number": number,
                "state": "open",
                "title": fields["title"],
                "body": fields.get("body"),
                "user": {"login": user.login, "id": user.id, "type": "User"},
                "labels": [
                    {"id": index + 1, "name": name, "color": "ededed"}
                    for index, name in enumerate(fields.get("labels") or [])
                ],
                "assignee": None,
                "assignees": [],
                "milestone": None,
                "locked": False,
                "comments": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "closed_at": None,
                "author_association": "OWNER",
            }
            issues.append(issue)
        return dict(issue)

    def _list_issues(self, request: RecordedRequest) -> Reply:
        user, token, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        with self._data_lock:
            repo = self._repo_of(request, user, token)
            issues = list(self.issues.get(repo["id"], [])) if repo else []
        if repo is None:
            return self._scoped(_not_found(), user, token)

        state = request.arg("state", "open")
        if state != "all":
            issues = [issue for issue in issues if issue["state"] == state]
        since = request.arg("since")
        if since:
            issues = [issue for issue in issues if issue["updated_at"] >= since]
        creator = request.arg("creator")
        if creator:
            issues = [
                i for i in issues if i["user"]["login"].lower() == creator.lower()
            ]
        if request.arg("direction", "desc") == "desc":
            issues.reverse()
        body, links = self._page(request, issues)
        reply = Reply.json(body, headers={"Link": links} if links else None)
        return self._scoped(reply, user, token)

    def _repo_of(
        self, request: RecordedRequest, user: OAuthUser, token: str
    ) -> dict[str, Any] | None:
        owner = unquote(request.match.group("owner"))
        name = unquote(request.match.group("repo"))
        return self._visible_repo(f"{owner}/{name}", user, token)

    def _visible_repo(
        self, full_name: str, user: OAuthUser, token: str
    ) -> dict[str, Any] | None:
        """Return the repository if the token's user may read it (call locked)."""
        wanted = full_name.lower()
        me = str(user.id)
        for owner_id, repos in self.repos.items():
            for repo in repos:
                if repo["full_name"].lower() != wanted:
                    continue
                allowed = owner_id == me or me in self.collaborators.get(repo["id"], ())
                if not repo["private"]:
                    return repo
                return (
                    repo if allowed and "repo" in self.oauth.scope_of(token) else None
                )
        for org in self.orgs.values():
            for repo in org["repos"]:
                if repo["full_name"].lower() != wanted:
                    continue
                if not repo["private"]:
                    return repo
                allowed = me in org["members"] and "repo" in self.oauth.scope_of(token)
                return repo if allowed else None
        return None

    def _content_file(self, repo: dict[str, Any], content: bytes) -> dict[str, Any]:
        """Return the content-file JSON of a README (base64 in 60-character lines)."""
        encoded = base64.b64encode(content).decode("ascii")
        lines = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
        # Git's blob id: SHA-1 over a header and the bytes.
        blob = b"blob %d\0" % len(content) + content
        sha = hashlib.sha1(blob).hexdigest()  # noqa: S324
        full_name, branch = repo["full_name"], repo["default_branch"]
        api = f"{self.url}/repos/{full_name}"
        html = f"https://github.com/{full_name}/blob/{branch}/README.md"
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(content),
            "name": "README.md",
            "path": "README.md",
            "content": "\n".join(lines) + "\n",
            "sha": sha,
            "url": f"{api}/contents/README.md?ref={branch}",
            "git_url": f"{api}/git/blobs/{sha}",
            "html_url": html,
            "download_url": (
                f"https://raw.githubusercontent.com/{full_name}/{branch}/README.md"
            ),
            "_links": {
                "self": f"{api}/contents/README.md?ref={branch}",
                "git": f"{api}/git/blobs/{sha}",
                "html": html,
            },
        }

    def _page(
        self, request: RecordedRequest, items: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Return one page and its ``Link`` header (None when one page holds all)."""
        size = max(
            1, min(_number(request.arg("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE)
        )
        page = max(1, _number(request.arg("page"), 1))
        last = max(1, -(-len(items) // size))
        query = [
            (name, value)
            for name, values in request.query.items()
            if name not in ("page", "per_page")
            for value in values
        ]

        def link(number: int) -> str:
            pairs = [*query, ("per_page", str(size)), ("page", str(number))]
            return f"{self.url}{request.path}?{urlencode(pairs)}"

        # "Using pagination in the REST API": rels only where they apply;
        # no header at all when everything fits on one page.
        links = []
        if page > 1:
            links += [(link(page - 1), "prev"), (link(1), "first")]
        if page < last:
            links += [(link(page + 1), "next"), (link(last), "last")]
        window = items[(page - 1) * size : page * size]
        return [dict(item) for item in window], links_header(links) if links else None

    def _delete_authorization(self, request: RecordedRequest) -> Reply:
        """Revoke a token or a whole grant for the app (204)."""
        client_id = request.match.group("client_id")
        client = self.oauth.clients.get(client_id)
        basic_id, basic_secret = basic_credentials(request)
        not_found = Reply.json(
            {"message": "Not Found", "documentation_url": f"{DOCS}/rest"}, 404
        )
        if client is None or (basic_id, basic_secret) != (
            client.client_id,
            client.client_secret,
        ):
            return not_found
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict) or not data.get("access_token"):
            return Reply.json(
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "Authorization",
                            "code": "missing_field",
                            "field": "access_token",
                        }
                    ],
                    "documentation_url": f"{DOCS}/rest/apps/oauth-applications",
                },
                422,
            )
        record = self.oauth.access_token(data["access_token"])
        if record is None or record.revoked or record.client_id != client_id:
            return not_found
        if request.match.group("what") == "grant":
            # "Deleting an application's grant will also delete all OAuth
            # tokens associated with the application for the user."
            self.oauth.revoke_grant(client_id, record.user)
        else:
            self.oauth.revoke(record.token)
        return Reply(204)

    def _owner(self, user: OAuthUser) -> dict[str, Any]:
        return {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            "html_url": f"https://github.com/{user.login}",
            "type": "User",
            "site_admin": False,
        }


def _not_found() -> Reply:
    return Reply.json(
        {"message": "Not Found", "documentation_url": f"{DOCS}/rest"}, 404
    )


def _invalid(field: str) -> Reply:
    """Return GitHub's 422 for a query parameter with a value it does not know."""
    return Reply.json(
        {
            "message": "Validation Failed",
            "errors": [{"resource": "Search", "field": field, "code": "invalid"}],
            "documentation_url": f"{DOCS}/rest",
        },
        422,
    )


def _issue_problem(fields: Any) -> Reply | None:
    """Return GitHub's 422 for an issue body it would refuse, else None."""
    error = None
    if (
        not isinstance(fields, dict)
        or not isinstance(fields.get("title"), str)
        or (not fields["title"].strip())
    ):
        error = {"resource": "Issue", "code": "missing_field", "field": "title"}
    elif "labels" in fields and not (
        isinstance(fields["labels"], list)
        and all(isinstance(label, str) for label in fields["labels"])
    ):
        error = {"resource": "Issue", "code": "invalid", "field": "labels"}
    if error is None:
        return None
    return Reply.json(
        {
            "message": "Validation Failed",
            "errors": [error],
            "documentation_url": f"{DOCS}/rest/issues/issues#create-an-issue",
            "status": "422",
        },
        422,
    )


def _org_type_matches(kind: str, repo: dict[str, Any], member: bool) -> bool:
    """Tell whether an organization's repository is of ``type`` ``kind``."""
    if kind == "public":
        return not repo["private"]
    if kind == "private":
        return repo["private"]
    if kind == "forks":
        return repo["fork"]
    if kind == "sources":
        return not repo["fork"]
    if kind == "member":
        return member
    return True


def _number(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default
