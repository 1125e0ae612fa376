"""Slack's Web API on the portal's shared HttpClient, by bot token.

Every method is ``POST https://slack.com/api/<method>`` with
``Authorization: Bearer xoxb-...``. Slack answers most errors with HTTP 200
and ``{"ok": false, "error": "<code>"}``, so :class:`SlackApiErrors` reads
the body of every answer; a rate limit is HTTP 429 with ``Retry-After``
seconds, which the HTTP layer honours.

Slack docs: https://api.slack.com/web#responses,
https://api.slack.com/methods/chat.postMessage#errors and
https://api.slack.com/docs/rate-limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from integrations import errors

if TYPE_CHECKING:
    from integrations.http.response import HttpResponse

PUBLIC_API = "https://slack.com/api"

#: Codes that say the token is no good, whatever the method.
AUTH_CODES = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}
)
#: Codes that say the message was refused and will be refused again.
MESSAGE_CODES = frozenset(
    {"msg_too_long", "invalid_blocks", "no_text", "invalid_blocks_format"}
)
#: Codes Slack documents as worth trying again.
TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: What an admin does about a channel the bot cannot post to.
CHANNEL_FIXES = {
    "channel_not_found": "the channel setting names no channel the bot can see: "
    "use the channel's id (C...) or an existing public channel's name",
    "not_in_channel": "the bot is not a member of the channel: invite the app "
    "to it in Slack (/invite @your-app), or give it the chat:write.public scope",
    "is_archived": "the channel is archived: unarchive it in Slack or change the "
    "channel setting to a live channel",
}


def slack_error_code(response: HttpResponse) -> str:
    """Return the ``error`` of an ``ok: false`` answer, or an empty string."""
    try:
        body = response.json()
    except errors.InvalidResponse:
        return ""
    if not isinstance(body, dict) or body.get("ok") is not False:
        return ""
    code = body.get("error")
    return code[:80] if isinstance(code, str) else "unknown_error"


@dataclass(frozen=True)
class SlackApiErrors:
    """Map the Web API's ``ok: false`` answers to the portal's typed errors.

    A frozen dataclass, so equal hooks compare equal and the client factory
    keeps reusing the integration's client (and its open connection).
    """

    def __call__(self, response: HttpResponse) -> errors.IntegrationError | None:
        """Return the error an answer means, or None when Slack said ``ok``."""
        if response.status == 429 or response.status >= 500:
            return None
        code = slack_error_code(response)
        if not code:
            if response.status >= 400:
                return None
            return _unreadable(response)

        if code in AUTH_CODES:
            return errors.AuthenticationFailed(
                "Slack refused the bot token: install the app again and store its "
                "Bot User OAuth Token (xoxb-...) in the bot_token credential",
                provider_code=code,
            )
        if code in CHANNEL_FIXES:
            return errors.ConfigurationError(
                f"Slack cannot post to the configured channel: {CHANNEL_FIXES[code]}",
                provider_code=code,
            )
        if code == "missing_scope":
            return _missing_scope(response)
        if code == "restricted_action":
            return errors.PermissionDenied(
                "A Slack workspace setting stops the app from doing this (for "
                "example creating channels): ask a workspace admin to allow it",
                provider_code=code,
            )
        if code == "ratelimited":
            return errors.RateLimited(
                "Slack is rate limiting the app", provider_code=code
            )
        if code in TRANSIENT_CODES:
            return errors.TransientError("Slack failed the call", provider_code=code)
        if code in MESSAGE_CODES:
            return errors.PermanentError(
                f"Slack refused the message ({code}); it will not be sent again",
                provider_code=code,
            )
        return errors.ProviderError(
            f"Slack refused the call ({code})", provider_code=code
        )


def _missing_scope(response: HttpResponse) -> errors.PermissionDenied:
    """Name the scope Slack says is missing (its ``needed`` field), if any."""
    needed = response.json().get("needed")
    scope = needed[:80] if isinstance(needed, str) and needed else ""
    which = f"the {scope} scope" if scope else "a scope this call needs"
    return errors.PermissionDenied(
        f"The bot token lacks {which}: add it to the app's Bot Token Scopes "
        "(OAuth & Permissions) and reinstall the app",
        provider_code="missing_scope",
        details={"needed_scope": scope} if scope else {},
    )


def _unreadable(response: HttpResponse) -> errors.IntegrationError | None:
    try:
        body = response.json()
    except errors.InvalidResponse:
        body = None
    if isinstance(body, dict) and body.get("ok") is True:
        return None
    return errors.InvalidResponse(
        "Slack answered without 'ok': check the api_url setting points at the Web API"
    )
