"""A fake Google sign-in on loopback: OAuth 2 web-server flow and OpenID Connect.

Built on :class:`tests.fakes.oauth.AuthorizationServer`. What it reproduces,
from developers.google.com "Using OAuth 2.0 for Web Server Applications" and
"OpenID Connect":

- ``GET /o/oauth2/v2/auth`` with ``scope`` (``openid``, ``email``,
  ``profile``, ``https://www.googleapis.com/auth/youtube.readonly`` ...),
  ``state``, PKCE (S256 and plain), ``access_type`` and ``prompt``; a
  redirect_uri that is not registered gets Google's error page "Error 400:
  redirect_uri_mismatch" and no redirect.
- ``POST /token``: ``access_token``, ``expires_in`` (3599), ``scope`` (the
  granted scopes, ``email``/``profile`` spelled as their userinfo URLs),
  ``token_type`` ``Bearer``, an ``id_token`` when an identity scope was
  asked, and a ``refresh_token`` only with ``access_type=offline`` and only
  the first time the user consents to the client, unless ``prompt=consent``
  asks again. A refresh answers no new refresh token. Errors are RFC 6749
  bodies: ``invalid_grant`` with 400 (``Bad Request`` for a bad code, ``Token
  has been expired or revoked.`` for a dead refresh token, as captured in
  many client issue threads), ``invalid_client`` with 401.
- The ID token is an RS256 JWT (iss ``https://accounts.google.com``, aud the
  client_id, azp, sub, email, email_verified, at_hash, name, picture,
  given_name, family_name, iat, exp, nonce when sent) signed by a key the
  fake owns; ``GET /oauth2/v1/certs`` serves kid -> PEM X.509 certificate,
  the format of https://www.googleapis.com/oauth2/v1/certs.
- ``GET /oauth2/v2/userinfo``; a bad token gets 401 with ``WWW-Authenticate``
  and Google's ``{"error": {"code": 401, ..., "status": "UNAUTHENTICATED"}}``.
- ``POST /revoke`` with a ``token`` field: 200; 400 ``invalid_token`` for a
  token it does not know (or no longer). Revoking either token of a pair
  revokes both.

Point django-allauth at it with :attr:`GoogleFake.allauth_settings` (the
CERTS_URL, IDENTITY_URL, ACCESS_TOKEN_URL, AUTHORIZE_URL and
ID_TOKEN_ISSUER its Google adapter reads).
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.fakes.oauth import (
    RFC6749_ERRORS,
    AccessToken,
    AuthorizationCode,
    AuthorizationServer,
    OAuthClient,
    OAuthUser,
    TokenIssue,
    bearer_token,
    request_parameters,
)
from tests.fakes.server import FakeServer, RecordedRequest, Reply

ISSUER = "https://accounts.google.com"
SCOPE_URLS = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}
IDENTITY_SCOPES = {"openid", "email", "profile", *SCOPE_URLS.values()}
YOUTUBE_READONLY = "https://www.googleapis.com/auth/youtube.readonly"

GOOGLE_ERRORS = {
    **RFC6749_ERRORS,
    "invalid_client": (401, "invalid_client", "Unauthorized"),
    "invalid_request": (400, "invalid_request", "Bad Request"),
    "bad_code": (400, "invalid_grant", "Bad Request"),
    "redirect_mismatch": (400, "redirect_uri_mismatch", "Bad Request"),
    "pkce_failed": (400, "invalid_grant", "Invalid code verifier."),
    "bad_refresh": (400, "invalid_grant", "Token has been expired or revoked."),
    "unsupported_grant_type": (400, "unsupported_grant_type", "Invalid grant_type."),
}
UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected "
        "OAuth 2 access token, login cookie or other valid authentication "
        "credential.",
        "status": "UNAUTHENTICATED",
    }
}


@functools.lru_cache(maxsize=1)
def signing_key() -> tuple[rsa.RSAPrivateKey, str, str]:
    """Return the fakes' RSA key, its PEM certificate and kid (made once a run)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.google.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    kid = certificate.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - an id
    return key, pem, kid


