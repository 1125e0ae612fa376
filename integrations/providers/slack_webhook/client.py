"""Slack's incoming webhooks on the portal's shared HttpClient.

``POST`` JSON ``{"text", "blocks"}`` to the webhook URL; Slack answers the
plain-text body ``ok``, or a plain-text error code with a 4xx or 5xx
status (changelog 2016-05-17 "Improving error conditions for Incoming
Webhooks": 400 ``invalid_payload``, 403 ``action_prohibited``, 404
``channel_not_found``, 410 ``channel_is_archived``, 500 ``rollup_error``;
seen in practice too: 404 ``no_service`` for a revoked webhook, 400
``no_text`` and ``invalid_blocks``, 429 with ``Retry-After``).

Slack docs: https://api.slack.com/messaging/webhooks,
https://api.slack.com/reference/block-kit/blocks#section and
https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.sinks import truncate

if TYPE_CHECKING:
    from integrations.http.response import HttpResponse
    from integrations.providers.base import SinkMessage

WEBHOOK_PATH = re.compile(r"/services/[A-Z0-9]+/[A-Z0-9]+/[A-Za-z0-9]+")
WEBHOOK_EXAMPLE = "https://hooks.slack.com/services/T000/B000/XXXX"

#: A section block's text is at most 3000 characters; a block_id 255.
MAX_SECTION_TEXT = 3000
MAX_BLOCK_ID = 255
#: Slack truncates ``text`` beyond 40,000 characters; the fallback is short.
MAX_FALLBACK = 300
#: Events per message: one section each, well under Slack's 50 blocks.
MAX_MESSAGES = 10

_REVOKED = frozenset({"no_service", "no_team", "invalid_token"})
_CODE = re.compile(r"^[a-z_]{2,60}$")


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack's mrkdwn requires.

    Unescaped, event data could form ``<!channel>`` mentions or links.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_message(messages: Sequence[SinkMessage]) -> dict[str, Any]:
    """Return the webhook body: a fallback ``text`` and one section per event."""
    if len(messages) > MAX_MESSAGES:
        raise ValueError(f"At most {MAX_MESSAGES} events go in one Slack message")

    blocks = [
        {
            "type": "section",
            "block_id": message.key[:MAX_BLOCK_ID],
            "text": {
                "type": "mrkdwn",
                "text": _section_text(message),
            },
        }
        for message in messages
    ]
    first = escape(messages[0].text.splitlines()[0] if messages[0].text else "")
    if len(messages) > 1:
        first = f"{len(messages)} portal events: {first}"
    return {"text": truncate(first or messages[0].kind, MAX_FALLBACK), "blocks": blocks}


def _section_text(message: SinkMessage) -> str:
    # Escaping can lengthen the text; cut after escaping, then make sure no
    # entity was cut in half.
    text = truncate(escape(message.text) or escape(message.kind), MAX_SECTION_TEXT)
    amp = text.rfind("&", max(len(text) - 5, 0))
    if amp != -1 and ";" not in text[amp:]:
        text = text[:amp].rstrip() + "…"
    return text


def slack_code(response: HttpResponse) -> str:
    """Return Slack's error code from a plain-text body, or an empty string."""
    text = response.content[:100].decode("utf-8", "replace").strip()
    return text if _CODE.match(text) else ""


@dataclass(frozen=True)
class SlackWebhookErrors:
    """Map an incoming webhook's plain-text answers to typed errors.

    A frozen dataclass, so equal hooks compare equal and the client factory
    keeps reusing the integration's client (and its open connection).
    """

    def __call__(self, response: HttpResponse) -> errors.IntegrationError | None:
        """Return the error a response means, or None when Slack said ``ok``."""
        if response.status == 429:
            return None
        code = slack_code(response)
        if 200 <= response.status < 300:
            if code == "ok":
                return None
            return errors.InvalidResponse(
                "Slack answered the webhook without 'ok': check the credential is an "
                "incoming webhook URL",
                provider_code=code,
            )

        if code in _REVOKED:
            return errors.NotFound(
                "Slack no longer knows this webhook (removed, or its app uninstalled): "
                "create a new incoming webhook and update the webhook_url credential",
                provider_code=code,
            )
        if code == "channel_not_found" or code == "channel_is_archived":
            return errors.NotFound(
                "The webhook's channel was deleted or archived: create a webhook for a "
                "live channel and update the webhook_url credential",
                provider_code=code,
            )
        if code == "action_prohibited" or response.status == 403:
            return errors.PermissionDenied(
                "The Slack workspace does not let this webhook post here (an admin "
                "restriction)",
                provider_code=code,
            )
        if response.status >= 500:
            return errors.TransientError(
                "Slack failed to post the message", provider_code=code
            )
        return errors.PermanentError(
            f"Slack refused the message ({code or 'no error code'})", provider_code=code
        )
