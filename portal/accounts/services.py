"""What the portal knows of each OAuth service: token and revocation endpoints.

allauth's own adapters know where each service authorizes and exchanges
codes; refreshing and revoking tokens are the portal's job, so this module
reads the token URL from the same adapter (one source for both) and adds
the revocation call each service documents. Every call goes through the
portal's HTTP layer (timeouts, host checks, redaction), never through a
bare ``requests`` session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings

from integrations.errors import ConfigurationError, InvalidResponse, TransientError
from integrations.http.auth import BasicAuth, BearerToken
from integrations.http.client import HttpClient, HttpPolicy, HttpResponse

if TYPE_CHECKING:
    from portal.accounts.models import Connection, ProviderApp

logger = logging.getLogger(__name__)

#: Statuses an OAuth endpoint answers that this module reads itself: its
#: error bodies (RFC 6749 section 5.2) say whether to ask the learner again.
_READ_STATUSES = tuple(range(200, 500))


@dataclass(frozen=True)
class TokenGrant:
    """What a token endpoint answered to a refresh."""

    access_token: str
    refresh_token: str
    expires_in: int | None
    scope: str


class RefreshRefused(Exception):
    """The service refused the refresh token: the learner must connect again."""

    def __init__(self, error_code: str) -> None:
        super().__init__(f"The service refused the refresh token ({error_code}).")
        self.error_code = error_code


Revoker = Callable[["ProviderApp", "Connection", str], None]


@dataclass(frozen=True)
class OAuthService:
    """The endpoints of one service beyond what allauth drives."""

    provider: str
    title: str
    token_url: Callable[[ProviderApp], str]
    revoke: Revoker | None
    default_scopes: tuple[str, ...] = ()
    #: Canvas wants the authorization's redirect_uri again on a refresh
    #: (doc/api/oauth_endpoints.md, POST login/oauth2/token).
    refresh_sends_redirect_uri: bool = False
    #: Whether the service documents PKCE (RFC 7636) for web apps.
    pkce: bool = True
    #: Extra parameters of the authorization request.
    auth_params: tuple[tuple[str, str], ...] = ()


def _http_client(url: str, provider: str, auth: Any = None) -> HttpClient:
    """Return a client for one OAuth endpoint, with the environment's timeouts."""
    defaults = settings.INTEGRATIONS_HTTP_DEFAULTS
    parts = urlsplit(url)
    return HttpClient(
        integration=f"oauth-{provider}",
        base_url=f"{parts.scheme}://{parts.netloc}",
        # Token and revocation calls are POSTs and DELETEs the client does
        # not repeat; a refresh that failed in transit is tried again by the
        # next caller that needs the token.
        policy=HttpPolicy(
            connect_timeout=defaults["connect_timeout"],
            read_timeout=defaults["read_timeout"],
            retry_budget=0,
            max_retries=0,
        ),
        auth=auth,
        response_cache=False,
    )


def _allauth_adapter(provider: str) -> type:
    from allauth.socialaccount.providers.discord.views import DiscordOAuth2Adapter
    from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
    from allauth.socialaccount.providers.google.views import GoogleOAuth2Adapter
    from allauth.socialaccount.providers.slack.views import SlackOAuth2Adapter
    from allauth.socialaccount.providers.vimeo_oauth2.views import (
        VimeoOAuth2Adapter,
    )

    adapters = {
        "discord": DiscordOAuth2Adapter,
        "slack": SlackOAuth2Adapter,
        "github": GitHubOAuth2Adapter,
        "google": GoogleOAuth2Adapter,
        "vimeo_oauth2": VimeoOAuth2Adapter,
    }
    return adapters[provider]


def github_api_url() -> str:
    """Return GitHub's REST API root as allauth's GitHub provider computes it.

    https://api.github.com, or ``<GITHUB_URL>/api/v3`` when
    SOCIALACCOUNT_PROVIDERS["github"]["GITHUB_URL"] names a GitHub
    Enterprise Server: the API the learner's token was issued for.
    """
    return _allauth_adapter("github").api_url.rstrip("/")


def youtube_api_url() -> str:
    """Return the YouTube Data API root learners' Google tokens are sent to.

    https://www.googleapis.com/youtube/v3 unless PORTAL_YOUTUBE_API_URL
    names another (a proxy, or a test's fake).
    """
    return settings.PORTAL_YOUTUBE_API_URL.rstrip("/")


def vimeo_api_url() -> str:
    """Return the Vimeo API root that allauth's Vimeo provider signs in against.

    https://api.vimeo.com: the host of the adapter's profile URL, where the
    learner's token was issued and is accepted.
    """
    return _origin(_allauth_adapter("vimeo_oauth2").profile_url)


