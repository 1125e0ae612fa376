"""A fake Slack incoming webhook on loopback, answering as Slack documents.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces, from
api.slack.com "Sending messages using incoming webhooks", the Block Kit
reference and the changelog "Improving error conditions for Incoming
Webhooks" (2016-05-17), plus codes seen in practice (routeforms' webhook
error decoder):

- ``POST /services/{team}/{bot}/{secret}`` with JSON ``{"text",
  "blocks"}``: 200 and the plain-text body ``ok``.
- 400 ``invalid_payload`` for a body that is not JSON; 400 ``no_text``
  for one with neither ``text`` nor ``blocks``; 400 ``invalid_blocks``
  for a section whose text is over 3000 characters, a ``block_id`` over
  255 or repeated in one message, or more than 50 blocks.
- A revoked webhook (:meth:`SlackFake.revoke`): 404 ``no_service``; an
  archived channel (:meth:`SlackFake.archive_channel`): 410
  ``channel_is_archived``; a workspace restriction: 403
  ``action_prohibited`` (:meth:`SlackFake.prohibit`).
- :meth:`SlackFake.rate_limit`: 429 ``rate_limited`` with ``Retry-After``
  seconds (Slack allows about one message a second per webhook).
- :meth:`SlackFake.fail`: 500 ``rollup_error`` the next ``n`` times.

Every accepted message is kept in ``messages``; ``delivered_keys()`` reads
the portal's idempotency keys from the section blocks' ``block_id``.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from tests.fakes.oauth import (
    AuthorizationServer,
    OAuthUser,
    TokenIssue,
    bearer_token,
    request_parameters,
)
from tests.fakes.server import FakeServer, RecordedRequest, Reply

TEAM, BOT = "T0PORTAL1", "B0PORTAL2"
SECRET = "fakeSlackWebhookSecret42"
PATH = f"/services/{TEAM}/{BOT}/{SECRET}"
MAX_SECTION_TEXT = 3000
MAX_BLOCK_ID = 255
MAX_BLOCKS = 50


class SlackFake(FakeServer):
    """One incoming webhook, its accepted messages and switchable failures."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self._state = ""
        self._scripted: list[Reply] = []
        self._lock_script = threading.Lock()
        self.route("POST", PATH, self._post)

    @property
    def webhook_url(self) -> str:
        """Return the webhook URL an admin would paste (a secret)."""
        return self.url_for(PATH)

    def revoke(self) -> None:
        """Remove the webhook: 404 ``no_service`` from now on."""
        self._state = "no_service"

    def archive_channel(self) -> None:
        """Archive the channel: 410 ``channel_is_archived`` from now on."""
        self._state = "channel_is_archived"

    def prohibit(self) -> None:
        """Restrict the workspace: 403 ``action_prohibited`` from now on."""
        self._state = "action_prohibited"

    def rate_limit(self, retry_after: int) -> None:
        """Answer the next post with 429 and ``Retry-After``."""
        reply = Reply.text("rate_limited", 429, {"Retry-After": str(retry_after)})
        with self._lock_script:
            self._scripted.append(reply)

    def fail(self, times: int) -> None:
        """Answer the next ``times`` posts with 500 ``rollup_error``."""
        with self._lock_script:
            self._scripted.extend(Reply.text("rollup_error", 500) for _ in range(times))

    def delivered_keys(self) -> list[str]:
        """Return the block ids of every accepted section, in arrival order."""
        return [
            block.get("block_id", "")
            for message in self.messages
            for block in message.get("blocks", [])
        ]

    def _post(self, request: RecordedRequest) -> Reply:
        states = {
            "no_service": 404,
            "channel_is_archived": 410,
            "action_prohibited": 403,
        }
        if self._state:
            return Reply.text(self._state, states[self._state])
        with self._lock_script:
            scripted = self._scripted.pop(0) if self._scripted else None
        if scripted is not None:
            return scripted

        try:
            body = json.loads(request.body)
        except ValueError:
            return Reply.text("invalid_payload", 400)
        if not isinstance(body, dict):
            return Reply.text("invalid_payload", 400)
        if not body.get("text") and not body.get("blocks"):
            return Reply.text("no_text", 400)
        if not blocks_valid(body.get("blocks") or []):
            return Reply.text("invalid_blocks", 400)
        self.messages.append(body)
        return Reply.text("ok")