def sign_jwt(claims: dict[str, Any]) -> str:
    """Return ``claims`` as a compact RS256 JWS signed by :func:`signing_key`."""
    key, _, kid = signing_key()
    header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
    signing_input = f"{_b64_json(header)}.{_b64_json(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


class GoogleAuthorization(AuthorizationServer):
    """Google's OAuth 2 web-server flow with OpenID Connect ID tokens."""

    authorize_path = "/o/oauth2/v2/auth"
    token_path = "/token"
    access_token_lifetime = 3599
    pkce_methods = ("S256", "plain")
    errors = GOOGLE_ERRORS
    www_authenticate = None
    prefixes = {"access": "ya29.", "refresh": "1//", "code": "4/0", "secret": "GOCSPX-"}
    service_name = "Google"

    def __init__(self, server: FakeServer) -> None:
        super().__init__(server)
        self.issuer = ISSUER
        #: (client_id, user id) pairs that already got a refresh token.
        self.offline_grants: set[tuple[str, str]] = set()

    def parse_scope(self, raw: str | None) -> list[str]:
        """Return the scopes asked, ``email``/``profile`` as their URLs."""
        return [SCOPE_URLS.get(scope, scope) for scope in (raw or "").split()]

    def wants_refresh_token(self, code: AuthorizationCode) -> bool:
        """Issue a refresh token for offline access, on first consent only.

        "the refresh token is only returned the first time the user
        consents"; ``prompt=consent`` makes the user consent again.
        """
        params = code.request.params
        if params.get("access_type") != "offline":
            return False
        grant = (code.request.client_id, str(code.user.id))
        first = grant not in self.offline_grants
        self.offline_grants.add(grant)
        return first or "consent" in params.get("prompt", "").split()

    def token_response(self, issue: TokenIssue) -> dict[str, Any]:
        """Return Google's token JSON, with an ID token for identity scopes."""
        access = issue.access
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": self.access_token_lifetime,
        }
        if issue.refresh is not None:
            body["refresh_token"] = issue.refresh.token
        body["scope"] = self.format_scope(access.scope)
        body["token_type"] = "Bearer"
        if IDENTITY_SCOPES & set(access.scope):
            nonce = issue.code.request.params.get("nonce") if issue.code else None
            body["id_token"] = self.id_token(access, nonce)
        return body

    def id_token(self, access: AccessToken, nonce: str | None = None) -> str:
        """Return a signed ID token for ``access``'s user and client."""
        user = access.user
        now = int(self.clock.now())
        digest = hashlib.sha256(access.token.encode()).digest()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "azp": access.client_id,
            "aud": access.client_id,
            "sub": str(user.id),
            "at_hash": _b64(digest[: len(digest) // 2]),
            "iat": now,
            "exp": now + 3600,
        }
        if SCOPE_URLS["email"] in access.scope and user.email:
            claims.update(email=user.email, email_verified=user.email_verified)
        if SCOPE_URLS["profile"] in access.scope:
            claims.update(_profile_claims(user))
        if nonce is not None:
            claims["nonce"] = nonce
        return sign_jwt(claims)

    def callback_params(self, code: AuthorizationCode) -> dict[str, str]:
        """Add the granted scope and account index, as Google's redirect does."""
        return {"scope": self.format_scope(code.request.scope), "authuser": "0"}

    def unknown_client_page(self, params: dict[str, str]) -> Reply:
        """Answer Google's "Error 401: invalid_client" page."""
        return self.error_page(401, "invalid_client", "The OAuth client was not found.")

    def redirect_mismatch_page(
        self, client: OAuthClient, params: dict[str, str]
    ) -> Reply:
        """Answer Google's "Error 400: redirect_uri_mismatch" page."""
        return self.error_page(
            400,
            "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with "
            "Google's OAuth 2.0 policy.",
        )


class GoogleFake(FakeServer):
    """Google's OAuth 2 and OpenID Connect endpoints on 127.0.0.1; a context manager.

    ``oauth`` is the :class:`GoogleAuthorization` (clients, approve/deny,
    clock, counters, failure switches); users are added with
    :meth:`add_user`.
    """

    certs_path = "/oauth2/v1/certs"
    userinfo_path = "/oauth2/v2/userinfo"
    revoke_path = "/revoke"

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.oauth = GoogleAuthorization(self)
        self.route("GET", self.certs_path, self._certs)
        self.route("GET", self.userinfo_path, self._userinfo)
        self.route("POST", self.revoke_path, self._revoke)

    def add_user(
        self,
        sub: str,
        email: str,
        *,
        name: str,
        email_verified: bool = True,
        locale: str = "en",
    ) -> OAuthUser:
        """Add a Google account (``sub`` is its stable id); return it."""
        given, _, family = name.partition(" ")
        return self.oauth.add_user(
            sub,
            email,
            name=name,
            email=email,
            email_verified=email_verified,
            given_name=given,
            family_name=family,
            picture=f"https://lh3.googleusercontent.com/a/{sub}=s96-c",
            locale=locale,
        )

    @property
    def authorize_url(self) -> str:
        """Return AUTHORIZE_URL (accounts.google.com/o/oauth2/v2/auth)."""
        return self.oauth.authorize_url

    @property
    def access_token_url(self) -> str:
        """Return ACCESS_TOKEN_URL (oauth2.googleapis.com/token)."""
        return self.oauth.token_url

    @property
    def identity_url(self) -> str:
        """Return IDENTITY_URL (www.googleapis.com/oauth2/v2/userinfo)."""
        return self.url_for(self.userinfo_path)

    @property
    def certs_url(self) -> str:
        """Return CERTS_URL (www.googleapis.com/oauth2/v1/certs)."""
        return self.url_for(self.certs_path)

    @property
    def revoke_url(self) -> str:
        """Return the revocation endpoint (oauth2.googleapis.com/revoke)."""
        return self.url_for(self.revoke_path)

    @property
    def id_token_issuer(self) -> str:
        """Return the ``iss`` of the ID tokens (ID_TOKEN_ISSUER)."""
        return self.oauth.issuer

    @property
    def allauth_settings(self) -> dict[str, str]:
        """Return the SOCIALACCOUNT_PROVIDERS["google"] URL entries for this fake."""
        return {
            "AUTHORIZE_URL": self.authorize_url,
            "ACCESS_TOKEN_URL": self.access_token_url,
            "IDENTITY_URL": self.identity_url,
            "CERTS_URL": self.certs_url,
            "ID_TOKEN_ISSUER": self.id_token_issuer,
        }

    def _certs(self, request: RecordedRequest) -> Reply:
        _, pem, kid = signing_key()
        return Reply.json({kid: pem}, headers={"Cache-Control": "public, max-age=3600"})

    def _userinfo(self, request: RecordedRequest) -> Reply:
        user = self.oauth.user_for(bearer_token(request, query_param="access_token"))
        if user is None:
            return Reply.json(
                UNAUTHENTICATED,
                401,
                {
                    "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                    'error="invalid_token"'
                },
            )
        profile = _profile_claims(user)
        return Reply.json(
            {
                "id": str(user.id),
                "email": user.email,
                "verified_email": user.email_verified,
                **profile,
            }
        )

    def _revoke(self, request: RecordedRequest) -> Reply:
        token = request_parameters(request).get("token", "")
        if not self.oauth.revoke(token):
            return Reply.json(
                {
                    "error": "invalid_token",
                    "error_description": "Token expired or revoked",
                },
                400,
            )
        return Reply.json({})


def _profile_claims(user: OAuthUser) -> dict[str, Any]:
    return {
        "name": user.name,
        "given_name": user.extra.get("given_name"),
        "family_name": user.extra.get("family_name"),
        "picture": user.extra.get("picture"),
        "locale": user.extra.get("locale"),
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_json(data: dict[str, Any]) -> str:
    return _b64(json.dumps(data, separators=(",", ":")).encode())