def _canvas_base(app: ProviderApp) -> str:
    if app.integration is None or not app.integration.base_url:
        raise ConfigurationError(
            "The Canvas provider app needs a Canvas integration: choose it in the "
            "admin under OAuth provider apps.",
            details={"field": "integration"},
        )
    return app.integration.base_url.rstrip("/")


def _gitlab_base(app: ProviderApp) -> str:
    return (app.base_url or "https://gitlab.com").rstrip("/")


def gitlab_api_url(app: ProviderApp) -> str:
    """Return the REST API root of the GitLab an app's learners sign in to."""
    return f"{_gitlab_base(app)}/api/v4"


def _send(
    method: str, url: str, provider: str, *, auth: Any = None, **kwargs: Any
) -> HttpResponse:
    with _http_client(url, provider, auth) as client:
        return client.request(
            method, url, expected_status=_READ_STATUSES, idempotent=False, **kwargs
        )


def _check_revoked(response: HttpResponse, provider: str) -> None:
    if response.status >= 400:
        raise TransientError(
            f"{provider} did not revoke the token (HTTP {response.status}).",
            integration=f"oauth-{provider}",
            status=response.status,
        )


def _revoke_canvas(app: ProviderApp, connection: Connection, token: str) -> None:
    # DELETE /login/oauth2/token with the token itself as the credential
    # (Canvas doc/api/oauth_endpoints.md).
    url = f"{_canvas_base(app)}/login/oauth2/token"
    _check_revoked(_send("DELETE", url, "canvas", auth=BearerToken(token)), "canvas")


def _revoke_github(app: ProviderApp, connection: Connection, token: str) -> None:
    # Deleting the grant removes every token of this app for the user, which
    # is what disconnecting means (docs.github.com, "OAuth authorizations").
    url = f"{github_api_url()}/applications/{app.client_id}/grant"
    auth = BasicAuth(app.client_id, app.secret.reveal())
    response = _send("DELETE", url, "github", auth=auth, json={"access_token": token})
    _check_revoked(response, "github")


def _revoke_google(app: ProviderApp, connection: Connection, token: str) -> None:
    # POST the token as a form field (developers.google.com/identity/
    # protocols/oauth2/web-server#tokenrevoke); a refresh token revokes the
    # whole grant, so it is preferred when there is one.
    url = google_revoke_url()
    refresh = connection.refresh_token.reveal() if connection.refresh_token else ""
    response = _send("POST", url, "google", data={"token": refresh or token})
    _check_revoked(response, "google")


def _revoke_gitlab(app: ProviderApp, connection: Connection, token: str) -> None:
    # RFC 7009 revocation at /oauth/revoke, client authenticated in the body
    # (docs.gitlab.com/api/oauth2).
    url = f"{_gitlab_base(app)}/oauth/revoke"
    data = {"token": token, "client_id": app.client_id}
    data["client_secret"] = app.secret.reveal()
    _check_revoked(_send("POST", url, "gitlab", data=data), "gitlab")


def _revoke_vimeo(app: ProviderApp, connection: Connection, token: str) -> None:
    # DELETE /tokens revokes the token it is sent with (developer.vimeo.com,
    # "Authentication Extras": 204 No Content).
    url = f"{vimeo_api_url()}/tokens"
    response = _send("DELETE", url, "vimeo_oauth2", auth=BearerToken(token))
    _check_revoked(response, "vimeo_oauth2")


def _revoke_slack(app: ProviderApp, connection: Connection, token: str) -> None:
    # auth.revoke with the token itself (api.slack.com/methods/auth.revoke),
    # on the Web API host of allauth's token URL. Slack answers HTTP 200 to
    # a refusal too, so the body's "ok" is what tells.
    url = f"{_origin(_allauth_adapter('slack').access_token_url)}/api/auth.revoke"
    response = _send("POST", url, "slack", auth=BearerToken(token))
    _check_revoked(response, "slack")
    body = _json_or_empty(response)
    if body.get("ok") is not True:
        raise TransientError(
            f"Slack did not revoke the token ({_slack_code(body.get('error'))}).",
            integration="oauth-slack",
            status=response.status,
        )


def _slack_code(error: Any) -> str:
    # Slack's error codes are short snake_case words; anything else is not
    # repeated into the portal's messages.
    text = str(error or "no_answer")
    return text if text.replace("_", "").isalnum() and len(text) <= 60 else "error"


def _revoke_discord(app: ProviderApp, connection: Connection, token: str) -> None:
    # POST /oauth2/token/revoke next to the token URL, the client by HTTP
    # Basic, the token in the form (discord.com/developers/docs/topics/
    # oauth2, "Token Revocation Example").
    url = f"{_allauth_adapter('discord').access_token_url.rstrip('/')}/revoke"
    auth = BasicAuth(app.client_id, app.secret.reveal())
    data = {"token": token, "token_type_hint": "access_token"}
    _check_revoked(_send("POST", url, "discord", auth=auth, data=data), "discord")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def google_revoke_url() -> str:
    """Return Google's revocation endpoint (overridable for tests and proxies)."""
    configured = getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}).get("google", {})
    return configured.get("REVOKE_URL", "https://oauth2.googleapis.com/revoke")


