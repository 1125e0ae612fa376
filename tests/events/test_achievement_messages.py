"""``achievement.earned`` in chat: a gold Discord embed and a Slack section."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction

from integrations.models import Integration
from integrations.providers.base import SinkMessage
from integrations.providers.discord.client import (
    ACHIEVEMENT_GOLD,
    MAX_TITLE,
    MAX_TOTAL,
    build_embeds,
    embed_characters,
)
from portal.achievements.models import Achievement, Criterion
from portal.events.domain import course_completed
from portal.learning.models import Course, Progress
from tests.achievements.helpers import make_learner
from tests.events.sinks import make_rule, pump
from tests.fakes.discord import form_errors
from tests.fakes.slack import blocks_valid

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "achievements.md"


def documented_template() -> str:
    """Return the example template of docs/achievements.md, so both agree."""
    text = DOC.read_text().split("### Messages in Discord and Slack", 1)[1]
    return text.split("```\n", 2)[1].strip()


TEMPLATE = documented_template()


def earn(name: str = "First course") -> Progress:
    """Complete a course in its own transaction, earning ``name``."""
    Achievement.objects.create(
        name=name, slug="first", criterion=Criterion.COURSE_COMPLETED
    )
    lms = Integration.objects.create(name="lms", provider="rest")
    course = Course.objects.create(
        integration=lms, external_id="c1", title="Biology", content_hash="h"
    )
    progress = Progress.objects.create(
        integration=course.integration,
        course=course,
        learner=make_learner("ada"),
        external_id="p1",
        percent=100,
        content_hash="h",
    )
    with transaction.atomic():
        course_completed(progress, "lms", "api")
    return progress


def achievement_message(number: int, name: str, text: str) -> SinkMessage:
    return SinkMessage(
        key=f"{number}:1",
        kind="achievement.earned",
        subject=f"earned_achievement:{number}",
        text=text,
        occurred_at="2026-01-01T00:00:00+00:00",
        payload={"achievement_name": name, "learner_id": 7},
    )


def test_an_earned_achievement_is_a_gold_embed_titled_with_its_name(
    discord_sink, discord_fake
):
    make_rule(discord_sink, "achievement.earned", template=TEMPLATE)
    progress = earn()

    assert pump(discord_sink) == 1

    [embed] = discord_fake.messages[0]["embeds"]
    assert embed["title"] == "Achievement earned: First course"
    assert embed["color"] == ACHIEVEMENT_GOLD
    learner, course = progress.learner_id, progress.course_id
    assert embed["description"] == (
        f"First course: learner {learner} earned it in course {course}."
    )


def test_other_events_keep_their_title_and_no_colour(discord_sink, discord_fake):
    make_rule(discord_sink, "course.completed", template="done")
    earn()

    assert pump(discord_sink) == 1

    [embed] = discord_fake.messages[0]["embeds"]
    assert embed["title"].startswith("course.completed progress:")
    assert "color" not in embed


def test_long_achievement_embeds_stay_within_discords_limits():
    messages = [achievement_message(n, "N" * 300, "d" * 5000) for n in range(10)]

    embeds = build_embeds(messages)

    assert all(len(embed["title"]) <= MAX_TITLE for embed in embeds)
    assert embeds[0]["title"].startswith("Achievement earned: NNN")
    assert embed_characters(embeds) <= MAX_TOTAL
    assert form_errors({"embeds": embeds}) == {}


def test_an_achievement_without_a_name_falls_back_to_kind_and_subject():
    [embed] = build_embeds([achievement_message(1, "", "x")])

    assert embed["title"] == "achievement.earned earned_achievement:1"
    assert embed["color"] == ACHIEVEMENT_GOLD


def test_the_fake_refuses_a_colour_discord_would_not_take():
    for color, code in (("#f1c40f", "NUMBER_TYPE_COERCE"), (2**24, "NUMBER_TYPE_MAX")):
        body = {"embeds": [{"title": "t", "color": color}]}
        found = form_errors(body)["embeds"]["0"]["color"]["_errors"][0]["code"]
        assert found == code


def test_an_earned_achievement_reads_well_in_slack(slack_sink, slack_fake):
    make_rule(slack_sink, "achievement.earned", template=TEMPLATE)
    progress = earn(name="<Top> & Co")

    assert pump(slack_sink) == 1

    [block] = slack_fake.messages[0]["blocks"]
    assert block["text"]["text"] == (
        f"&lt;Top&gt; &amp; Co: learner {progress.learner_id} earned it in course "
        f"{progress.course_id}."
    )
    assert blocks_valid(slack_fake.messages[0]["blocks"])
