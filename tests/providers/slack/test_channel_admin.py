"""The Courses action that creates Slack channels, through the admin and HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission

from integrations.models import Credential, Integration
from integrations.providers.slack.admin_actions import MAX_COURSES
from portal.learning.models import Course
from tests import leakcheck
from tests.fakes import slack
from tests.fakes.slack import SlackWebApiFake

pytestmark = pytest.mark.django_db

leakcheck.secret(slack.BOT_TOKEN)
COURSES = "/admin/learning/course/"
ACTION = "create_slack_channels"


@pytest.fixture(autouse=True)
def _cheap_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def slack_api(loopback_http) -> Iterator[SlackWebApiFake]:
    with SlackWebApiFake() as server:
        yield server


def make_bot(api: SlackWebApiFake, name: str = "team-slack-bot") -> Integration:
    bot = Integration.objects.create(
        name=name,
        provider="slack",
        settings={"channel": "general", "api_url": api.api_url},
        rate_limit_requests=1000,
        rate_limit_window=1,
    )
    credential = Credential(integration=bot, key="bot_token")
    credential.set_secret(slack.BOT_TOKEN)
    credential.save()
    return bot


def make_courses(*titles: str) -> list[Course]:
    lms = Integration.objects.get_or_create(name="lms", provider="rest")[0]
    return [
        Course.objects.create(integration=lms, external_id=f"c{n}", title=title)
        for n, title in enumerate(titles)
    ]


def select(client, courses: list[Course], **confirmed: str):
    """Choose the action on ``courses``; with ``confirmed``, also confirm it."""
    data = {"action": ACTION, "_selected_action": [str(c.pk) for c in courses]}
    if confirmed:
        data.update({"post": "yes", **confirmed})
    return client.post(COURSES, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def created_names(api: SlackWebApiFake) -> list[str]:
    return [r.json()["name"] for r in api.requests_to("/api/conversations.create")]


def test_the_page_shows_each_channel_name_and_creates_nothing_yet(
    admin_client, slack_api
):
    make_bot(slack_api)
    courses = make_courses("Économie & Société: été 2026", "日本語")

    page = select(admin_client, courses)

    html = page.content.decode()
    assert page.status_code == 200
    assert "#economie-societe-ete-2026" in html
    assert "has no letters or digits Slack allows" in html
    assert "<select" not in html, "one bot integration needs no choice"
    assert "team-slack-bot" in html
    assert created_names(slack_api) == []


def test_confirming_creates_the_channels_and_says_so(admin_client, slack_api):
    bot = make_bot(slack_api)
    courses = make_courses("Data Science II", "Intro to Python")

    response = select(admin_client, courses, integration=str(bot.pk))

    assert response.redirect_chain[-1][0] == COURSES
    assert created_names(slack_api) == ["data-science-ii", "intro-to-python"]
    [message] = messages_of(response)
    assert message == (
        "Created with team-slack-bot: #data-science-ii (Data Science II), "
        "#intro-to-python (Intro to Python)."
    )
    create = slack_api.requests_to("/api/conversations.create")[0]
    assert create.json()["is_private"] is False
    assert slack.BOT_TOKEN not in response.content.decode()


def test_the_admin_chooses_among_several_bots_and_private_channels(
    admin_client, loopback_http
):
    with SlackWebApiFake() as first, SlackWebApiFake() as second:
        make_bot(first, "bot-a")
        chosen = make_bot(second, "bot-b")
        [course] = make_courses("Robotics")

        page = select(admin_client, [course])
        assert "<select" in page.content.decode()
        response = select(
            admin_client, [course], integration=str(chosen.pk), private="on"
        )

        assert created_names(first) == []
        assert created_names(second) == ["robotics"]
        assert second.requests_to("/api/conversations.create")[0].json() == {
            "name": "robotics",
            "is_private": True,
        }
        assert messages_of(response) == ["Created with bot-b: #robotics (Robotics)."]


def test_a_taken_name_reports_the_existing_channel_and_goes_on(admin_client, slack_api):
    bot = make_bot(slack_api)
    courses = make_courses("General", "Old News", "Chemistry")

    response = select(admin_client, courses, integration=str(bot.pk))

    texts = messages_of(response)
    assert "Created with team-slack-bot: #chemistry (Chemistry)." in texts
    assert (
        "General: the channel #general already exists in Slack (C0GENERAL1); "
        "nothing was created" in texts
    )
    [old] = [text for text in texts if text.startswith("Old News:")]
    assert "is taken, but the bot cannot see that channel" in old
    assert "unarchive it" in old


def test_a_missing_scope_is_named_and_stops_the_rest(admin_client, slack_api):
    bot = make_bot(slack_api)
    slack_api.scopes.discard("channels:manage")
    courses = make_courses("Algebra", "Biology", "Chemistry")

    response = select(admin_client, courses, integration=str(bot.pk))

    [message] = messages_of(response)
    assert message.startswith("The bot token lacks the channels:manage scope:")
    assert "reinstall the app" in message
    assert message.endswith("Not created: Algebra, Biology, Chemistry.")
    assert len(slack_api.requests_to("/api/conversations.create")) == 1


def test_private_channels_need_groups_write(admin_client, slack_api):
    bot = make_bot(slack_api)
    slack_api.scopes.discard("groups:write")
    [course] = make_courses("Algebra")

    response = select(admin_client, [course], integration=str(bot.pk), private="on")

    [message] = messages_of(response)
    assert "lacks the groups:write scope" in message


def test_a_workspace_that_forbids_new_channels_says_whom_to_ask(
    admin_client, slack_api
):
    bot = make_bot(slack_api)
    slack_api.restrict()
    [course] = make_courses("Algebra")

    response = select(admin_client, [course], integration=str(bot.pk))

    [message] = messages_of(response)
    assert "ask a workspace admin to allow it" in message


def test_a_revoked_token_says_to_store_a_new_one(admin_client, slack_api):
    bot = make_bot(slack_api)
    slack_api.revoke()
    courses = make_courses("Algebra", "Biology")

    response = select(admin_client, courses, integration=str(bot.pk))

    [message] = messages_of(response)
    assert "Slack refused the bot token" in message
    assert message.endswith("Not created: Algebra, Biology.")


def test_without_a_slack_bot_integration_the_admin_is_told_how_to_add_one(
    admin_client, loopback_http
):
    courses = make_courses("Algebra")

    response = select(admin_client, courses)

    [message] = messages_of(response)
    assert "No enabled Slack bot integration" in message
    assert "Slack (bot token)" in message


def test_too_many_courses_are_refused(admin_client, slack_api):
    make_bot(slack_api)
    courses = make_courses(*(f"Course {n}" for n in range(MAX_COURSES + 1)))

    response = select(admin_client, courses)

    [message] = messages_of(response)
    assert f"Select at most {MAX_COURSES} courses" in message
    assert created_names(slack_api) == []


def test_staff_who_may_not_change_integrations_cannot_use_the_bot(
    client, django_user_model, slack_api
):
    bot = make_bot(slack_api)
    courses = make_courses("Algebra")
    staff = django_user_model.objects.create_user("viewer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_course"))
    client.force_login(staff)

    response = select(client, courses, integration=str(bot.pk))

    [message] = messages_of(response)
    assert "needs the permission to change integrations" in message
    assert created_names(slack_api) == []


def test_a_rate_limit_stops_and_lists_the_courses_to_try_again(admin_client, slack_api):
    bot = make_bot(slack_api)
    courses = make_courses("Algebra", "Biology")
    slack_api.rate_limit(120)

    response = select(admin_client, courses, integration=str(bot.pk))

    [message] = messages_of(response)
    assert "rate limiting" in message
    assert "Slack asks to wait until" in message
    assert message.endswith("Not created: Algebra, Biology.")
    assert [c["name"] for c in slack_api.channels if c["name"] == "algebra"] == []