SERVICES: dict[str, OAuthService] = {
    service.provider: service
    for service in (
        OAuthService(
            "canvas",
            "Canvas",
            lambda app: f"{_canvas_base(app)}/login/oauth2/token",
            _revoke_canvas,
            refresh_sends_redirect_uri=True,
            # Canvas's OAuth documentation names no code_challenge: the
            # state parameter is what protects its flow.
            pkce=False,
        ),
        OAuthService(
            "github",
            "GitHub",
            lambda app: _allauth_adapter("github").access_token_url,
            _revoke_github,
            ("read:user", "user:email"),
        ),
        OAuthService(
            "gitlab",
            "GitLab",
            lambda app: f"{_gitlab_base(app)}/oauth/token",
            _revoke_gitlab,
            ("read_user", "read_api"),
        ),
        OAuthService(
            "google",
            "Google (YouTube)",
            lambda app: _allauth_adapter("google").access_token_url,
            _revoke_google,
            (
                "openid",
                "email",
                "profile",
                "https://www.googleapis.com/auth/youtube.readonly",
            ),
            # A refresh token is issued only for offline access, and again
            # only when consent is asked again.
            auth_params=(("access_type", "offline"), ("prompt", "consent")),
        ),
        OAuthService(
            "vimeo_oauth2",
            "Vimeo",
            lambda app: _allauth_adapter("vimeo_oauth2").access_token_url,
            _revoke_vimeo,
            # "public" reads public videos, "private" the learner's private
            # ones (developer.vimeo.com/api/authentication#table-2).
            ("public", "private"),
            # Vimeo's authentication guide names no code_challenge; the
            # state parameter protects the flow. Its tokens do not expire
            # and come without a refresh token.
            pkce=False,
        ),
        OAuthService(
            "slack",
            "Slack",
            lambda app: _allauth_adapter("slack").access_token_url,
            _revoke_slack,
            # Sign in with Slack's OpenID Connect scopes.
            ("openid", "profile", "email"),
            # Sign in with Slack's guide and openid.connect.token's
            # reference name no code_challenge; state protects the flow.
            # Its tokens come without expiry or refresh token.
            pkce=False,
        ),
        OAuthService(
            "discord",
            "Discord",
            lambda app: _allauth_adapter("discord").access_token_url,
            _revoke_discord,
            ("identify", "email"),
            # Discord's OAuth2 topic documents no PKCE for the web flow;
            # state protects it. Its week-long tokens refresh.
            pkce=False,
        ),
    )
}


def service_for(provider: str) -> OAuthService | None:
    """Return what the portal knows of ``provider``, or None for a service
    whose tokens it can neither refresh nor revoke (they are still stored
    encrypted and deleted on disconnect)."""
    return SERVICES.get(provider)


def refresh_grant(
    app: ProviderApp, refresh_token: str, *, redirect_uri: str = ""
) -> TokenGrant:
    """Exchange ``refresh_token`` for a new access token (RFC 6749 section 6).

    Raise :class:`RefreshRefused` when the service refuses the grant (the
    learner must connect again) and TransientError when it could not be
    asked (network, 5xx): the token may well be fine.
    """
    service = service_for(app.provider)
    if service is None:
        raise ConfigurationError(f"The portal cannot refresh {app.provider} tokens.")
    url = service.token_url(app)
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": app.client_id,
        "client_secret": app.secret.reveal(),
    }
    if service.refresh_sends_redirect_uri and redirect_uri:
        data["redirect_uri"] = redirect_uri

    response = _send(
        "POST", url, app.provider, data=data, headers={"Accept": "application/json"}
    )

    body = _json_or_empty(response)
    error_code = str(body.get("error") or "")
    if response.status >= 400 or error_code:
        # 400/401 with invalid_grant, invalid_client, unauthorized_client...:
        # asking again with the same grant would fail the same way.
        raise RefreshRefused(error_code or f"http_{response.status}")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise RefreshRefused("no_access_token")
    expires_in = body.get("expires_in")
    return TokenGrant(
        access_token=access_token,
        # Canvas and Google keep the refresh token and send none back;
        # GitLab rotates it and sends the new one.
        refresh_token=str(body.get("refresh_token") or refresh_token),
        expires_in=int(expires_in) if expires_in not in (None, "") else None,
        scope=str(body.get("scope") or ""),
    )


def _json_or_empty(response: HttpResponse) -> dict[str, Any]:
    try:
        body = response.json()
    except InvalidResponse:
        # An error page that is not JSON says no more than its status.
        return {}
    return body if isinstance(body, dict) else {}
