"""An OAuth 2 authorization server to install on any fake service.

:class:`AuthorizationServer` serves the authorization code grant of RFC 6749
on a :class:`~tests.fakes.server.FakeServer`, with PKCE (RFC 7636), refresh
tokens and revocation. It knows registered clients and users, shows a small
consent page with an Approve and a Deny form, and keeps a controllable
:class:`Clock`, so a test makes a token expire without sleeping::

    oauth = AuthorizationServer(server)
    client = oauth.add_client(["http://127.0.0.1:8000/callback"])
    learner = oauth.add_user(42, "ada", email="ada@example.edu")
    callback = oauth.approve(authorize_url)   # the POST the Approve form makes
    ...
    oauth.clock.advance(3600)                 # every 1-hour token has expired
    assert oauth.user_for(access_token) is None

Subclasses model one service (tests/fakes/canvas.py, github.py, google.py):
class attributes carry its paths, lifetimes and rules; the hook methods
(``token_response``, ``error_reply``, the ``*_page`` methods) build the
replies that differ between services. Every code, token and client secret
the server mints is registered with tests/leakcheck.py, so a leak of one
fails the test that leaked it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from tests import leakcheck
from tests.fakes.faulty import Reset
from tests.fakes.server import FakeServer, RecordedRequest, Reply

#: RFC 6749 4.1.2 recommends codes live at most 10 minutes; Canvas and
#: GitHub document exactly that.
CODE_LIFETIME = 600

# RFC 7636 4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-._~".
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)">')

#: The fake's name for each refusal -> (status, error, error_description),
#: as RFC 6749 5.2 words them. Services override it (``errors``).
RFC6749_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_client": (401, "invalid_client", "Client authentication failed."),
    "invalid_request": (400, "invalid_request", "A required parameter is missing."),
    "bad_code": (
        400,
        "invalid_grant",
        "The authorization code is invalid, expired or already used.",
    ),
    "redirect_mismatch": (
        400,
        "invalid_grant",
        "redirect_uri does not match the one of the authorization request.",
    ),
    "pkce_failed": (
        400,
        "invalid_grant",
        "The code_verifier does not match the code_challenge.",
    ),
    "bad_refresh": (
        400,
        "invalid_grant",
        "The refresh token is invalid, expired or revoked.",
    ),
    "unsupported_grant_type": (
        400,
        "unsupported_grant_type",
        "The grant_type is not supported.",
    ),
    "unverified_email": (400, "access_denied", "The user's email is not verified."),
}


class Clock:
    """Tell the fake's time: the real clock plus an offset a test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Return the fake's current time in epoch seconds."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the fake's time forward by ``seconds`` (codes and tokens age)."""
        self.offset += seconds