def blocks_valid(blocks: list[Any]) -> bool:
    """Tell whether blocks keep to the limits the fake checks."""
    if len(blocks) > MAX_BLOCKS:
        return False
    seen: set[str] = set()
    for block in blocks:
        block_id = block.get("block_id", "")
        if len(block_id) > MAX_BLOCK_ID or (block_id and block_id in seen):
            return False
        seen.add(block_id)
        text = block.get("text", {}).get("text", "")
        if block.get("type") == "section" and len(text) > MAX_SECTION_TEXT:
            return False
    return True


BOT_TOKEN = "xoxb-1111111111-2222222222-fakeSlackBotToken42"
#: The bot scopes the fake's token has unless a test takes some away.
BOT_SCOPES = frozenset(
    {"chat:write", "channels:manage", "channels:read", "groups:write"}
)
#: Channels the fake workspace starts with: id, name, archived.
START_CHANNELS = (("C0GENERAL1", "general", False), ("C0ARCHIVE1", "old-news", True))


class SlackWebApiFake(FakeServer):
    """Slack's Web API for one workspace and one bot token, on loopback.

    What it reproduces, from api.slack.com/web, the method references of
    auth.test, chat.postMessage, conversations.create and conversations.list,
    and api.slack.com/docs/rate-limits:

    - Every method under ``/api/<method>``; a missing or wrong Bearer token
      answers HTTP 200 ``{"ok": false, "error": "not_authed"}`` or
      ``"invalid_auth"``; :meth:`revoke` makes it ``token_revoked``.
    - ``chat.postMessage`` (JSON): ``channel_not_found`` for an unknown id
      or name, ``not_in_channel`` for a channel the bot was removed from
      (:meth:`kick`), ``is_archived``, ``no_text`` without text or blocks,
      ``msg_too_long`` for text over 40,000 characters, ``invalid_blocks``
      past 50 blocks or a section text over 3000; success answers
      ``{"ok": true, "channel", "ts", "message"}``.
    - ``conversations.create``: the name rules (``invalid_name_specials``,
      ``invalid_name_maxlength``, ``invalid_name_required``), and
      ``name_taken`` for an existing name, archived ones included.
    - ``conversations.list``: pages of ``limit`` channels (default 100)
      with ``response_metadata.next_cursor`` ("" on the last page);
      ``exclude_archived=true`` leaves archived channels out.
    - Scopes (``scopes``, every one the portal asks for by default): a
      method called without its scope answers ``missing_scope`` with the
      scope ``needed`` and the token's ``provided`` ones, as the method
      references list them (conversations.create: ``channels:manage``, or
      ``groups:write`` for a private channel; conversations.list:
      ``channels:read``; chat.postMessage: ``chat:write``). A workspace that
      forbids apps creating channels (:meth:`restrict`) answers
      ``restricted_action``.
    - :meth:`rate_limit`: HTTP 429 with ``Retry-After`` and the body
      ``{"ok": false, "error": "ratelimited"}`` [assumed: the body is seen
      in SDK issue threads, only the status and header are documented].

    The cursor is an opaque string here as in Slack; its format is
    [assumed]. Tokens are checked by equality only.
    """

    def __init__(self) -> None:
        super().__init__()
        self.posted: list[dict[str, Any]] = []
        self.channels: list[dict[str, Any]] = [
            {"id": cid, "name": name, "is_archived": archived, "member": True}
            for cid, name, archived in START_CHANNELS
        ]
        self._token_state = ""
        self.scopes = set(BOT_SCOPES)
        self.restricted = False
        self._throttled: list[int] = []
        self._lock_api = threading.Lock()
        for method, handler in {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "conversations.create": self._create,
            "conversations.list": self._list,
        }.items():
            self.route("*", f"/api/{method}", self._guarded(handler))

    @property
    def api_url(self) -> str:
        """Return the Web API's base URL, as the ``api_url`` setting takes it."""
        return self.url_for("/api")

    def revoke(self) -> None:
        """Revoke the bot token: ``token_revoked`` from now on."""
        self._token_state = "token_revoked"

    def restrict(self) -> None:
        """Forbid creating channels: ``restricted_action`` from now on."""
        self.restricted = True

    def kick(self, name: str) -> None:
        """Remove the bot from channel ``name``: ``not_in_channel`` on posts."""
        self._channel(name)["member"] = False

    def add_channels(self, count: int, prefix: str = "course") -> None:
        """Add ``count`` channels named ``<prefix>-<n>``, to fill list pages."""
        with self._lock_api:
            start = len(self.channels)
            for number in range(count):
                self.channels.append(
                    {
                        "id": f"C0FILL{start + number:05d}",
                        "name": f"{prefix}-{number}",
                        "is_archived": False,
                        "member": True,
                    }
                )

    def rate_limit(self, retry_after: int) -> None:
        """Answer the next call with 429 and ``Retry-After``."""
        with self._lock_api:
            self._throttled.append(retry_after)

    def delivered_keys(self) -> list[str]:
        """Return the block ids of every posted section, in arrival order."""
        return [
            block.get("block_id", "")
            for message in self.posted
            for block in message.get("blocks", [])
        ]

    def _guarded(self, handler: Any) -> Any:
        def answer(request: RecordedRequest) -> Reply:
            with self._lock_api:
                wait = self._throttled.pop(0) if self._throttled else None
            if wait is not None:
                error = {"ok": False, "error": "ratelimited"}
                return Reply.json(error, 429, {"Retry-After": str(wait)})
            authorization = request.header("Authorization") or ""
            if not authorization.startswith("Bearer "):
                return _error("not_authed")
            if authorization != f"Bearer {BOT_TOKEN}":
                return _error("invalid_auth")
            if self._token_state:
                return _error(self._token_state)
            return handler(request)

        return answer

    def _missing(self, needed: str) -> Reply | None:
        """Answer ``missing_scope`` when the token lacks ``needed``."""
        if needed in self.scopes:
            return None
        provided = ",".join(sorted(self.scopes))
        body = {"ok": False, "error": "missing_scope", "needed": needed}
        return Reply.json({**body, "provided": provided})

    def _channel(self, id_or_name: str) -> dict[str, Any]:
        for channel in self.channels:
            if id_or_name in (channel["id"], channel["name"], "#" + channel["name"]):
                return channel
        raise KeyError(id_or_name)

    def _auth_test(self, request: RecordedRequest) -> Reply:
        return Reply.json(
            {
                "ok": True,
                "url": "https://portal-fake.slack.com/",
                "team": "Portal Fake",
                "user": "portal_bot",
                "team_id": "T0PORTAL1",
                "user_id": "U0PORTALBOT",
                "bot_id": BOT,
            }
        )

    def _post_message(self, request: RecordedRequest) -> Reply:
        refused = self._missing("chat:write")
        if refused is not None:
            return refused
        try:
            body = request.json()
        except ValueError:
            return _error("invalid_json")
        try:
            channel = self._channel(str(body.get("channel", "")))
        except KeyError:
            return _error("channel_not_found")
        if channel["is_archived"]:
            return _error("is_archived")
        if not channel["member"]:
            return _error("not_in_channel")
        if not body.get("text") and not body.get("blocks"):
            return _error("no_text")
        if len(body.get("text") or "") > 40_000:
            return _error("msg_too_long")
        if not blocks_valid(body.get("blocks") or []):
            return _error("invalid_blocks")

        ts = f"1700000000.{len(self.posted) + 1:06d}"
        self.posted.append(body)
        message = {"type": "message", "text": body.get("text", ""), "ts": ts}
        return Reply.json(
            {"ok": True, "channel": channel["id"], "ts": ts, "message": message}
        )

    def _create(self, request: RecordedRequest) -> Reply:
        body = request.json() if request.body else {}
        name = body.get("name") if isinstance(body, dict) else None
        private = isinstance(body, dict) and body.get("is_private") is True
        refused = self._missing("groups:write" if private else "channels:manage")
        if refused is not None:
            return refused
        if self.restricted:
            return _error("restricted_action")
        if not name:
            return _error("invalid_name_required")
        if len(name) > 80:
            return _error("invalid_name_maxlength")
        if not re.fullmatch(r"[a-z0-9_-]+", name):
            return _error("invalid_name_specials")
        with self._lock_api:
            if any(channel["name"] == name for channel in self.channels):
                return _error("name_taken")
            channel = {
                "id": f"C0NEW{len(self.channels):05d}",
                "name": name,
                "is_archived": False,
                "is_private": private,
                "member": True,
            }
            self.channels.append(channel)
        return Reply.json({"ok": True, "channel": _shape(channel)})

    def _list(self, request: RecordedRequest) -> Reply:
        refused = self._missing("channels:read")
        if refused is not None:
            return refused
        limit = int(request.arg("limit", "100") or 100)
        start = int(request.arg("cursor", "") or "0") if request.arg("cursor") else 0
        visible = [
            channel
            for channel in self.channels
            if not (
                request.arg("exclude_archived") == "true" and channel["is_archived"]
            )
        ]
        page = visible[start : start + limit]
        more = start + limit < len(visible)
        return Reply.json(
            {
                "ok": True,
                "channels": [_shape(channel) for channel in page],
                "response_metadata": {
                    "next_cursor": str(start + limit) if more else ""
                },
            }
        )


