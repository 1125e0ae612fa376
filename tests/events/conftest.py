"""Fixtures of the event pipeline's tests: Discord and Slack fakes as sinks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.models import Integration
from tests import leakcheck
from tests.events.sinks import make_sink
from tests.fakes import discord, slack
from tests.fakes.discord import DiscordFake
from tests.fakes.slack import SlackFake

leakcheck.secret(discord.WEBHOOK_TOKEN)
leakcheck.secret(slack.SECRET)


@pytest.fixture
def discord_fake(loopback_http) -> Iterator[DiscordFake]:
    with DiscordFake() as server:
        yield server


@pytest.fixture
def slack_fake(loopback_http) -> Iterator[SlackFake]:
    with SlackFake() as server:
        yield server


@pytest.fixture
def discord_sink(db, discord_fake) -> Integration:
    return make_sink("team-discord", "discord", discord_fake.webhook_url)


@pytest.fixture
def slack_sink(db, slack_fake) -> Integration:
    return make_sink("team-slack", "slack_webhook", slack_fake.webhook_url)