@dataclass
class OAuthClient:
    """A registered application: its id, secret and allowed redirect URIs."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]


@dataclass
class OAuthUser:
    """A person who can sign in to the fake service and approve a client."""

    id: int | str
    login: str
    name: str
    email: str | None = None
    email_verified: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuthorizationRequest:
    """One visit to the authorize endpoint that passed its checks."""

    request_id: str
    client_id: str
    #: Where the answer goes: the URI sent, or the registered default.
    redirect_uri: str
    #: The redirect_uri parameter as sent (None when it was left out).
    redirect_uri_sent: str | None
    scope: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    #: Every query parameter, for a service's own (access_type, prompt, ...).
    params: dict[str, str]


@dataclass
class AuthorizationCode:
    """A code handed out on approval; single use, expiring."""

    code: str
    request: AuthorizationRequest
    user: OAuthUser
    expires_at: float
    used: bool = False
    #: Access tokens issued for it, revoked if the code is presented again.
    issued: list[str] = field(default_factory=list)


@dataclass
class AccessToken:
    """An access token the fake issued."""

    token: str
    client_id: str
    user: OAuthUser
    scope: list[str]
    expires_at: float | None
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    """A refresh token the fake issued."""

    token: str
    client_id: str
    user: OAuthUser
    scope: list[str]
    revoked: bool = False


@dataclass
class TokenIssue:
    """What one successful token request produced (for ``token_response``)."""

    access: AccessToken
    #: A refresh token issued by this request (None if none was).
    refresh: RefreshToken | None
    #: The code exchanged; None for a refresh.
    code: AuthorizationCode | None = None


@dataclass
class Counters:
    """What the token and revocation endpoints did, for tests to assert."""

    #: Every request to the token endpoint, faults included.
    token_requests: int = 0
    exchanges: int = 0
    failed_exchanges: int = 0
    refreshes: int = 0
    failed_refreshes: int = 0
    revocations: int = 0
    #: Refresh requests (successful or not) per refresh token presented.
    refreshes_by_token: Counter[str] = field(default_factory=Counter)


class OAuthRefusal(Exception):
    """A refusal of the token endpoint; ``kind`` is a key of ``errors``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class ConsentPageError(AssertionError):
    """The authorize endpoint answered with an error page, not a consent page."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"authorize endpoint answered {status}: {body[:200]}")
        self.status = status
        self.body = body


class AuthorizationServer:
    """Serve OAuth 2's authorization code grant on a FakeServer (RFC 6749, 7636).

    Installing it registers ``GET`` and ``POST`` on ``authorize_path`` (the
    consent page and its forms) and ``POST`` on ``token_path``. A subclass
    sets the class attributes and overrides the hooks to model a service.
    """

    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"
    #: Seconds an access token lives; None: it never expires.
    access_token_lifetime: int | None = 3600
    code_lifetime = CODE_LIFETIME
    pkce_methods: tuple[str, ...] = ("S256", "plain")
    #: Whether the authorize request must name a redirect_uri.
    redirect_uri_required = True
    #: Whether a redirect_uri sent to authorize must be sent again to the
    #: token endpoint (RFC 6749 4.1.3); when False it is checked if sent.
    token_redirect_uri_required = True
    issues_refresh_tokens = True
    #: A refresh hands out a new refresh token and retires the old one.
    rotates_refresh_tokens = False
    #: A refresh retires the access token issued before it.
    refresh_replaces_access_token = False
    errors = RFC6749_ERRORS
    #: WWW-Authenticate sent with a 401 of the token endpoint (RFC 6749 5.2).
    www_authenticate: str | None = 'Basic realm="oauth"'
    #: Prefixes of minted values by kind (code, access, refresh, secret).
    prefixes: dict[str, str] = {}
    service_name = "Fake service"

    def __init__(self, server: FakeServer, *, clock: Clock | None = None) -> None:
        self.server = server
        self.clock = clock or Clock()
        self.clients: dict[str, OAuthClient] = {}
        self.users: dict[str, OAuthUser] = {}
        #: The user signed in to the service's web pages, who approves.
        self.signed_in: OAuthUser | None = None
        #: Every authorize request that reached the consent page, in order.
        self.authorizations: list[AuthorizationRequest] = []
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.counters = Counters()
        self._pending: dict[str, AuthorizationRequest] = {}
        self._token_faults: list[Reply] = []
        self._refresh_refusals = 0
        self._lock = threading.RLock()
        self.install()

    def install(self) -> None:
        """Register the authorize and token endpoints on the server."""
        self.server.route("GET", self.authorize_path, self._authorize)
        self.server.route("POST", self.authorize_path, self._decide)
        self.server.route("POST", self.token_path, self._token)

    @property
    def authorize_url(self) -> str:
        """Return the absolute URL of the authorize endpoint."""
        return self.server.url_for(self.authorize_path)

    @property
    def token_url(self) -> str:
        """Return the absolute URL of the token endpoint."""
        return self.server.url_for(self.token_path)

    # --- clients and users ------------------------------------------------

    def add_client(
        self,
        redirect_uris: list[str] | tuple[str, ...],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> OAuthClient:
        """Register a client allowed to use ``redirect_uris``; return it."""
        client = OAuthClient(
            client_id=client_id or f"client-{secrets.token_hex(8)}",
            client_secret=leakcheck.secret(client_secret or self.mint("secret")),
            redirect_uris=list(redirect_uris),
        )
        with self._lock:
            self.clients[client.client_id] = client
        return client

    def add_user(
        self,
        id: int | str,
        login: str,
        *,
        name: str | None = None,
        email: str | None = None,
        email_verified: bool = True,
        **extra: Any,
    ) -> OAuthUser:
        """Add a user; the first one added is the one signed in."""
        user = OAuthUser(id, login, name or login, email, email_verified, extra)
        with self._lock:
            self.users[str(id)] = user
            if self.signed_in is None:
                self.signed_in = user
        return user

    def mint(self, kind: str) -> str:
        """Return a new random value of ``kind``, registered as a test secret."""
        return leakcheck.secret(self.prefixes.get(kind, "") + secrets.token_urlsafe(32))

    # --- driving the consent page without a browser -------------------------

    def approve(self, authorize_url: str, user: OAuthUser | None = None) -> str:
        """Open ``authorize_url`` and press Approve; return the callback URL.

        The consent page is fetched and its Approve form posted, as a browser
        would (``user`` defaults to :attr:`signed_in`). If the authorize
        endpoint redirects at once (an error such as
        ``unsupported_response_type``), that redirect is returned; an error
        page raises :class:`ConsentPageError`.
        """
        return self._press(authorize_url, "approve", user)

    def deny(self, authorize_url: str, user: OAuthUser | None = None) -> str:
        """Open ``authorize_url`` and press Deny; return the callback URL."""
        return self._press(authorize_url, "deny", user)

    def _press(self, authorize_url: str, decision: str, user: OAuthUser | None) -> str:
        page = requests.get(authorize_url, allow_redirects=False, timeout=5)
        if page.is_redirect:
            return page.headers["Location"]
        if page.status_code != 200:
            raise ConsentPageError(page.status_code, page.text)

        action = html.unescape(_FORM_ACTION.search(page.text).group(1))
        fields = {
            name: html.unescape(value)
            for name, value in _HIDDEN_INPUT.findall(page.text)
        }
        fields["decision"] = decision
        if user is not None:
            fields["user_id"] = str(user.id)
        answer = requests.post(action, data=fields, allow_redirects=False, timeout=5)
        if not answer.is_redirect:
            raise ConsentPageError(answer.status_code, answer.text)
        return answer.headers["Location"]

    # --- tokens, as resource endpoints and tests see them ----------------------

    def access_token(self, token: str) -> AccessToken | None:
        """Return the record of an issued access token (any state), or None."""
        with self._lock:
            return self.access_tokens.get(token)

    def user_for(self, token: str | None) -> OAuthUser | None:
        """Return the user of an active access token; None if unknown, expired
        or revoked (resource endpoints answer 401 then)."""
        if not token:
            return None
        with self._lock:
            record = self.access_tokens.get(token)
            if record is None or record.revoked or self._expired(record):
                return None
            return record.user

    def scope_of(self, token: str) -> list[str]:
        """Return the scope granted to an access token ([] if unknown)."""
        record = self.access_token(token)
        return list(record.scope) if record else []

    def expire_tokens(self, user: OAuthUser | None = None) -> int:
        """Make every access token (of ``user``) expire now; return how many.

        Also tokens of services whose tokens never expire, to play a token
        that went bad some other way.
        """
        with self._lock:
            records = [
                record
                for record in self.access_tokens.values()
                if user is None or record.user is user
            ]
            for record in records:
                record.expires_at = self.clock.now() - 1
        return len(records)

    def revoke(self, token: str) -> bool:
        """Revoke an access or refresh token and what hangs on it.

        An access token takes its refresh token with it and a refresh token
        the access tokens issued from it (RFC 7009 2.1 allows both; Canvas
        and Google do both). Return False if it was unknown or already
        revoked.
        """
        with self._lock:
            revoked = self._revoke(token)
            if revoked:
                self.counters.revocations += 1
        return revoked

    def revoke_grant(self, client_id: str, user: OAuthUser) -> int:
        """Revoke every token ``client_id`` holds for ``user``; return how many."""
        with self._lock:
            tokens = [
                record
                for record in [
                    *self.access_tokens.values(),
                    *self.refresh_tokens.values(),
                ]
                if record.client_id == client_id
                and record.user is user
                and not record.revoked
            ]
            for record in tokens:
                record.revoked = True
            if tokens:
                self.counters.revocations += 1
        return len(tokens)

    # --- failure switches --------------------------------------------------

    def fail_token_endpoint(
        self, times: int = 1, status: int = 500, reply: Reply | None = None
    ) -> None:
        """Answer the next ``times`` token requests with a server error."""
        failure = reply or Reply.text("Internal Server Error", status)
        with self._lock:
            self._token_faults.extend([failure] * times)

    def drop_token_requests(self, times: int = 1) -> None:
        """Reset the connection of the next ``times`` token requests, no reply
        at all: what a client sees of an unreachable service."""
        with self._lock:
            self._token_faults.extend([Reset(partial=None)] * times)

    def refuse_refresh(self, times: int = 1) -> None:
        """Refuse the next ``times`` refreshes as if the refresh token were
        invalid (``invalid_grant`` by RFC 6749; each service's own error)."""
        with self._lock:
            self._refresh_refusals += times

    # --- hooks a service overrides ------------------------------------------

    def parse_scope(self, raw: str | None) -> list[str]:
        """Return the scopes of an authorize request's ``scope`` parameter."""
        return (raw or "").split()

    def format_scope(self, scope: list[str]) -> str:
        """Return ``scope`` as the token response writes it."""
        return " ".join(scope)

    def wants_refresh_token(self, code: AuthorizationCode) -> bool:
        """Tell whether exchanging ``code`` also issues a refresh token."""
        return self.issues_refresh_tokens

    def check_user(self, user: OAuthUser) -> None:
        """Raise OAuthRefusal if ``user`` may not get a token."""

    def token_response(self, issue: TokenIssue) -> dict[str, Any]:
        """Return the body of a successful token response (RFC 6749 5.1)."""
        body: dict[str, Any] = {
            "access_token": issue.access.token,
            "token_type": "Bearer",
        }
        if issue.access.expires_at is not None:
            body["expires_in"] = self.access_token_lifetime
        if issue.refresh is not None:
            body["refresh_token"] = issue.refresh.token
        body["scope"] = self.format_scope(issue.access.scope)
        return body

    def token_reply(self, request: RecordedRequest, body: dict[str, Any]) -> Reply:
        """Return the reply carrying a token response."""
        # RFC 6749 5.1: token responses must not be cached.
        return Reply.json(
            body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
        )

    def error_reply(self, request: RecordedRequest, kind: str) -> Reply:
        """Return the token endpoint's reply to refusal ``kind``."""
        status, error, description = self.errors[kind]
        headers = {"Cache-Control": "no-store"}
        if status == 401 and self.www_authenticate:
            headers["WWW-Authenticate"] = self.www_authenticate
        return Reply.json(
            {"error": error, "error_description": description}, status, headers
        )

    def unknown_client_page(self, params: dict[str, str]) -> Reply:
        """Return the authorize endpoint's answer to an unknown client_id.

        RFC 6749 4.1.2.1: never redirect, since the redirect URI cannot be
        trusted.
        """
        return self.error_page(400, "invalid_client", "The client_id is not known.")

    def redirect_mismatch_page(
        self, client: OAuthClient, params: dict[str, str]
    ) -> Reply:
        """Return the answer to a redirect_uri that is not registered.

        RFC 6749 4.1.2.1: an error page, and no redirect to that URI.
        """
        return self.error_page(
            400,
            "redirect_uri_mismatch",
            "The redirect_uri is not registered for this client.",
        )

    def denied_params(self) -> dict[str, str]:
        """Return the parameters of the redirect after Deny (RFC 6749 4.1.2.1)."""
        return {"error": "access_denied"}

    def callback_params(self, code: AuthorizationCode) -> dict[str, str]:
        """Return what the redirect after Approve adds besides code and state."""
        return {}

    # --- pages -------------------------------------------------------------

    def error_page(self, status: int, error: str, description: str) -> Reply:
        """Return a small HTML error page (no redirect)."""
        body = (
            f"<!doctype html><title>Error {status}: {html.escape(error)}</title>"
            f"<h1>Error {status}: {html.escape(error)}</h1>"
            f"<p>{html.escape(description)}</p>"
        )
        return Reply(status, body, content_type="text/html; charset=utf-8")

    def consent_page(self, pending: AuthorizationRequest, client: OAuthClient) -> Reply:
        """Return the consent page: who asks for what, Approve and Deny forms."""
        user = self.signed_in
        hidden = (
            f'<input type="hidden" name="request_id" value="{pending.request_id}">'
            f'<input type="hidden" name="user_id" '
            f'value="{html.escape(str(user.id)) if user else ""}">'
        )
        action = html.escape(self.authorize_url)
        scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in pending.scope)
        body = (
            f"<!doctype html><title>Authorize {html.escape(client.client_id)}</title>"
            f"<h1>{html.escape(client.client_id)} wants to use your "
            f"{html.escape(self.service_name)} account</h1>"
            f"<p>Signed in as {html.escape(user.login) if user else 'nobody'}</p>"
            f"<ul>{scopes}</ul>"
            f'<form method="post" action="{action}">{hidden}'
            '<button name="decision" value="approve">Approve</button></form>'
            f'<form method="post" action="{action}">{hidden}'
            '<button name="decision" value="deny">Deny</button></form>'
        )
        return Reply(200, body, content_type="text/html; charset=utf-8")

    # --- the endpoints -----------------------------------------------------

    def _authorize(self, request: RecordedRequest) -> Reply:
        params = {name: values[0] for name, values in request.query.items()}
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return self.unknown_client_page(params)
        sent = params.get("redirect_uri")
        if sent is None and not self.redirect_uri_required:
            redirect_uri = client.redirect_uris[0]
        elif sent in client.redirect_uris:
            redirect_uri = sent
        else:
            return self.redirect_mismatch_page(client, params)

        state = params.get("state")
        if params.get("response_type") != "code":
            return redirect_with(
                redirect_uri,
                error="unsupported_response_type",
                error_description="Only response_type=code is supported.",
                state=state,
            )
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is not None:
            method = method or "plain"  # RFC 7636 4.3: the default
        if method is not None and (
            challenge is None or method not in self.pkce_methods
        ):
            # RFC 7636 4.4.1: an unsupported transformation is invalid_request.
            return redirect_with(
                redirect_uri,
                error="invalid_request",
                error_description="code_challenge_method is not supported.",
                state=state,
            )

        pending = AuthorizationRequest(
            request_id=secrets.token_urlsafe(16),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_sent=sent,
            scope=self.parse_scope(params.get("scope")),
            state=state,
            code_challenge=challenge,
            code_challenge_method=method,
            params=params,
        )
        with self._lock:
            self._pending[pending.request_id] = pending
            self.authorizations.append(pending)
        return self.consent_page(pending, client)

    def _decide(self, request: RecordedRequest) -> Reply:
        fields = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        with self._lock:
            pending = self._pending.pop(fields.get("request_id", ""), None)
            user = self.users.get(fields.get("user_id", ""))
        if pending is None:
            return self.error_page(400, "invalid_request", "No such authorization.")
        if fields.get("decision") != "approve":
            return redirect_with(
                pending.redirect_uri, **self.denied_params(), state=pending.state
            )
        if user is None:
            return self.error_page(400, "login_required", "Nobody is signed in.")

        code = AuthorizationCode(
            code=self.mint("code"),
            request=pending,
            user=user,
            expires_at=self.clock.now() + self.code_lifetime,
        )
        with self._lock:
            self.codes[code.code] = code
        return redirect_with(
            pending.redirect_uri,
            code=code.code,
            state=pending.state,
            **self.callback_params(code),
        )

    def _token(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.counters.token_requests += 1
            if self._token_faults:
                return self._token_faults.pop(0)
        params = request_parameters(request)
        grant_type = params.get("grant_type") or (
            # GitHub and Canvas take a request with a code but no grant_type
            # as the authorization_code grant.
            "authorization_code" if "code" in params else ""
        )
        try:
            with self._lock:
                client = self._authenticate(request, params)
                if grant_type == "authorization_code":
                    body = self._exchange(client, params)
                elif grant_type == "refresh_token":
                    body = self._refresh(client, params)
                else:
                    raise OAuthRefusal("unsupported_grant_type")
        except OAuthRefusal as refusal:
            with self._lock:
                if grant_type == "authorization_code":
                    self.counters.failed_exchanges += 1
                elif grant_type == "refresh_token":
                    self.counters.failed_refreshes += 1
            return self.error_reply(request, refusal.kind)
        return self.token_reply(request, body)

    def _authenticate(
        self, request: RecordedRequest, params: dict[str, str]
    ) -> OAuthClient:
        # RFC 6749 2.3.1: client_id and client_secret in the body, or HTTP
        # Basic; Canvas's token action reads the body first, then Basic.
        client_id, secret = params.get("client_id"), params.get("client_secret")
        if not client_id:
            client_id, secret = basic_credentials(request)
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(
            (secret or "").encode(), client.client_secret.encode()
        ):
            raise OAuthRefusal("invalid_client")
        return client

    def _exchange(self, client: OAuthClient, params: dict[str, str]) -> dict[str, Any]:
        code = self.codes.get(params.get("code") or "")
        if code is None or code.request.client_id != client.client_id:
            raise OAuthRefusal("bad_code")
        if code.used:
            # RFC 6749 4.1.2: a code used twice revokes what it gave.
            for token in code.issued:
                self._revoke(token)
            raise OAuthRefusal("bad_code")
        code.used = True
        if self.clock.now() >= code.expires_at:
            raise OAuthRefusal("bad_code")
        sent = params.get("redirect_uri")
        expected = code.request.redirect_uri_sent
        if sent is None:
            if expected is not None and self.token_redirect_uri_required:
                raise OAuthRefusal("redirect_mismatch")
        elif sent != (expected or code.request.redirect_uri):
            raise OAuthRefusal("redirect_mismatch")
        _check_verifier(code.request, params.get("code_verifier"))
        self.check_user(code.user)

        refresh = None
        if self.wants_refresh_token(code):
            refresh = self._new_refresh(client, code.user, code.request.scope)
        access = self._new_access(client, code.user, code.request.scope, refresh)
        code.issued.append(access.token)
        self.counters.exchanges += 1
        return self.token_response(TokenIssue(access, refresh, code))

    def _refresh(self, client: OAuthClient, params: dict[str, str]) -> dict[str, Any]:
        token = params.get("refresh_token") or ""
        self.counters.refreshes_by_token[token] += 1
        refresh = self.refresh_tokens.get(token)
        if self._refresh_refusals:
            self._refresh_refusals -= 1
            raise OAuthRefusal("bad_refresh")
        if refresh is None or refresh.revoked or refresh.client_id != client.client_id:
            raise OAuthRefusal("bad_refresh")

        if self.refresh_replaces_access_token:
            for record in self.access_tokens.values():
                if record.refresh_token == token:
                    record.revoked = True
        issued = None
        if self.rotates_refresh_tokens:
            refresh.revoked = True
            issued = refresh = self._new_refresh(client, refresh.user, refresh.scope)
        access = self._new_access(client, refresh.user, refresh.scope, refresh)
        self.counters.refreshes += 1
        return self.token_response(TokenIssue(access, issued))

    # --- internals ----------------------------------------------------------

    def _new_access(
        self,
        client: OAuthClient,
        user: OAuthUser,
        scope: list[str],
        refresh: RefreshToken | None,
    ) -> AccessToken:
        lifetime = self.access_token_lifetime
        record = AccessToken(
            token=self.mint("access"),
            client_id=client.client_id,
            user=user,
            scope=list(scope),
            expires_at=None if lifetime is None else self.clock.now() + lifetime,
            refresh_token=refresh.token if refresh else None,
        )
        self.access_tokens[record.token] = record
        return record

    def _new_refresh(
        self, client: OAuthClient, user: OAuthUser, scope: list[str]
    ) -> RefreshToken:
        record = RefreshToken(self.mint("refresh"), client.client_id, user, list(scope))
        self.refresh_tokens[record.token] = record
        return record

    def _revoke(self, token: str) -> bool:
        access = self.access_tokens.get(token)
        refresh = self.refresh_tokens.get(token)
        if access is not None and not access.revoked:
            access.revoked = True
            if access.refresh_token:
                self._revoke_refresh(access.refresh_token)
            return True
        if refresh is not None and not refresh.revoked:
            self._revoke_refresh(token)
            return True
        return False

    def _revoke_refresh(self, token: str) -> None:
        self.refresh_tokens[token].revoked = True
        for record in self.access_tokens.values():
            if record.refresh_token == token:
                record.revoked = True

    def _expired(self, record: AccessToken) -> bool:
        return record.expires_at is not None and self.clock.now() >= record.expires_at


def bearer_token(
    request: RecordedRequest,
    schemes: tuple[str, ...] = ("bearer",),
    query_param: str | None = None,
) -> str | None:
    """Return the token of the request's Authorization header (or query)."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() in schemes and token.strip():
        return token.strip()
    return request.arg(query_param) if query_param else None


def pkce_challenge(verifier: str) -> str:
    """Return the S256 code_challenge of ``verifier`` (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _check_verifier(pending: AuthorizationRequest, verifier: str | None) -> None:
    if pending.code_challenge is None:
        # Canvas answers invalid_grant to a verifier without a stored
        # challenge (AuthorizationCodeWithPKCE); a client bug either way.
        if verifier is not None:
            raise OAuthRefusal("pkce_failed")
        return
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        raise OAuthRefusal("pkce_failed")
    if pending.code_challenge_method == "S256":
        computed = pkce_challenge(verifier)
    else:
        computed = verifier
    if not secrets.compare_digest(computed.encode(), pending.code_challenge.encode()):
        raise OAuthRefusal("pkce_failed")


def request_parameters(request: RecordedRequest) -> dict[str, str]:
    """Return the form (or JSON) body's parameters, then the query's."""
    params: dict[str, str] = {}
    if "json" in (request.header("Content-Type") or "").lower():
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = {}
        if isinstance(data, dict):
            params.update({key: str(value) for key, value in data.items()})
    elif request.body:
        params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
    for name, values in request.query.items():
        params.setdefault(name, values[0])
    return params


def basic_credentials(request: RecordedRequest) -> tuple[str | None, str | None]:
    """Return the (user, password) of an HTTP Basic Authorization header."""
    scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip()).decode()
    except ValueError:
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def redirect_with(uri: str, **params: str | None) -> Reply:
    """Return a 302 to ``uri`` with ``params`` added to its query."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(name, value) for name, value in params.items() if value is not None]
    location = urlunsplit(parts._replace(query=urlencode(query)))
    return Reply(302, b"", {"Location": location, "Cache-Control": "no-store"})
