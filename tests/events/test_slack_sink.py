"""The Slack incoming-webhook sink, through the real HTTP layer, on the fake."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations import errors
from integrations.health import check_health
from integrations.providers.base import SinkMessage
from integrations.providers.slack_webhook.client import MAX_SECTION_TEXT, build_message
from integrations.registry import get_provider
from portal.events.models import DeliveryStatus
from portal.events.outbox import emit
from tests.events.sinks import emit_many, make_rule, pump, statuses
from tests.fakes.slack import blocks_valid

pytestmark = pytest.mark.django_db


def message(number: int, text: str) -> SinkMessage:
    return SinkMessage(
        key=f"{number}:9",
        kind="sync.failed",
        subject="integration:lms",
        text=text,
        occurred_at="2026-01-01T00:00:00+00:00",
    )


def test_events_arrive_as_sections_in_batches(slack_sink, slack_fake):
    make_rule(slack_sink, "progress.*", template="*{{ integration }}*: {{ percent }}%")
    events = emit_many(12)

    assert pump(slack_sink) == 12

    assert [len(m["blocks"]) for m in slack_fake.messages] == [10, 2]
    assert slack_fake.delivered_keys() == [f"{e.pk}:{slack_sink.pk}" for e in events]
    assert slack_fake.messages[0]["blocks"][0]["text"]["text"] == "*lms*: 0%"
    assert slack_fake.messages[0]["text"].startswith("10 portal events: ")
    assert statuses(slack_sink) == {DeliveryStatus.DELIVERED: 12}


def test_event_data_cannot_mention_the_channel():
    body = build_message([message(1, "<!channel> & <https://x|y>")])

    text = body["blocks"][0]["text"]["text"]
    assert text == "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"


def test_long_text_is_cut_to_a_section_without_a_broken_entity():
    body = build_message([message(1, "a" * 2996 + "<<<<<<")])

    text = body["blocks"][0]["text"]["text"]
    assert len(text) <= MAX_SECTION_TEXT
    assert text.endswith("…")
    assert not text[:-1].endswith("&") and "&l…" not in text
    assert blocks_valid(body["blocks"])


@pytest.mark.parametrize(
    ("break_it", "code", "error_code"),
    [
        ("revoke", "no_service", "not_found"),
        ("archive_channel", "channel_is_archived", "not_found"),
        ("prohibit", "action_prohibited", "permission_denied"),
    ],
)
def test_refusals_are_dead_with_slacks_code(
    slack_sink, slack_fake, break_it, code, error_code
):
    make_rule(slack_sink, "*")
    emit_many(1)
    getattr(slack_fake, break_it)()

    pump(slack_sink)

    delivery = slack_sink.deliveries.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.error_code == error_code
    assert code in delivery.error
    assert "fakeSlackWebhookSecret" not in delivery.error


def test_server_error_is_retried_later(slack_sink, slack_fake):
    make_rule(slack_sink, "*")
    emit_many(1)
    slack_fake.fail(1)

    pump(slack_sink)

    delivery = slack_sink.deliveries.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "transient_error"
    assert delivery.next_attempt_at is not None


def test_invalid_payload_is_a_permanent_error(slack_sink, slack_fake):
    client = get_provider("slack_webhook").build_client(slack_sink)

    with pytest.raises(errors.PermanentError) as caught:
        client.request(
            "POST",
            "/services/T0PORTAL1/B0PORTAL2/fakeSlackWebhookSecret42",
            data=b"not json",
            headers={"Content-Type": "application/json"},
        )

    assert caught.value.provider_code == "invalid_payload"


def test_health_posts_an_empty_body_and_nothing_reaches_the_channel(
    slack_sink, slack_fake
):
    assert check_health(slack_sink).status == "healthy"
    slack_fake.revoke()
    result = check_health(slack_sink)

    assert result.status == "unhealthy"
    assert "create a new incoming webhook" in result.error
    assert slack_fake.messages == []


def test_template_output_is_escaped_once(slack_sink, slack_fake):
    make_rule(slack_sink, "*", template="{{ who }} finished")
    with transaction.atomic():
        emit("course.completed", payload={"who": "Ada <ada@example.org>"})

    pump(slack_sink)

    text = slack_fake.messages[0]["blocks"][0]["text"]["text"]
    assert text == "Ada &lt;ada@example.org&gt; finished"


def test_batches_reuse_the_sinks_client(slack_sink):
    provider = get_provider("slack_webhook")

    assert provider.build_client(slack_sink) is provider.build_client(slack_sink)
