"""The Slack sink: portal events posted to a channel by an incoming webhook.

The credential ``webhook_url`` (``https://hooks.slack.com/services/T/B/X``)
is the whole configuration; up to 10 events go in one message, one section
block each. docs/providers/slack.md documents the calls, limits and errors.
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
from integrations.providers.sinks import WebhookSink
from integrations.providers.slack_webhook import health
from integrations.providers.slack_webhook.client import (
    MAX_MESSAGES,
    WEBHOOK_EXAMPLE,
    WEBHOOK_PATH,
    SlackWebhookErrors,
    build_message,
)
from integrations.registry import register

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration


@register
class SlackWebhookProvider(WebhookSink):
    """Post portal events to a Slack channel through an incoming webhook."""

    slug = "slack_webhook"
    title = "Slack incoming webhook"
    description = "Posts routed portal events to a Slack channel's incoming webhook."
    credential_schema = (
        CredentialField(
            "webhook_url",
            kind="api_key",
            help="The incoming webhook's URL (your Slack app, Incoming Webhooks). "
            "It embeds the webhook's secret.",
        ),
    )
    webhook_path = WEBHOOK_PATH
    webhook_example = WEBHOOK_EXAMPLE
    max_batch = MAX_MESSAGES
    #: Slack allows about one message a second per webhook, with bursts.
    default_rate_limit = (1, 1.0)

    def sink_client_options(self, integration: Integration) -> dict[str, Any]:
        """Read Slack's plain-text answers."""
        return {"error_mapper": SlackWebhookErrors()}

    def deliver(
        self, integration: Integration, messages: Sequence[SinkMessage]
    ) -> DeliveryResult:
        """POST one message with a section block per event."""
        _, path = self.webhook(integration)

        client = self.build_client(integration)
        client.request("POST", path, json=build_message(messages))

        return DeliveryResult(delivered=len(messages))

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """POST an empty body (posts nothing) and read what Slack refuses."""
        _, path = self.webhook(integration)
        return health.check_slack_health(client, path)
