"""Publish a quiz to a quiz platform, at most once per quiz version.

The quiz is marked ``publishing`` (and committed) before the POST is sent,
which carries an ``Idempotency-Key`` made of the quiz id and version. When
an earlier attempt ended without an answer, the quiz is still
``publishing``: the next attempt first looks the quiz up by that reference
and only POSTs when the platform has none, so a retry never makes a second
quiz. docs/assessment.md documents the JSON document sent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations import errors
from integrations.models import Integration
from integrations.providers.quiz_platform.client import QuizPlatformClient
from integrations.registry import get_provider
from portal.assessment.models import PublishState, Quiz

logger = logging.getLogger(__name__)


def quiz_document(quiz: Quiz) -> dict[str, Any]:
    """Return the JSON document a quiz is published as (answers included)."""
    return {
        "reference": quiz.reference,
        "title": quiz.title,
        "description": quiz.description,
        "time_limit_minutes": quiz.time_limit_minutes,
        "course": {"id": quiz.course_id, "title": quiz.course.title},
        "questions": [
            {
                "position": question.position,
                "kind": question.kind,
                "prompt": question.prompt,
                "points": str(question.points),
                "choices": question.choices,
                "correct_answer": question.correct_answer,
                "accepted_answers": question.accepted_answers,
            }
            for question in quiz.questions.all()
        ],
    }


def publish_quiz(quiz: Quiz, integration: Integration) -> Quiz:
    """Publish ``quiz`` to ``integration``; return it with its external id.

    Raise ValidationError when the quiz is not fit to publish, and the
    typed errors of integrations.errors when the platform fails.
    """
    if integration.provider != "quiz_platform":
        raise errors.ConfigurationError(
            f"Integration '{integration.name}' is not a quiz platform.",
            integration=integration.name,
        )
    quiz.full_clean()
    quiz.check_publishable()
    if quiz.external_id and quiz.published_version == quiz.version:
        return quiz

    uncertain = quiz.publish_state == PublishState.PUBLISHING
    _mark(quiz, PublishState.PUBLISHING, integration=integration, publish_error="")
    provider = get_provider("quiz_platform")
    platform = QuizPlatformClient(
        provider.build_client(integration), provider.config(integration)
    )

    try:
        created = platform.find_by_reference(quiz.reference) if uncertain else None
        if created is None:
            created = platform.create_quiz(quiz_document(quiz), quiz.reference)
    except (errors.TransientError, errors.InvalidResponse):
        # The platform may have created it: stay "publishing", look it up next.
        logger.warning(
            "assessment.publish.uncertain",
            extra={"quiz_id": quiz.pk, "integration": integration.name},
        )
        raise
    except errors.IntegrationError as error:
        _mark(quiz, PublishState.FAILED, publish_error=error.message)
        logger.warning(
            "assessment.publish.refused",
            extra={"quiz_id": quiz.pk, "integration": integration.name},
        )
        raise

    _mark(
        quiz,
        PublishState.PUBLISHED,
        external_id=str(created["id"]),
        published_version=quiz.version,
        published_at=timezone.now(),
    )
    logger.info(
        "assessment.publish.done",
        extra={"quiz_id": quiz.pk, "integration": integration.name},
    )
    return quiz


def _mark(quiz: Quiz, state: str, **values: Any) -> None:
    quiz.publish_state = state
    for name, value in values.items():
        setattr(quiz, name, value)
    with transaction.atomic():
        quiz.save(update_fields=["publish_state", *values, "updated_at"])
