"""Every provider the portal registers passes ``integrations test`` as documented.

For each slug in the registry, the example of its page in docs/providers/ is
applied with ``integrations apply`` (its URLs pointed at the provider's
loopback fake, its secrets given through ``${ENV_VAR}``), then:

1. ``integrations test NAME`` exits 0, names the integration healthy and
   lists one preview row per stream (a sink has no streams: its health
   check is the whole test);
2. with a wrong credential, or a revoked webhook, it exits non-zero and
   names the authentication failure, never the secret (tests/leakcheck.py
   watches the output).

A provider registered without a case in :data:`CASES` fails this module,
saying what to add (docs/testing.md).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import yaml

from integrations.models import Integration
from integrations.registry import all_providers, get_provider
from portal.assessment.models import Question, QuestionKind, Quiz
from portal.assessment.publish import publish_quiz
from portal.learning.models import Course
from tests import leakcheck
from tests.commands.conftest import CommandResult, run_integrations
from tests.fakes import discord, ga4, mixpanel, slack
from tests.fakes.canvas import CanvasFake
from tests.fakes.discord import DiscordFake
from tests.fakes.ga4 import Ga4Fake
from tests.fakes.github import GitHubFake
from tests.fakes.gitlab import GitLabFake
from tests.fakes.json_api import JsonApiFake, demo_collections
from tests.fakes.mixpanel import MixpanelFake
from tests.fakes.moodle import MoodleFake, demo_site
from tests.fakes.quiz_platform import QuizPlatformFake
from tests.fakes.slack import SlackFake, SlackWebApiFake
from tests.fakes.smtp import SmtpFake
from tests.fakes.vimeo import VimeoFake
from tests.fakes.youtube import YouTubeFake
from tests.provider_docs import documented_example

pytestmark = pytest.mark.django_db

#: A credential no fake accepts, given where the right one was.
WRONG = leakcheck.secret("wrong-credential-0000000000000000")
WRONG_BOT_TOKEN = leakcheck.secret("xoxb-1111111111-2222222222-wrongSlackBotToken0")


def portal_provider_slugs() -> list[str]:
    """Return the slugs the portal registers, leaving out test-only providers."""
    return [
        provider.slug
        for provider in all_providers()
        if type(provider).__module__.startswith("integrations.providers.")
    ]


@dataclass
class Served:
    """A provider's fake, running, and what the documented example needs to use it.

    ``urls`` maps a key of the example (``base_url`` or ``settings.<name>``)
    to the fake's URL that replaces the documented one; ``env`` gives each
    ``${VAR}`` of the example the secret the fake accepts. A wrong
    credential is ``wrong_env`` (applied again over ``env``) or ``refuse``
    (the service stops accepting what the portal has, as for a deleted
    webhook); ``names`` is what the failed test's output must then say.
    """

    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    wrong_env: dict[str, str] = field(default_factory=dict)
    refuse: Callable[[], None] | None = None
    names: str = "authentication failed"
    #: Records the streams read from the portal itself, made once applied.
    after_apply: Callable[[Integration], None] | None = None


#: What a case gets: the fakes' stack, the documented example (a copy, to
#: read ids from), the test's request (for fixtures such as moto's server).
CaseSetUp = Callable[[ExitStack, dict[str, Any], pytest.FixtureRequest], Served]
CASES: dict[str, CaseSetUp] = {}

#: Providers whose ``integrations test`` cannot notice a wrong credential,
#: with the reason; they still pass step 1.
NO_AUTH_CHECK = {
    "ga4": "GA4's validation server does not check api_secret (Google documents "
    "it), so no call the health check can make refuses a wrong one.",
}


def case(slug: str) -> Callable[[CaseSetUp], CaseSetUp]:
    """Register the set-up of provider ``slug``'s fake."""

    def register(set_up: CaseSetUp) -> CaseSetUp:
        CASES[slug] = set_up
        return set_up

    return register


def token_served(base_url: str, variable: str, token: str) -> Served:
    """Serve a provider of one token credential given by ``${variable}``."""
    return Served(
        urls={"base_url": base_url}, env={variable: token}, wrong_env={variable: WRONG}
    )


