"""The Discord sink: portal events posted to a channel through a webhook.

The credential ``webhook_url`` (``https://discord.com/api/webhooks/<id>/
<token>``) is the whole configuration; up to 10 events go in one message,
one embed each. docs/providers/discord.md documents the calls, limits and
errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from integrations.providers.base import (
    CredentialField,
    DeliveryResult,
    HealthReport,
    SinkMessage,
)
from integrations.providers.discord import health
from integrations.providers.discord.client import (
    MAX_EMBEDS,
    WEBHOOK_EXAMPLE,
    WEBHOOK_PATH,
    DiscordErrors,
    DiscordThrottle,
    build_embeds,
)
from integrations.providers.sinks import WebhookSink
from integrations.registry import register

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration


@register
class DiscordProvider(WebhookSink):
    """Post portal events to a Discord channel as embeds."""

    slug = "discord"
    title = "Discord webhook"
    description = "Posts routed portal events to a Discord channel's webhook."
    credential_schema = (
        CredentialField(
            "webhook_url",
            kind="api_key",
            help="The channel webhook's URL (Server Settings, Integrations, "
            "Webhooks, Copy Webhook URL). It embeds the webhook's token.",
        ),
    )
    webhook_path = WEBHOOK_PATH
    webhook_example = WEBHOOK_EXAMPLE
    max_batch = MAX_EMBEDS
    #: Discord allows about 5 requests per 2 s on one webhook (its headers
    #: say exactly); staying under avoids most 429s.
    default_rate_limit = (5, 2.0)

    def sink_client_options(self, integration: Integration) -> dict[str, Any]:
        """Read Discord's JSON errors and the ``retry_after`` of its 429s."""
        return {
            "error_mapper": DiscordErrors(),
            "rate_limit_signals": DiscordThrottle(),
        }

    def deliver(
        self, integration: Integration, messages: Sequence[SinkMessage]
    ) -> DeliveryResult:
        """POST one message with an embed per event, waiting for Discord to save it."""
        _, path = self.webhook(integration)
        body = {
            "embeds": build_embeds(messages),
            # Event data must never ping @everyone or a role.
            "allowed_mentions": {"parse": []},
        }

        client = self.build_client(integration)
        response = client.request("POST", path, params={"wait": "true"}, json=body)

        saved = response.json() if response.status == 200 else {}
        message_id = saved.get("id", "") if isinstance(saved, dict) else ""
        return DeliveryResult(
            delivered=len(messages), details={"message_id": message_id}
        )

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """GET the webhook (posts nothing) and report whether it still exists."""
        _, path = self.webhook(integration)
        return health.check_discord_health(client, path)
