"""Discord's execute-webhook call on the portal's shared HttpClient.

``POST /api/webhooks/{id}/{token}?wait=true`` posts one message of up to 10
embeds; with ``wait=true`` Discord answers 200 and the saved message, so a
message it could not save is an error rather than a silent 204. Embed
limits (title 256, description 4096, footer 2048, 6000 characters over all
embeds of a message) are applied here before sending, because Discord
refuses the whole message with 400 "Invalid Form Body" (code 50035) if one
is exceeded.

Discord docs: https://discord.com/developers/docs/resources/webhook#execute-webhook,
https://discord.com/developers/docs/resources/message#embed-object-embed-limits and
https://discord.com/developers/docs/topics/rate-limits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.http.retry import RateLimitSignal
from integrations.providers.sinks import truncate
from integrations.redaction import redact_text

if TYPE_CHECKING:
    from integrations.http.response import HttpResponse
    from integrations.providers.base import SinkMessage

WEBHOOK_PATH = re.compile(r"/api(?:/v\d+)?/webhooks/\d+/[\w\-]+")
WEBHOOK_EXAMPLE = "https://discord.com/api/webhooks/<id>/<token>"

MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FOOTER = 2048
MAX_TOTAL = 6000
#: Discord's JSON error codes the provider tells apart.
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035


#: Embed colours (``0xRRGGBB``, sent as the integer Discord documents).
ACHIEVEMENT_GOLD = 0xF1C40F


def embed_title(message: SinkMessage) -> str:
    """Return an embed's title: what happened, in words where the kind has some."""
    if message.kind == "achievement.earned":
        name = str(message.payload.get("achievement_name") or "").strip()
        if name:
            return f"Achievement earned: {name}"
    return f"{message.kind} {message.subject}".strip()


def embed_color(message: SinkMessage) -> int | None:
    """Return the colour of an event kind's embed; None keeps Discord's default."""
    if message.kind == "achievement.earned":
        return ACHIEVEMENT_GOLD
    return None


def build_embeds(messages: Sequence[SinkMessage]) -> list[dict[str, Any]]:
    """Return one embed per message, cut to fit Discord's embed limits."""
    if len(messages) > MAX_EMBEDS:
        raise ValueError(f"Discord takes at most {MAX_EMBEDS} embeds a message")

    embeds = []
    for message in messages:
        embed: dict[str, Any] = {
            "title": truncate(embed_title(message), MAX_TITLE),
            "description": message.text,
            "footer": {"text": truncate(message.key, MAX_FOOTER)},
            "timestamp": message.occurred_at,
        }
        color = embed_color(message)
        if color is not None:
            embed["color"] = color
        embeds.append(embed)
    _fit_descriptions(embeds)
    return embeds


def _fit_descriptions(embeds: list[dict[str, Any]]) -> None:
    """Share what the 6000-character budget leaves among the descriptions.

    Titles and footers are counted first; short descriptions keep their
    length and what they leave goes to the longer ones, each at most 4096.
    """
    fixed = sum(len(embed["title"]) + len(embed["footer"]["text"]) for embed in embeds)
    budget = max(MAX_TOTAL - fixed, 0)
    order = sorted(range(len(embeds)), key=lambda i: len(embeds[i]["description"]))

    for position, index in enumerate(order):
        share = budget // (len(order) - position)
        limit = min(share, MAX_DESCRIPTION)
        description = truncate(embeds[index]["description"], limit)
        embeds[index]["description"] = description
        budget -= len(description)


def embed_characters(embeds: Sequence[dict[str, Any]]) -> int:
    """Return the characters Discord counts toward the 6000 limit."""
    total = 0
    for embed in embeds:
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", ""))
    return total


def _discord_error(response: HttpResponse) -> tuple[int | None, str]:
    try:
        body = response.json()
    except errors.InvalidResponse:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    message = body.get("message", "")
    return (code if isinstance(code, int) else None), redact_text(str(message))[:200]


@dataclass(frozen=True)
class DiscordErrors:
    """Map Discord's error answers to the portal's typed errors.

    A frozen dataclass, so equal hooks compare equal and the client factory
    keeps reusing the integration's client (and its open connection).
    """

    def __call__(self, response: HttpResponse) -> errors.IntegrationError | None:
        """Return the error a response means, or None to let the status decide."""
        if response.status < 400 or response.status == 429:
            return None
        code, message = _discord_error(response)
        provider_code = str(code) if code is not None else ""

        if code == UNKNOWN_WEBHOOK or response.status == 404:
            return errors.NotFound(
                "Discord does not know this webhook (deleted, or its channel was): "
                "create a new webhook and update the webhook_url credential",
                provider_code=provider_code,
            )
        if code == INVALID_WEBHOOK_TOKEN or response.status == 401:
            return errors.AuthenticationFailed(
                "Discord refused the webhook token: copy the webhook URL again into "
                "the webhook_url credential",
                provider_code=provider_code,
            )
        if response.status == 403:
            return errors.PermissionDenied(
                "Discord does not let this webhook post here",
                provider_code=provider_code,
            )
        if response.status >= 500:
            return None
        return errors.PermanentError(
            f"Discord refused the message: {message or 'no reason given'}",
            provider_code=provider_code,
        )


@dataclass(frozen=True)
class DiscordThrottle:
    """Read the wait of a Discord 429 from its JSON ``retry_after``.

    The ``Retry-After`` header, when present, wins in the HTTP layer; this
    covers answers that carry only the body's value (float seconds).

    A frozen dataclass, so equal hooks compare equal and the client factory
    keeps reusing the integration's client (and its open connection).
    """

    def __call__(self, response: HttpResponse) -> RateLimitSignal | None:
        """Return the wait Discord asked for, or None for other answers."""
        if response.status != 429:
            return None
        try:
            body = response.json()
        except errors.InvalidResponse:
            return RateLimitSignal(limited=True)
        wait = body.get("retry_after") if isinstance(body, dict) else None
        if isinstance(wait, bool) or not isinstance(wait, int | float):
            return RateLimitSignal(limited=True)
        if not math.isfinite(wait) or wait < 0:
            return RateLimitSignal(limited=True)
        return RateLimitSignal(retry_after=float(wait), limited=True)
