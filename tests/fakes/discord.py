"""A fake Discord webhook on loopback, answering as Discord documents.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces, from
discord.com/developers/docs "Execute Webhook", "Embed Limits" and "Rate
Limits" (and the answers several client libraries' tests record):

- ``POST /api/webhooks/{id}/{token}``: a body needs ``content`` or
  ``embeds``; at most 10 embeds; embed title 256, description 4096,
  footer text 2048 and 6000 characters over all embeds. A message over a
  limit is refused whole: 400 ``{"code": 50035, "message": "Invalid Form
  Body", "errors": {"embeds": {"0": {"description": {"_errors": [...]}}}}}``.
  ``?wait=true`` answers 200 and the saved message (with an ``id``);
  without it, 204 and no body.
- An embed's ``color`` must be an integer (Discord documents ``color`` as
  an integer; a string is refused with ``NUMBER_TYPE_COERCE`` "Value ... is
  not int.", as reported in sapphiredev/utilities#542). That it must lie
  in 0..0xFFFFFF (RGB) is assumed, with an assumed ``NUMBER_TYPE_MAX``
  code: the docs state no range.
- ``GET /api/webhooks/{id}/{token}``: the webhook object (no message
  posted), the call the provider's health check makes.
- A wrong token: 401 ``{"message": "Invalid Webhook Token", "code":
  50027}``; a deleted webhook (:meth:`DiscordFake.delete_webhook`): 404
  ``{"message": "Unknown Webhook", "code": 10015}``.
- :meth:`DiscordFake.rate_limit`: 429 ``{"message": "You are being rate
  limited.", "retry_after": <float seconds>, "global": false}``, with a
  ``Retry-After`` header only when asked (Discord sends one too; the body
  is the precise value). discord/discord-api-docs#4722 reports
  milliseconds from an old API version; v10 documents seconds.
- :meth:`DiscordFake.fail` answers 5xx the next ``n`` times.

Every saved message is kept in ``messages``; ``delivered_keys()`` reads the
portal's idempotency keys from the embed footers, so tests can tell a
lost or duplicated event.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from tests.fakes.oauth import (
    AuthorizationServer,
    OAuthRefusal,
    OAuthUser,
    bearer_token,
    request_parameters,
)
from tests.fakes.server import FakeServer, RecordedRequest, Reply

WEBHOOK_ID = "112233445566778899"
WEBHOOK_TOKEN = "fake-discord-webhook-token-Abc123"
_PATH = re.compile(r"/api/webhooks/(?P<id>\d+)/(?P<token>[\w\-]+)")
LIMITS = {"title": 256, "description": 4096}
MAX_FOOTER = 2048
MAX_EMBEDS = 10
MAX_TOTAL = 6000
MAX_COLOR = 0xFFFFFF


class DiscordFake(FakeServer):
    """One Discord webhook, its saved messages and switchable failures."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.deleted = False
        self._scripted: list[Reply] = []
        self._script_lock = threading.Lock()
        self.route("POST", _PATH, self._execute)
        self.route("GET", _PATH, self._get)

    @property
    def webhook_url(self) -> str:
        """Return the webhook URL an admin would paste (a secret)."""
        return self.url_for(f"/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}")

    def delete_webhook(self) -> None:
        """Delete the webhook: every call answers 404 Unknown Webhook."""
        self.deleted = True

    def rate_limit(self, retry_after: float, *, header: bool = False) -> None:
        """Answer the next execute with 429 and ``retry_after`` seconds."""
        headers = {"Retry-After": str(int(retry_after) + 1)} if header else {}
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        with self._script_lock:
            self._scripted.append(Reply.json(body, 429, headers))

    def fail(self, times: int, status: int = 502) -> None:
        """Answer the next ``times`` executes with a server error."""
        with self._script_lock:
            self._scripted.extend(
                Reply.json({"message": "Bad Gateway"}, status) for _ in range(times)
            )

    def delivered_keys(self) -> list[str]:
        """Return the idempotency keys of every saved embed, in arrival order."""
        return [
            embed.get("footer", {}).get("text", "")
            for message in self.messages
            for embed in message.get("embeds", [])
        ]

    def _refusal(self, request: RecordedRequest) -> Reply | None:
        match = request.match
        if self.deleted or match is None or match["id"] != WEBHOOK_ID:
            return Reply.json({"message": "Unknown Webhook", "code": 10015}, 404)
        if match["token"] != WEBHOOK_TOKEN:
            return Reply.json({"message": "Invalid Webhook Token", "code": 50027}, 401)
        return None

    def _get(self, request: RecordedRequest) -> Reply:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return Reply.json(
            {"id": WEBHOOK_ID, "type": 1, "name": "portal", "channel_id": "4242"}
        )

    def _execute(self, request: RecordedRequest) -> Reply:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        with self._script_lock:
            scripted = self._scripted.pop(0) if self._scripted else None
        if scripted is not None:
            return scripted

        body = request.json()
        errors = form_errors(body)
        if errors:
            return Reply.json(
                {"code": 50035, "errors": errors, "message": "Invalid Form Body"}, 400
            )
        message = {"id": str(1000 + len(self.messages)), **body}
        self.messages.append(message)
        if request.arg("wait") == "true":
            return Reply.json(message)
        return Reply(204)


