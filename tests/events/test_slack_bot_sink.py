"""The Slack bot-token sink and course channels, through the real HTTP layer."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.exceptions import ValidationError

from integrations import errors
from integrations.health import check_health
from integrations.models import Credential, Integration
from integrations.providers.slack.channels import (
    InvalidChannelName,
    channel_name,
    create_course_channel,
)
from integrations.registry import get_provider
from portal.events.models import DeliveryStatus
from tests import leakcheck
from tests.events.sinks import emit_many, make_rule, pump, statuses
from tests.fakes import slack
from tests.fakes.slack import SlackWebApiFake

pytestmark = pytest.mark.django_db

leakcheck.secret(slack.BOT_TOKEN)


@pytest.fixture
def slack_api(loopback_http) -> Iterator[SlackWebApiFake]:
    with SlackWebApiFake() as server:
        yield server


def make_bot_sink(
    api: SlackWebApiFake, channel: str = "general", token: str = slack.BOT_TOKEN
) -> Integration:
    sink = Integration(
        name="team-slack-bot",
        provider="slack",
        settings={"channel": channel, "api_url": api.api_url},
        rate_limit_requests=1000,
        rate_limit_window=1,
    )
    sink.full_clean()
    sink.save()
    credential = Credential(integration=sink, key="bot_token")
    credential.set_secret(token)
    credential.save()
    return sink


def test_events_are_posted_to_the_channel_in_batches(slack_api):
    sink = make_bot_sink(slack_api, channel="#general")
    make_rule(sink, "progress.*", template="*{{ integration }}*: {{ percent }}%")
    events = emit_many(12)

    assert pump(sink) == 12

    assert [len(m["blocks"]) for m in slack_api.posted] == [10, 2]
    assert {m["channel"] for m in slack_api.posted} == {"general"}
    assert slack_api.posted[0]["blocks"][0]["text"]["text"] == "*lms*: 0%"
    assert slack_api.delivered_keys() == [f"{e.pk}:{sink.pk}" for e in events]
    sent = slack_api.requests_to("/api/chat.postMessage")[0]
    assert sent.header("Authorization") == f"Bearer {slack.BOT_TOKEN}"
    assert statuses(sink) == {DeliveryStatus.DELIVERED: 12}


def test_a_refused_token_is_dead_as_authentication_failed(slack_api):
    sink = make_bot_sink(slack_api, token="xoxb-0000-wrong-token")
    make_rule(sink, "*")
    emit_many(1)

    pump(sink)

    delivery = sink.deliveries.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.error_code == "authentication_failed"
    assert "invalid_auth" in delivery.error
    assert "wrong-token" not in delivery.error


@pytest.mark.parametrize(
    ("channel", "break_it", "code", "fix"),
    [
        ("C0UNKNOWN9", None, "channel_not_found", "use the channel's id"),
        ("general", "kick", "not_in_channel", "/invite"),
        ("old-news", None, "is_archived", "unarchive"),
    ],
)
def test_channel_problems_are_configuration_errors_with_the_fix(
    slack_api, channel, break_it, code, fix
):
    sink = make_bot_sink(slack_api, channel=channel)
    if break_it:
        getattr(slack_api, break_it)(channel)
    make_rule(sink, "*")
    emit_many(1)

    pump(sink)

    delivery = sink.deliveries.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.error_code == "configuration_error"
    assert code in delivery.error
    assert fix in delivery.error


def test_a_429_waits_as_long_as_retry_after_says(slack_api):
    sink = make_bot_sink(slack_api)
    make_rule(sink, "*")
    emit_many(1)
    slack_api.rate_limit(120)

    pump(sink)

    delivery = sink.deliveries.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "rate_limited"
    wait = (delivery.next_attempt_at - delivery.updated_at).total_seconds()
    assert 100 < wait <= 121


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"channel": "general", "text": "x" * 40_001}, "msg_too_long"),
        (
            {"channel": "general", "blocks": [{"type": "section"}] * 51},
            "invalid_blocks",
        ),
    ],
)
def test_a_message_slack_cannot_take_is_a_permanent_error(slack_api, body, code):
    sink = make_bot_sink(slack_api)
    client = get_provider("slack").build_client(sink)

    with pytest.raises(errors.PermanentError) as caught:
        client.request("POST", "chat.postMessage", json=body)

    assert caught.value.provider_code == code
    assert not caught.value.retryable


def test_health_calls_auth_test_and_sees_a_revoked_token(slack_api):
    sink = make_bot_sink(slack_api)

    assert check_health(sink).status == "healthy"
    slack_api.revoke()
    result = check_health(sink)

    assert result.status == "unhealthy"
    assert "bot_token credential" in result.error
    assert slack_api.requests_to("/api/chat.postMessage") == []


def test_a_token_that_is_not_a_bot_token_is_refused_with_the_fix(slack_api):
    sink = make_bot_sink(slack_api, token="xoxp-user-token-1234")

    result = check_health(sink)

    assert result.status == "unhealthy"
    assert "Bot User OAuth Token (xoxb-...)" in result.error
    assert "xoxp-user" not in result.error
    assert slack_api.count() == 0


def test_a_channel_setting_of_another_shape_names_the_setting(slack_api):
    with pytest.raises(ValidationError) as caught:
        make_bot_sink(slack_api, channel="Course News!")

    assert "channel: 'Course News!' is neither" in str(caught.value)


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Intro to Python 101", "intro-to-python-101"),
        ("Économie & Société: été 2026", "economie-societe-ete-2026"),
        ("  data_science--II  ", "data_science--ii"),
        ("a" * 79 + " b", "a" * 79),
    ],
)
def test_course_titles_become_valid_channel_names(title, name):
    assert channel_name(title) == name


def test_a_title_without_usable_characters_is_refused():
    with pytest.raises(InvalidChannelName, match="no letters or digits"):
        channel_name("日本語 !!!")


def test_a_course_channel_is_created_once_and_found_across_list_pages(slack_api):
    sink = make_bot_sink(slack_api)
    slack_api.add_channels(450)

    first = create_course_channel(sink, "Intro to Python 101")
    again = create_course_channel(sink, "Intro to Python 101")

    assert first.created and not again.created
    assert again.id == first.id
    listed = slack_api.requests_to("/api/conversations.list")
    assert [r.arg("cursor") for r in listed] == [None, "200", "400"]
    assert all(r.arg("limit") == "200" for r in listed)


def test_a_taken_name_the_bot_cannot_see_is_a_configuration_error(slack_api):
    sink = make_bot_sink(slack_api)

    with pytest.raises(errors.ConfigurationError) as caught:
        create_course_channel(sink, "Old News")

    assert caught.value.provider_code == "name_taken"
    assert "unarchive it" in caught.value.message


def test_the_command_creates_a_portal_courses_channel(slack_api):
    from django.core.management import call_command

    from portal.learning.models import Course

    sink = make_bot_sink(slack_api)
    course = Course.objects.create(
        integration=sink, external_id="c1", title="Data Science II"
    )
    out = StringIO()

    call_command("slack_channel", sink.name, "--course", str(course.pk), stdout=out)

    assert "Created channel #data-science-ii (C0NEW" in out.getvalue()
    assert slack.BOT_TOKEN not in out.getvalue()


def test_the_command_refuses_a_sink_of_another_provider(slack_api):
    from django.core.management import CommandError, call_command

    make_bot_sink(slack_api)
    Integration.objects.create(name="hook", provider="slack_webhook")

    with pytest.raises(CommandError, match="uses provider 'slack_webhook'"):
        call_command("slack_channel", "hook", "--title", "x")


def test_the_docs_bot_example_applies_and_posts(slack_api):
    from integrations.declarative import apply_document, parse_document
    from tests.provider_docs import doc_page, yaml_blocks

    blocks = yaml_blocks(doc_page("slack"))
    [text] = [block for block in blocks if "provider: slack\n" in block]
    text = text.replace(
        "      channel: C0123ABCD",
        f"      api_url: {slack_api.api_url}\n      channel: C0GENERAL1",
    )

    apply_document(
        parse_document(text, format="yaml"),
        environ={"SLACK_BOT_TOKEN": slack.BOT_TOKEN},
    )
    sink = Integration.objects.get(name="team-slack-bot")
    make_rule(sink, "*")
    emit_many(1)

    assert pump(sink) == 1
    assert slack_api.posted[0]["channel"] == "C0GENERAL1"


def test_batches_reuse_the_sinks_client(slack_api):
    sink = make_bot_sink(slack_api)
    provider = get_provider("slack")

    assert provider.build_client(sink) is provider.build_client(sink)
