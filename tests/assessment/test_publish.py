"""Publishing a quiz: the document sent, and at most one remote quiz per version."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations import errors
from portal.assessment.models import PublishState, Quiz
from portal.assessment.publish import publish_quiz
from tests.provider_docs import documented_example


def test_publishing_posts_the_quiz_with_an_idempotency_key(fake, platform, quiz):
    publish_quiz(quiz, platform)

    quiz.refresh_from_db()
    assert quiz.publish_state == PublishState.PUBLISHED
    assert quiz.external_id == "101"
    assert quiz.published_version == 1
    (post,) = fake.requests_to("/quizzes", "POST")
    assert post.header("Idempotency-Key") == f"portal-quiz-{quiz.pk}-v1"
    assert post.header("Authorization") == "Bearer quiz-token"
    document = post.json()
    assert document["reference"] == f"portal-quiz-{quiz.pk}-v1"
    assert document["time_limit_minutes"] == 10
    assert [q["kind"] for q in document["questions"]] == [
        "multiple_choice",
        "true_false",
        "short_answer",
    ]
    assert document["questions"][0]["points"] == "2.00"


def test_publishing_again_sends_nothing(fake, platform, quiz):
    publish_quiz(quiz, platform)
    publish_quiz(quiz, platform)

    assert fake.count("/quizzes", "POST") == 1


def test_a_dropped_response_is_retried_with_the_same_key(fake, platform, quiz):
    fake.drop_create_responses = 1

    publish_quiz(quiz, platform)

    posts = fake.requests_to("/quizzes", "POST")
    assert len(posts) == 2
    assert {p.header("Idempotency-Key") for p in posts} == {quiz.reference}
    assert len(fake.quizzes) == 1
    quiz.refresh_from_db()
    assert quiz.external_id == next(iter(fake.quizzes))


def test_after_an_unanswered_publish_the_quiz_is_looked_up_first(fake, platform, quiz):
    fake.drop_create_responses = 10

    with pytest.raises(errors.TransientError):
        publish_quiz(quiz, platform)
    quiz.refresh_from_db()
    assert quiz.publish_state == PublishState.PUBLISHING
    posts_before = fake.count("/quizzes", "POST")
    fake.drop_create_responses = 0
    fake.keys.clear()  # a platform that forgot the key must not matter

    publish_quiz(quiz, platform)

    assert fake.count("/quizzes", "POST") == posts_before
    (lookup,) = fake.requests_to("/quizzes", "GET")
    assert lookup.arg("reference") == quiz.reference
    assert len(fake.quizzes) == 1
    quiz.refresh_from_db()
    assert quiz.publish_state == PublishState.PUBLISHED


def test_a_refused_token_marks_the_quiz_failed(fake, platform, quiz):
    fake.token = "another-token"

    with pytest.raises(errors.AuthenticationFailed):
        publish_quiz(quiz, platform)

    quiz.refresh_from_db()
    assert quiz.publish_state == PublishState.FAILED
    assert "quiz-token" not in quiz.publish_error


def test_an_invalid_quiz_is_not_sent(fake, platform, course):
    quiz = Quiz.objects.create(course=course, title="Empty")

    with pytest.raises(ValidationError):
        publish_quiz(quiz, platform)

    assert fake.count() == 0


def test_the_api_key_header_style_is_used_when_configured(fake, platform, quiz):
    fake.auth = "header"
    platform.settings = {"auth": "header", "auth_header": "X-API-Key"}
    platform.save()

    publish_quiz(quiz, platform)

    (post,) = fake.requests_to("/quizzes", "POST")
    assert post.header("X-API-Key") == "quiz-token"
    assert post.header("Authorization") is None


def test_bad_settings_name_the_setting(platform):
    from integrations.registry import get_provider

    provider = get_provider("quiz_platform")

    with pytest.raises(ValidationError) as caught:
        provider.validate_settings({"results_path": "/results"})

    assert caught.value.message_dict["settings"] == [
        "results_path: must contain {id}, the platform's quiz id"
    ]


def test_health_reads_the_quizzes_path_and_names_a_refused_token(fake, platform):
    from integrations.registry import get_provider

    provider = get_provider("quiz_platform")
    client = provider.build_client(platform)

    healthy = provider.check_health(platform, client)
    fake.token = "rotated"
    refused = provider.check_health(platform, client)

    assert healthy.status == "healthy"
    assert refused.status != "healthy"
    assert "authentication failed" in refused.error
    assert "quiz-token" not in refused.error


def test_the_documented_example_settings_are_valid():
    from integrations.registry import get_provider

    example = documented_example("quiz_platform")

    # Raises, naming the setting at fault, if the doc drifts from the schema.
    get_provider("quiz_platform").validate_settings(example["settings"])
    assert example["provider"] == "quiz_platform"
    assert example["credentials"] == {"token": "${QUIZ_PLATFORM_TOKEN}"}