def _error(code: str) -> Reply:
    """Answer as the Web API does: HTTP 200 and ``ok: false``."""
    return Reply.json({"ok": False, "error": code})


def _shape(channel: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": channel["id"],
        "name": channel["name"],
        "is_channel": True,
        "is_private": channel.get("is_private", False),
        "is_archived": channel["is_archived"],
        "name_normalized": channel["name"],
        "created": 1504554479,
        "creator": "U0123456",
    }


#: Sign in with Slack's refusals of ``openid.connect.token``: HTTP 200 and
#: ``{"ok": false, "error"}`` as every Web API method answers. The codes
#: are [assumed]: those Slack's oauth.v2.access answers, not checked
#: against openid.connect.token's own reference.
SIGN_IN_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_client": (200, "invalid_client_id", ""),
    "invalid_request": (200, "invalid_arguments", ""),
    "bad_code": (200, "invalid_code", ""),
    "redirect_mismatch": (200, "bad_redirect_uri", ""),
    "pkce_failed": (200, "invalid_code", ""),
    "bad_refresh": (200, "invalid_refresh_token", ""),
    "unsupported_grant_type": (200, "invalid_grant_type", ""),
    "unverified_email": (200, "invalid_code", ""),
}


class SlackSignIn(AuthorizationServer):
    """Sign in with Slack (OpenID Connect) on :class:`SlackSignInFake`.

    ``GET /openid/connect/authorize`` (consent page), ``POST
    /api/openid.connect.token`` (client credentials in the form, as Slack's
    method reference takes them and allauth sends them). Tokens do not
    expire and come without a refresh token: Slack issues refresh tokens
    only to apps that opted into token rotation, which Sign in with Slack
    apps do not need. The ``redirect_uri`` is checked at the token
    endpoint only if the authorize request sent one ("required if your app
    passed it").
    """

    authorize_path = "/openid/connect/authorize"
    token_path = "/api/openid.connect.token"
    access_token_lifetime = None
    issues_refresh_tokens = False
    errors = SIGN_IN_ERRORS
    www_authenticate = None
    prefixes = {"code": "slack-code-", "access": "xoxp-", "secret": "slack-secret-"}
    service_name = "Slack"

    def __init__(self, server: SlackSignInFake) -> None:
        self.slack = server
        super().__init__(server)

    def install(self) -> None:
        """Add ``openid.connect.userInfo`` and ``auth.revoke``."""
        super().install()
        self.server.route("*", "/api/openid.connect.userInfo", self._user_info)
        self.server.route("*", "/api/auth.revoke", self._revoke_token)

    def token_response(self, issue: TokenIssue) -> dict[str, Any]:
        """Return Slack's answer: ``ok``, the token and an ``id_token``."""
        return {
            "ok": True,
            "access_token": issue.access.token,
            "token_type": "Bearer",
            # A JWT at Slack; allauth's adapter reads the userInfo method
            # instead, so the fake's id_token is an opaque string [assumed
            # harmless: nothing the portal runs decodes it].
            "id_token": f"fake-id-token-{issue.access.user.id}",
        }

    def error_reply(self, request: RecordedRequest, kind: str) -> Reply:
        """Answer a refused exchange as the Web API does: 200, ``ok: false``."""
        return _error(self.errors[kind][1])

    def _token_of(self, request: RecordedRequest) -> str | None:
        # Web API methods take the token as a Bearer header or a ``token``
        # argument (api.slack.com/web, "Authentication").
        return bearer_token(request) or request_parameters(request).get("token")

    def _user_info(self, request: RecordedRequest) -> Reply:
        token = self._token_of(request)
        if not token:
            return _error("not_authed")
        user = self.user_for(token)
        if user is None:
            record = self.access_token(token)
            return _error("token_revoked" if record else "invalid_auth")
        return Reply.json({"ok": True, **self.slack.claims(user)})

    def _revoke_token(self, request: RecordedRequest) -> Reply:
        with self.slack.faults_lock:
            if self.slack.revocation_faults:
                return self.slack.revocation_faults.pop(0)
        token = self._token_of(request)
        if not token:
            return _error("not_authed")
        if self.user_for(token) is None:
            return _error("invalid_auth")
        test = request_parameters(request).get("test") in ("1", "true")
        if not test:
            self.revoke(token)
        return Reply.json({"ok": True, "revoked": not test})