def form_errors(body: Any) -> dict[str, Any]:
    """Return Discord's ``errors`` tree for a body over its limits, or {}."""
    if not isinstance(body, dict) or not (body.get("content") or body.get("embeds")):
        return {"_errors": [{"code": "MESSAGE_EMPTY", "message": "Cannot send empty"}]}
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        return {"embeds": _too_long(MAX_EMBEDS)}
    errors: dict[str, Any] = {}
    total = 0
    for index, embed in enumerate(embeds):
        footer = embed.get("footer", {}).get("text", "")
        total += len(footer)
        if len(footer) > MAX_FOOTER:
            errors[str(index)] = {"footer": {"text": _too_long(MAX_FOOTER)}}
        for name, limit in LIMITS.items():
            value = embed.get(name, "")
            total += len(value)
            if len(value) > limit:
                errors.setdefault(str(index), {})[name] = _too_long(limit)
        color_error = _color_error(embed)
        if color_error:
            errors.setdefault(str(index), {})["color"] = color_error
    if errors:
        return {"embeds": errors}
    if total > MAX_TOTAL:
        return {"embeds": _too_long(MAX_TOTAL)}
    return {}


def _color_error(embed: dict[str, Any]) -> dict[str, Any]:
    if "color" not in embed:
        return {}
    color = embed["color"]
    if isinstance(color, bool) or not isinstance(color, int):
        message = f'Value "{color}" is not int.'
        return {"_errors": [{"code": "NUMBER_TYPE_COERCE", "message": message}]}
    if not 0 <= color <= MAX_COLOR:
        message = f"int value should be less than or equal to {MAX_COLOR}."
        return {"_errors": [{"code": "NUMBER_TYPE_MAX", "message": message}]}
    return {}


def _too_long(limit: int) -> dict[str, Any]:
    message = f"Must be {limit} or fewer in length."
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": message}]}


#: Discord's access tokens last a week (``expires_in`` 604800 in the
#: token response of the OAuth2 topic's example).
DISCORD_TOKEN_LIFETIME = 604800


