"""The Slack bot sink: portal events posted by ``chat.postMessage``.

The credential ``bot_token`` (``xoxb-...``) and the setting ``channel`` (an
id such as ``C0123ABCD`` or a name such as ``#course-news``) are the
configuration; up to 10 events go in one message, one section block each,
as the incoming-webhook sink builds them. The same token creates course
channels (integrations/providers/slack/channels.py). docs/providers/slack.md
documents the calls, limits and errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.errors import ConfigurationError
from integrations.http.auth import BearerToken
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    DeliveryResult,
    HealthReport,
    Provider,
    SettingField,
    SinkMessage,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.slack import health
from integrations.providers.slack.client import PUBLIC_API, SlackApiErrors
from integrations.providers.slack_webhook.client import MAX_MESSAGES, build_message
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

#: A conversation id: C (public), G (private or group) or D (direct message).
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")
CHANNEL_NAME = re.compile(r"^#?[a-z0-9_-]{1,80}$")
BOT_PREFIX = "xoxb-"

SETTINGS_SCHEMA = (
    SettingField(
        "channel",
        required=True,
        help="Where events go: a channel id (C0123ABCD, from the channel's "
        "details) or a public channel's name (#course-news).",
    ),
    SettingField(
        "api_url",
        type="url",
        default=PUBLIC_API,
        help="Slack's Web API; change only for a test server.",
    ),
)


@dataclass(frozen=True)
class SlackBotConfig:
    """The checked settings of a Slack bot sink."""

    channel: str
    api_url: str


def parse_settings(values: Any) -> tuple[SlackBotConfig | None, list[str]]:
    """Return the config the settings describe and every problem found."""
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    channel = cleaned["channel"].strip()
    if not (CHANNEL_ID.match(channel) or CHANNEL_NAME.match(channel)):
        problems.append(
            f"channel: {channel[:100]!r} is neither a Slack channel id (C0123ABCD) "
            "nor a channel name (lowercase letters, digits, - and _, at most 80)"
        )

    if problems:
        return None, problems
    return SlackBotConfig(channel=channel.lstrip("#"), api_url=cleaned["api_url"]), []


@register
class SlackBotProvider(Provider):
    """Post portal events to a Slack channel as the app's bot user."""

    slug = "slack"
    title = "Slack (bot token)"
    description = (
        "Posts routed portal events to a channel with chat.postMessage and "
        "creates course channels."
    )
    auth_kind = AuthKind.API_KEY
    requires_base_url = False
    supports_sink = True
    ordered = True
    max_batch = MAX_MESSAGES
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "bot_token",
            kind="api_key",
            help="The app's Bot User OAuth Token (xoxb-...), with the chat:write "
            "scope, and channels:manage and channels:read to create channels.",
        ),
    )
    #: chat.postMessage allows about one message a second per channel.
    default_rate_limit = (1, 1.0)

    def validate_settings(self, settings: dict[str, Any]) -> None:
        """Refuse a channel that is neither an id nor a valid name."""
        refuse_bad_settings(parse_settings, settings)

    def streams(self, integration: Integration) -> list:
        """Return no streams: a sink receives, it does not sync."""
        return []

    def auth_for(self, integration: Integration) -> BearerToken:
        """Send the bot token as a Bearer token; refuse one that is not a bot's."""
        token = integration.secret("bot_token").strip()
        if not token.startswith(BOT_PREFIX):
            raise ConfigurationError(
                f"Integration '{integration.name}': credential 'bot_token' is not a "
                "bot token; copy the Bot User OAuth Token (xoxb-...) from the app's "
                "OAuth & Permissions page.",
                integration=integration.name,
                details={"credential": "bot_token"},
            )
        return BearerToken(token)

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Talk to the Web API, uncached, reading ``ok: false`` answers."""
        config = config_of(integration, parse_settings)
        return {
            "base_url": config.api_url,
            "response_cache": False,
            "error_mapper": SlackApiErrors(),
        }

    def deliver(
        self, integration: Integration, messages: Sequence[SinkMessage]
    ) -> DeliveryResult:
        """Post one message with a section block per event to the channel."""
        config = config_of(integration, parse_settings)
        body = {"channel": config.channel, **build_message(messages)}

        client = self.build_client(integration)
        answer = client.request("POST", "chat.postMessage", json=body).json()

        details = {"channel": str(answer.get("channel", ""))[:40]}
        details["ts"] = str(answer.get("ts", ""))[:40]
        return DeliveryResult(delivered=len(messages), details=details)

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """Call ``auth.test`` with the bot token."""
        return health.check_slack_bot_health(client)