def webhook_served(variable: str, url: str, revoke: Callable[[], None]) -> Served:
    """Serve a sink whose one credential is a webhook URL given by ``${variable}``.

    A revoked webhook is no authentication error (the services answer 404):
    the output must name the credential to replace.
    """
    return Served(
        env={variable: leakcheck.secret(url)},
        refuse=revoke,
        names="webhook_url credential",
    )


# -- learning platforms --------------------------------------------------


@case("canvas")
def serve_canvas(stack: ExitStack, example: dict, request) -> Served:
    token = leakcheck.secret("canvas-contract-token-5d1e8b")
    fake = stack.enter_context(CanvasFake.school(token=token))
    return token_served(fake.base_url, "CANVAS_TOKEN", token)


@case("moodle")
def serve_moodle(stack: ExitStack, example: dict, request) -> Served:
    token = leakcheck.secret("moodle-contract-token-0c9d2e4f")
    fake = stack.enter_context(demo_site(MoodleFake(token=token)))
    return token_served(fake.base_url, "MOODLE_TOKEN", token)


@case("rest")
def serve_rest(stack: ExitStack, example: dict, request) -> Served:
    token = leakcheck.secret("rest-contract-token-77aa")
    fake = stack.enter_context(
        JsonApiFake(collections=demo_collections(), token=token, page_size=2)
    )
    return token_served(fake.base_url, "REST_API_TOKEN", token)


@case("quiz_platform")
def serve_quiz_platform(stack: ExitStack, example: dict, request) -> Served:
    token = leakcheck.secret("quiz-contract-token-31f0")
    fake = stack.enter_context(QuizPlatformFake(token=token))

    def publish_a_quiz_with_a_result(integration: Integration) -> None:
        # The results stream reads the quizzes published from the portal.
        lms = Integration.objects.create(name="lms", provider="rest", settings={})
        course = Course.objects.create(integration=lms, external_id="c1", title="Cells")
        quiz = Quiz.objects.create(course=course, title="Cells")
        Question.objects.create(
            quiz=quiz,
            kind=QuestionKind.TRUE_FALSE,
            prompt="Cells divide.",
            points=Decimal("1"),
            correct_answer=True,
        )
        publish_quiz(quiz, integration)
        fake.add_result(
            quiz.external_id,
            id="r1",
            learner={"id": "u-ada", "email": "ada@example.edu"},
            score=1,
            max_score=1,
            answers=[],
            submitted_at="2026-03-01T10:00:00Z",
        )

    served = token_served(fake.base_url, "QUIZ_PLATFORM_TOKEN", token)
    served.after_apply = publish_a_quiz_with_a_result
    return served


# -- media and repositories ----------------------------------------------


