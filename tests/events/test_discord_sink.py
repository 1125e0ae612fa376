"""The Discord sink, through the real HTTP layer, against the loopback fake."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations import errors
from integrations.health import check_health
from integrations.providers.base import SinkMessage
from integrations.providers.discord.client import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    MAX_TOTAL,
    build_embeds,
    embed_characters,
)
from integrations.registry import get_provider
from portal.events.models import DeliveryStatus
from portal.events.outbox import emit
from tests.events.sinks import emit_many, make_rule, make_sink, pump, statuses
from tests.fakes.discord import form_errors

pytestmark = pytest.mark.django_db


def message(number: int, text: str, kind: str = "progress.updated") -> SinkMessage:
    return SinkMessage(
        key=f"{number}:1",
        kind=kind,
        subject=f"progress:{number}",
        text=text,
        occurred_at="2026-01-01T00:00:00+00:00",
    )


def test_events_arrive_as_embeds_in_batches_of_ten(discord_sink, discord_fake):
    make_rule(discord_sink, "progress.*", template="{{ percent }}% done")
    events = emit_many(23)

    delivered = pump(discord_sink)

    assert delivered == 23
    assert [len(m["embeds"]) for m in discord_fake.messages] == [10, 10, 3]
    keys = [f"{event.pk}:{discord_sink.pk}" for event in events]
    assert discord_fake.delivered_keys() == keys
    first = discord_fake.messages[0]["embeds"][0]
    assert first["description"] == "0% done"
    assert first["title"] == "progress.updated progress:0"
    assert discord_fake.messages[0]["allowed_mentions"] == {"parse": []}
    assert all(
        r.arg("wait") == "true" for r in discord_fake.requests if r.method == "POST"
    )
    assert statuses(discord_sink) == {DeliveryStatus.DELIVERED: 23}


def test_embeds_are_cut_to_discords_limits():
    messages = [message(n, "x" * 5000, kind="k" * 300) for n in range(10)]

    embeds = build_embeds(messages)

    assert all(len(embed["title"]) <= MAX_TITLE for embed in embeds)
    assert all(len(embed["description"]) <= MAX_DESCRIPTION for embed in embeds)
    assert embed_characters(embeds) <= MAX_TOTAL
    assert all(embed["description"].endswith("…") for embed in embeds)
    assert form_errors({"embeds": embeds}) == {}


def test_short_descriptions_keep_their_length_and_long_ones_share_the_rest():
    messages = [message(0, "short"), message(1, "y" * 9000)]

    embeds = build_embeds(messages)

    assert embeds[0]["description"] == "short"
    assert len(embeds[1]["description"]) == MAX_DESCRIPTION
    assert form_errors({"embeds": embeds}) == {}


def test_oversized_events_are_delivered_truncated(discord_sink, discord_fake):
    make_rule(discord_sink, "*", template="{{ long }}")
    for _ in range(4):
        with transaction.atomic():
            emit("report.ready", subject="s", payload={"long": "z" * 4000})

    assert pump(discord_sink) == 4
    assert embed_characters(discord_fake.messages[0]["embeds"]) <= MAX_TOTAL


def test_deleted_webhook_is_dead_at_once_with_the_fix(discord_sink, discord_fake):
    make_rule(discord_sink, "*")
    emit_many(1)
    discord_fake.delete_webhook()

    pump(discord_sink)

    delivery = discord_sink.deliveries.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.error_code == "not_found"
    assert "update the webhook_url credential" in delivery.error
    assert "fake-discord-webhook-token" not in delivery.error


def test_wrong_token_is_authentication_failed(db, discord_fake):
    bad = discord_fake.webhook_url.rsplit("/", 1)[0] + "/wrong-token-000000"
    sink = make_sink("bad-discord", "discord", bad)

    with pytest.raises(errors.AuthenticationFailed):
        get_provider("discord").deliver(sink, [message(1, "hi")])


def test_webhook_url_of_another_shape_is_a_configuration_error(db, discord_fake):
    sink = make_sink("odd", "discord", discord_fake.url_for("/not/a/webhook/123456"))

    with pytest.raises(errors.ConfigurationError) as caught:
        get_provider("discord").deliver(sink, [message(1, "hi")])

    assert "credential 'webhook_url'" in str(caught.value)
    assert "/not/a/webhook" not in str(caught.value)


def test_health_gets_the_webhook_and_posts_nothing(discord_sink, discord_fake):
    assert check_health(discord_sink).status == "healthy"
    discord_fake.delete_webhook()
    result = check_health(discord_sink)

    assert result.status == "unhealthy"
    assert "create a new webhook" in result.error
    assert discord_fake.messages == []


def test_batches_reuse_the_sinks_client(discord_sink):
    provider = get_provider("discord")

    assert provider.build_client(discord_sink) is provider.build_client(discord_sink)