class SlackSignInFake(FakeServer):
    """slack.com for Sign in with Slack: authorize, token, userInfo, revoke.

    What it reproduces, from api.slack.com "Sign in with Slack" and the
    method references of openid.connect.token, openid.connect.userInfo and
    auth.revoke:

    - the authorization code flow of :class:`SlackSignIn` (``oauth``), the
      scopes ``openid profile email``; Deny redirects with
      ``error=access_denied``;
    - ``openid.connect.userInfo`` with the Bearer token: ``{"ok": true,
      "sub", "https://slack.com/user_id", "https://slack.com/team_id",
      "email", "email_verified", "name", ...}``; an unknown token answers
      ``invalid_auth``, a revoked one ``token_revoked``, none
      ``not_authed`` (HTTP 200 each);
    - ``auth.revoke`` with the token (Bearer or ``token`` form field):
      ``{"ok": true, "revoked": true}``; ``test=1`` revokes nothing and
      answers ``revoked: false``; a token already revoked answers
      ``invalid_auth`` [assumed: the reference lists the code, not when].

    :meth:`fail_revocation` answers the next revocations with HTTP 5xx.
    """

    def __init__(self, team_id: str = TEAM) -> None:
        super().__init__()
        self.team_id = team_id
        self.faults_lock = threading.Lock()
        self.revocation_faults: list[Reply] = []
        self.oauth = SlackSignIn(self)

    def add_user(self, user_id: str, name: str, email: str) -> OAuthUser:
        """Add a workspace member who can sign in; the first is signed in."""
        return self.oauth.add_user(user_id, name, name=name, email=email)

    def claims(self, user: OAuthUser) -> dict[str, Any]:
        """Return the OpenID claims userInfo answers for ``user``."""
        given, _, family = user.name.partition(" ")
        return {
            "sub": str(user.id),
            "https://slack.com/user_id": str(user.id),
            "https://slack.com/team_id": self.team_id,
            "email": user.email,
            "email_verified": user.email_verified,
            "date_email_verified": 1622128723,
            "name": user.name,
            "given_name": given,
            "family_name": family,
            "locale": "en-US",
            "https://slack.com/team_name": "Portal School",
            "https://slack.com/team_domain": "portal-school",
        }

    def fail_revocation(self, times: int = 1, status: int = 500) -> None:
        """Answer the next ``times`` auth.revoke calls with a server error."""
        with self.faults_lock:
            self.revocation_faults.extend(
                [Reply.text("Internal Server Error", status)] * times
            )
