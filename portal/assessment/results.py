"""Sync a quiz platform's results into QuizResult rows and learners' progress.

Each page of a quiz's results is stored in one transaction together with
the cursor of the next page (``Quiz.results_cursor``), so a sync killed
mid-way resumes after the last stored page and loses nothing. Rows are
upserted by (quiz, learner, external id): reading a page again changes
nothing. A result seen for the first time updates the learner's progress
in the quiz's course and emits ``quiz.completed`` in the same transaction.
When the listing ends the cursor is cleared: the next sync reads the
results from the first page again, which the upserts make harmless.

:func:`sync_quiz_results` runs in the caller's process; the quiz platform
provider's ``quiz_results`` stream stores the same pages through the sync
engine (SyncRun rows, the integration's schedule), with
:func:`store_platform_results` doing the storing for both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.models import Integration
from integrations.providers.quiz_platform.client import QuizPlatformClient
from integrations.registry import get_provider
from integrations.sync.identity import resolve_learners
from portal.api.views import portal_external_id
from portal.assessment.models import (
    PublishState,
    Quiz,
    QuizOrigin,
    QuizResult,
    ResultState,
)
from portal.events.domain import course_completed, is_complete, progress_updated
from portal.events.models import Event
from portal.events.outbox import emit, emit_all
from portal.learning.models import Progress

logger = logging.getLogger(__name__)

RESULT_FIELDS = ("score", "max_score", "answers", "submitted_at")


class ResultCounts(Protocol):
    """What storing results counts: ResultSyncSummary or the engine's PageResult."""

    created: int
    updated: int
    unchanged: int

    def fail(self, external_id: str, reason: str) -> None:
        """Count a result that could not be stored, with why."""


@dataclass
class ResultSyncSummary:
    """What one results sync did."""

    quizzes: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, external_id: str | None, reason: str) -> None:
        """Record a result that could not be stored, with why."""
        self.failures.append({"external_id": external_id, "reason": reason})


def sync_quiz_results(integration: Integration) -> ResultSyncSummary:
    """Read the results of every quiz published to ``integration``."""
    provider = get_provider("quiz_platform")
    platform = QuizPlatformClient(
        provider.build_client(integration), provider.config(integration)
    )
    quizzes = Quiz.objects.filter(
        integration=integration,
        publish_state=PublishState.PUBLISHED,
        origin=QuizOrigin.PORTAL,
    ).select_related("course")

    summary = ResultSyncSummary()
    for quiz in quizzes:
        summary.quizzes += 1
        for page in platform.result_pages(quiz.external_id, quiz.results_cursor):
            with transaction.atomic():
                _store_page(quiz, integration, page.items, summary)
                quiz.results_cursor = page.next_cursor
                quiz.save(update_fields=["results_cursor"])

    logger.info(
        "assessment.results.synced",
        extra={
            "integration": integration.name,
            "quizzes": summary.quizzes,
            "new_results": summary.created,
            "failed": len(summary.failures),
        },
    )
    return summary


def _store_page(
    quiz: Quiz,
    integration: Integration,
    items: list[Any],
    summary: ResultSyncSummary,
) -> None:
    parsed = []
    for item in items:
        try:
            parsed.append(parse_result(item))
        except ValueError as error:
            external_id = item.get("id") if isinstance(item, dict) else None
            summary.fail(external_id, str(error))
    store_platform_results(quiz, integration, parsed, summary)


def store_platform_results(
    quiz: Quiz,
    integration: Integration,
    parsed: list[dict[str, Any]],
    counts: ResultCounts,
) -> None:
    """Upsert parsed platform results of ``quiz``; call inside a transaction.

    ``parsed`` are :func:`parse_result` values (the quiz_results stream's
    records carry the same keys); ``counts`` counts what happened. The
    learners are matched or created from the platform's ids, as they
    always were.
    """
    learners = resolve_learners(integration, [result["learner"] for result in parsed])

    for result in parsed:
        learner_id = learners.get(result["learner"]["remote_user_id"])
        if learner_id is None:
            counts.fail(result["external_id"], "learner unknown")
            continue
        values = {name: result[name] for name in RESULT_FIELDS}
        row, created = QuizResult.objects.get_or_create(
            quiz=quiz,
            learner_id=learner_id,
            external_id=result["external_id"],
            defaults={"integration": integration, **values},
        )
        if created:
            counts.created += 1
            progress = record_progress(quiz, learner_id)
            announce_result(row, progress)
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.save(update_fields=[*RESULT_FIELDS, "updated_at"])
            counts.updated += 1
        else:
            counts.unchanged += 1