@case("youtube")
def serve_youtube(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(YouTubeFake())
    settings = example["settings"]
    channel = fake.add_channel("School", channel_id=settings["channel_id"])
    welcome = fake.add_video(channel, "Welcome")["id"]
    for playlist_id in settings["playlist_ids"]:
        fake.add_playlist(channel, "Lectures", playlist_id=playlist_id)
        fake.add_to_playlist(playlist_id, welcome)
    return token_served(fake.api_url, "YOUTUBE_API_KEY", fake.add_api_key())


@case("vimeo")
def serve_vimeo(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(VimeoFake())
    settings = example["settings"]
    school = fake.add_user("School of Film")
    lessons = [fake.add_video(school, f"Lesson {n}")["uri"] for n in (1, 2)]
    for showcase_id in settings["showcase_ids"]:
        ids = [uri.rsplit("/", 1)[-1] for uri in lessons]
        fake.add_showcase(school, "Course", ids, album_id=showcase_id)
    for video_id in settings["video_ids"]:
        fake.add_video(school, "Guest talk", video_id=video_id)
    return token_served(
        fake.url, "VIMEO_ACCESS_TOKEN", leakcheck.secret(fake.add_token(school))
    )


@case("github")
def serve_github(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(GitHubFake())
    teacher = fake.add_user(583231, "teacher")
    fake.add_org(9, example["settings"]["org"], members=[teacher])
    fake.add_org_repo(example["settings"]["org"], "syllabus", readme="Week 1")
    return token_served(
        fake.api_url,
        "GITHUB_TOKEN",
        leakcheck.secret(fake.issue_token(teacher, ["repo"])),
    )


@case("gitlab")
def serve_gitlab(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(GitLabFake(prefix="/gitlab"))
    teacher = fake.add_user(4242, "teacher")
    group = example["settings"]["group"]
    fake.add_project(teacher, "week-1", namespace=group, files=["a.py"])
    return token_served(fake.api_url, "GITLAB_TOKEN", fake.add_personal_token(teacher))


# -- event sinks -----------------------------------------------------------


@case("ga4")
def serve_ga4(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(Ga4Fake())
    return Served(
        urls={"settings.endpoint": fake.url},
        env={"GA4_API_SECRET": leakcheck.secret(ga4.API_SECRET)},
    )


@case("mixpanel")
def serve_mixpanel(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(MixpanelFake())
    return Served(
        urls={"settings.api_host": fake.url},
        env={
            "MIXPANEL_TOKEN": leakcheck.secret(mixpanel.PROJECT_TOKEN),
            "MIXPANEL_API_SECRET": leakcheck.secret(mixpanel.API_SECRET),
        },
        # Only /import checks a secret; /track ignores the project token.
        wrong_env={"MIXPANEL_API_SECRET": WRONG},
    )


@case("slack_webhook")
def serve_slack_webhook(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(SlackFake())
    # A revoked webhook answers 404 no_service.
    return webhook_served("SLACK_WEBHOOK_URL", fake.webhook_url, fake.revoke)


@case("slack")
def serve_slack(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(SlackWebApiFake())
    channel = str(example["settings"]["channel"])
    fake.channels.append(
        {"id": channel, "name": "course-news", "is_archived": False, "member": True}
    )
    return Served(
        urls={"settings.api_url": fake.api_url},
        env={"SLACK_BOT_TOKEN": leakcheck.secret(slack.BOT_TOKEN)},
        # Shaped as a bot token, or the provider refuses it before calling.
        wrong_env={"SLACK_BOT_TOKEN": WRONG_BOT_TOKEN},
    )


@case("discord")
def serve_discord(stack: ExitStack, example: dict, request) -> Served:
    fake = stack.enter_context(DiscordFake())
    leakcheck.secret(discord.WEBHOOK_TOKEN)
    # A deleted webhook answers 404 Unknown Webhook (code 10015).
    return webhook_served("DISCORD_WEBHOOK_URL", fake.webhook_url, fake.delete_webhook)


@case("email")
def serve_email(stack: ExitStack, example: dict, request) -> Served:
    # Mail goes through Django's mail backend, whose login is the portal's
    # EMAIL_HOST_USER/EMAIL_HOST_PASSWORD: the example has no URL or secret.
    # A loopback SMTP server stands in for the mail server.
    settings = request.getfixturevalue("settings")
    password = leakcheck.secret("smtp-contract-password-8e2f")
    server = stack.enter_context(SmtpFake(username="portal", password=password))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "portal", password
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    def change_password() -> None:
        settings.EMAIL_HOST_PASSWORD = WRONG

    return Served(refuse=change_password)


@case("s3")
def serve_s3(stack: ExitStack, example: dict, request) -> Served:
    from tests.providers.s3.conftest import checked_signatures, s3_admin_client

    url = request.getfixturevalue("moto_url")
    access, secret = stack.enter_context(checked_signatures(url))
    region = example["settings"]["region"]
    s3_admin_client(url, access, secret).create_bucket(
        Bucket=example["settings"]["bucket"],
        CreateBucketConfiguration={"LocationConstraint": region},
    )
    return Served(
        urls={"settings.endpoint_url": url},
        env={"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret},
        wrong_env={"AWS_SECRET_ACCESS_KEY": WRONG},
    )


# -- the contract ----------------------------------------------------------

PROVIDER_SLUGS = portal_provider_slugs()
AUTH_CHECKED_SLUGS = [slug for slug in PROVIDER_SLUGS if slug not in NO_AUTH_CHECK]


@dataclass
class Applied:
    """The documented example, applied to a running fake."""

    integration: Integration
    path: str
    served: Served


@pytest.fixture
def applied(request, slug, tmp_path, monkeypatch, loopback_http) -> Iterator[Applied]:
    """Serve ``slug``'s fake and apply its documented example to it."""
    set_up = CASES.get(slug)
    if set_up is None:
        pytest.fail(missing_case_message(slug))
    example = copy.deepcopy(documented_example(slug))

    with ExitStack() as stack:
        served = set_up(stack, copy.deepcopy(example), request)
        for key, url in served.urls.items():
            place = example
            *parents, last = key.split(".")
            for parent in parents:
                place = place.setdefault(parent, {})
            place[last] = url
        for variable, value in served.env.items():
            monkeypatch.setenv(variable, value)
        path = tmp_path / f"{slug}.yaml"
        path.write_text(yaml.safe_dump({"integrations": [example]}), encoding="utf-8")

        result = run_integrations("apply", str(path))

        assert result.code == 0, result.output
        integration = Integration.objects.get(name=example["name"])
        if served.after_apply is not None:
            served.after_apply(integration)
        yield Applied(integration=integration, path=str(path), served=served)


def missing_case_message(slug: str) -> str:
    """Say what a provider without a case must add to this module."""
    return (
        f"Provider {slug!r} has no case in {__name__}: add a function decorated "
        f"@case({slug!r}) that starts its fake from tests/fakes/ and returns "
        "Served(urls=..., env=..., wrong_env=... or refuse=...), and a YAML "
        f"example in docs/providers/{slug}.md."
    )


def preview_rows(output: str) -> dict[str, int]:
    """Return the stream previews ``integrations test`` printed: name to fetched."""
    lines = output.splitlines()
    header = next((n for n, line in enumerate(lines) if "WOULD CREATE" in line), None)
    if header is None:
        return {}
    rows = {}
    for line in lines[header + 1 :]:
        if not line.startswith("  ") or line.startswith("   "):
            break
        stream, fetched = re.split(r"\s{2,}", line.strip())[:2]
        rows[stream] = int(fetched)
    return rows


def run_test(integration: Integration) -> CommandResult:
    """Run ``integrations test NAME``."""
    return run_integrations("test", integration.name)


def test_every_provider_of_the_registry_has_a_case():
    # The parameters were computed at collection: they must be the registry.
    assert PROVIDER_SLUGS and PROVIDER_SLUGS == portal_provider_slugs()
    missing = [slug for slug in PROVIDER_SLUGS if slug not in CASES]
    stale = sorted(set(CASES) - set(PROVIDER_SLUGS))

    assert not missing, "\n".join(missing_case_message(slug) for slug in missing)
    assert not stale, f"Cases of providers no longer registered: {stale}"
    assert set(NO_AUTH_CHECK) <= set(PROVIDER_SLUGS)


@pytest.mark.parametrize("slug", PROVIDER_SLUGS)
def test_the_documented_example_passes_integrations_test(slug, applied):
    integration = applied.integration
    streams = [stream.name for stream in get_provider(slug).streams(integration)]

    result = run_test(integration)

    assert result.code == 0, result.output
    assert f"{integration.name}: OK (healthy" in result.stdout
    rows = preview_rows(result.stdout)
    assert list(rows) == streams, result.stdout
    if streams:
        # The fake serves records, so the preview shows the fetch working.
        assert sum(rows.values()) > 0, result.stdout


@pytest.mark.parametrize("slug", AUTH_CHECKED_SLUGS)
def test_a_wrong_credential_fails_integrations_test_naming_it(
    slug, applied, monkeypatch
):
    served = applied.served
    assert served.wrong_env or served.refuse, missing_case_message(slug)
    if served.wrong_env:
        for variable, value in served.wrong_env.items():
            monkeypatch.setenv(variable, value)
        assert run_integrations("apply", applied.path).code == 0
    if served.refuse is not None:
        served.refuse()

    result = run_test(applied.integration)

    assert result.code != 0, result.output
    assert f"{applied.integration.name}: FAILED" in result.stdout
    assert served.names.lower() in result.output.lower(), result.output