class DiscordAuthorization(AuthorizationServer):
    """Discord's authorization code grant, as the OAuth2 topic documents it.

    ``GET /oauth2/authorize`` (the documented URL) and ``/api/oauth2/
    authorize`` (the one allauth's adapter opens; both are served by
    Discord [assumed: the API-prefixed path is not in the docs' table]);
    ``POST /api/oauth2/token`` with the client by HTTP Basic or in the form;
    ``POST /api/oauth2/token/revoke`` with ``token`` (and an optional
    ``token_type_hint``) and the client credentials. A week-long access
    token and a refresh token; a refresh hands out a new refresh token and
    retires the old one [assumed: the docs show the new one in the answer,
    not that the old one stops working]. Revoking either token revokes the
    authorization, the other token with it [assumed]. Error bodies are RFC
    6749's (``invalid_grant``, ``invalid_client``), their descriptions
    [assumed].
    """

    authorize_path = "/oauth2/authorize"
    token_path = "/api/oauth2/token"
    revoke_path = "/api/oauth2/token/revoke"
    access_token_lifetime = DISCORD_TOKEN_LIFETIME
    rotates_refresh_tokens = True
    prefixes = {"code": "dc-code-", "access": "dc-access-", "refresh": "dc-refresh-"}
    service_name = "Discord"

    def install(self) -> None:
        """Add the API-prefixed authorize path and the revocation endpoint."""
        super().install()
        self.server.route("GET", "/api/oauth2/authorize", self._authorize)
        self.server.route("POST", "/api/oauth2/authorize", self._decide)
        self.server.route("POST", self.revoke_path, self._revoke_endpoint)

    def parse_scope(self, raw: str | None) -> list[str]:
        """Return the scopes asked (space-separated; none means none)."""
        return (raw or "").split()

    def denied_params(self) -> dict[str, str]:
        """Return the redirect's parameters after Deny."""
        return {
            "error": "access_denied",
            "error_description": "The resource owner or authorization server "
            "denied the request",
        }

    def _revoke_endpoint(self, request: RecordedRequest) -> Reply:
        fake = self.server
        with fake.faults_lock:
            if fake.revocation_faults:
                return fake.revocation_faults.pop(0)
        params = request_parameters(request)
        try:
            with self._lock:
                self._authenticate(request, params)
        except OAuthRefusal as refusal:
            return self.error_reply(request, refusal.kind)
        if not params.get("token"):
            return self.error_reply(request, "invalid_request")
        # RFC 7009 2.2: an unknown or already revoked token is answered 200
        # as well [assumed for Discord].
        self.revoke(params["token"])
        return Reply.json({})


class DiscordOAuthFake(FakeServer):
    """discord.com for a learner's connection: OAuth2 and ``/users/@me``.

    What it reproduces, from discord.com/developers/docs "OAuth2" and
    "Users" (Get Current User):

    - the grant of :class:`DiscordAuthorization` (``oauth``); Deny
      redirects with ``error=access_denied`` (and ``error_description``
      [assumed wording]);
    - ``GET /api/users/@me`` with the Bearer token: the user object (``id``
      as a snowflake string, ``username``, ``discriminator`` "0" for new
      usernames, ``global_name``, ``avatar``; ``email`` and ``verified``
      with the ``email`` scope only); without a valid token 401 ``{"message":
      "401: Unauthorized", "code": 0}``.

    :meth:`fail_revocation` answers the next revocations with HTTP 5xx.
    """

    def __init__(self) -> None:
        super().__init__()
        self.faults_lock = threading.Lock()
        self.revocation_faults: list[Reply] = []
        self.route("GET", "/api/users/@me", self._me)
        self.oauth = DiscordAuthorization(self)

    def add_user(
        self, snowflake: str, username: str, *, global_name: str, email: str
    ) -> OAuthUser:
        """Add a Discord user who can approve; the first one is signed in."""
        return self.oauth.add_user(snowflake, username, name=global_name, email=email)

    def fail_revocation(self, times: int = 1, status: int = 500) -> None:
        """Answer the next ``times`` revocations with a server error."""
        with self.faults_lock:
            self.revocation_faults.extend(
                [Reply.text("Internal Server Error", status)] * times
            )

    def _me(self, request: RecordedRequest) -> Reply:
        token = bearer_token(request)
        user = self.oauth.user_for(token)
        if user is None:
            return Reply.json({"message": "401: Unauthorized", "code": 0}, 401)
        body: dict[str, Any] = {
            "id": str(user.id),
            "username": user.login,
            "discriminator": "0",
            "global_name": user.name,
            "avatar": None,
            "mfa_enabled": False,
            "locale": "en-US",
            "flags": 0,
            "premium_type": 0,
            "public_flags": 0,
        }
        if "email" in self.oauth.scope_of(token):
            body["email"] = user.email
            body["verified"] = user.email_verified
        return Reply.json(body)