def parse_result(item: Any) -> dict[str, Any]:
    """Return a platform result as portal values or raise ValueError saying why."""
    if not isinstance(item, dict):
        raise ValueError("a result is not a JSON object")
    external_id = item.get("id")
    if isinstance(external_id, bool) or not isinstance(external_id, int | str):
        raise ValueError("id: missing or not an id")
    learner = item.get("learner")
    if not isinstance(learner, dict) or not str(learner.get("id") or "").strip():
        raise ValueError("learner.id: missing")
    submitted_at = parse_datetime(str(item.get("submitted_at") or ""))
    if submitted_at is None or submitted_at.tzinfo is None:
        raise ValueError("submitted_at: expected an ISO 8601 time with a zone")
    answers = item.get("answers", [])
    if not isinstance(answers, list | dict):
        raise ValueError("answers: expected a list or an object")

    return {
        "external_id": str(external_id),
        "learner": {
            "remote_user_id": str(learner["id"]),
            "email": str(learner.get("email") or ""),
            "name": str(learner.get("name") or ""),
        },
        "score": _points(item.get("score"), "score"),
        "max_score": _points(item.get("max_score"), "max_score"),
        "answers": answers,
        "submitted_at": submitted_at,
    }


def _points(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name}: expected a number")
    try:
        number = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation as error:
        raise ValueError(f"{name}: not a number") from error
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name}: expected a number of 0 or more")
    return number


def record_progress(quiz: Quiz, learner_id: int) -> Progress:
    """Set the learner's percent in the course from the quizzes they completed.

    The percent is the share of the course's published quizzes the learner
    has a result for; it never lowers what the row already says. The row
    is the portal-owned one (the API's), created when missing. A rise emits
    ``progress.updated`` (source ``quiz``); reaching 100 % also emits
    ``course.completed``, as other progress does.
    """
    course = quiz.course
    progress, _ = Progress.objects.get_or_create(
        integration_id=course.integration_id,
        external_id=portal_external_id(course, learner_id),
        defaults={"course": course, "learner_id": learner_id},
    )
    # Only the portal's own quizzes: an LMS's quizzes move the LMS's own
    # progress, which its progress stream syncs (docs/assessment.md).
    published = Quiz.objects.filter(
        course=course, publish_state=PublishState.PUBLISHED, origin=QuizOrigin.PORTAL
    ).count()
    done = (
        QuizResult.objects.filter(
            quiz__course=course,
            quiz__publish_state=PublishState.PUBLISHED,
            quiz__origin=QuizOrigin.PORTAL,
            learner_id=learner_id,
        )
        .values("quiz_id")
        .distinct()
        .count()
    )
    share = (Decimal(100) * done / max(published, 1)).quantize(Decimal("0.01"))

    if share > progress.percent or progress.deleted_at is not None:
        was_complete = is_complete(progress.percent, progress.completed_at)
        progress.percent = max(share, progress.percent)
        progress.deleted_at = None
        progress.save(update_fields=["percent", "deleted_at", "updated_at"])
        # Like a learner's own report: analytics hear of it, and the LMS the
        # course came from gets it through the write-back route.
        progress_updated(progress, course.integration.name, ["percent"], "quiz")
        if not was_complete and is_complete(progress.percent, progress.completed_at):
            course_completed(progress, course.integration.name, "quiz")
    return progress


def announce_result(result: QuizResult, progress: Progress | None) -> bool:
    """Emit ``quiz.completed`` for a complete result, once; True if emitted.

    ``progress`` is the learner's progress the result moved (None for an
    LMS's result, which moves no portal progress). ``announced_at`` marks
    the result in the same transaction, so no resync, rescoring or review
    emits the event again.
    """
    if result.announced_at is not None or result.state != ResultState.COMPLETE:
        return False
    result.announced_at = timezone.now()
    result.save(update_fields=["announced_at"])
    event = quiz_completed_event(result, progress)
    emit(event.kind, subject=event.subject, payload=event.payload)
    return True


def announce_results(results: list[QuizResult]) -> int:
    """Announce a synced page's complete, unannounced LMS results at once.

    One UPDATE marks them announced and one INSERT writes their
    ``quiz.completed`` events, in the page's transaction; return how many.
    """
    due = [
        result
        for result in results
        if result.announced_at is None and result.state == ResultState.COMPLETE
    ]
    if not due:
        return 0
    now = timezone.now()
    QuizResult.objects.filter(pk__in=[result.pk for result in due]).update(
        announced_at=now
    )
    for result in due:
        result.announced_at = now
    emit_all([quiz_completed_event(result, None) for result in due])
    return len(due)


def quiz_completed_event(result: QuizResult, progress: Progress | None) -> Event:
    """Return the unsaved ``quiz.completed`` event of a result."""
    return Event(
        kind="quiz.completed",
        subject=f"quiz_result:{result.pk}",
        payload={
            "quiz_result_id": result.pk,
            "quiz_id": result.quiz_id,
            "course_id": result.quiz.course_id,
            "learner_id": result.learner_id,
            "integration": result.integration.name,
            "origin": result.quiz.origin,
            "score": str(result.score),
            "max_score": str(result.max_score),
            "submitted_at": result.submitted_at.isoformat(),
            "progress_id": progress.pk if progress is not None else None,
            "percent": str(progress.percent) if progress is not None else None,
        },
    )
