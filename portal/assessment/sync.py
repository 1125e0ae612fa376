"""Store synced quizzes and quiz results for the sync engine.

Two record stores (integrations.sync.upsert.RecordStore), registered in
AssessmentConfig.ready():

- ``quiz``: an LMS course's quizzes (Canvas, Moodle), upserted by
  (integration, external id) as read-only Quiz rows of origin ``lms``;
  a complete pass marks the quizzes it did not see as deleted.
- ``quiz_result``: learners' results. Results of a portal quiz (the quiz
  platform's ``quiz_results`` stream) are stored as
  portal.assessment.results always stored them. Results of an LMS quiz are
  upserted by (integration, external id); their learner must already be
  linked to the integration (LearnerIdentity, made by the enrollments and
  progress streams), or the result is skipped and counted as failed. A
  result stored or turned ``complete`` emits ``quiz.completed`` once; it
  moves no portal progress. Results are history: no pass deletes them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from integrations.models import Integration
from integrations.records import Record
from integrations.sync.upsert import PageResult, record_hash
from portal.assessment.models import (
    PublishState,
    Quiz,
    QuizOrigin,
    QuizResult,
)
from portal.assessment.results import announce_results, store_platform_results
from portal.learning.models import Course, LearnerIdentity

#: Quiz fields an LMS quiz record sets.
QUIZ_FIELDS = (
    "course_id",
    "title",
    "description",
    "publish_state",
    "points_possible",
    "time_limit_minutes",
    "due_at",
    "url",
)
#: QuizResult fields an LMS result record sets (besides quiz and learner).
LMS_RESULT_FIELDS = (
    "score",
    "max_score",
    "answers",
    "submitted_at",
    "state",
    "attempt",
)
_MAX_POINTS = Decimal("99999999.99")


def _safe_url(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) > 500 or not text.lower().startswith(("http://", "https://")):
        return ""
    return text


def _quiz_values(record: Record, courses: dict[str, int]) -> dict[str, Any]:
    """Return a quiz record's Quiz fields or raise KeyError/ValueError saying why."""
    course_external_id = str(record.get("course_external_id", ""))
    if course_external_id not in courses:
        raise KeyError(
            f"course {course_external_id!r} is not synced (sync courses first)"
        )
    title = str(record.get("title") or "").strip()
    if not title:
        raise ValueError("title: the quiz has no title")
    points = record.get("points_possible")
    if points is not None and abs(points) > _MAX_POINTS:
        raise ValueError(f"points_possible: {points} is too large")
    published = record.get("published", True)
    return {
        "course_id": courses[course_external_id],
        "title": title[:255],
        "description": str(record.get("description") or ""),
        "publish_state": PublishState.PUBLISHED if published else PublishState.DRAFT,
        "points_possible": points,
        "time_limit_minutes": record.get("time_limit_minutes"),
        "due_at": record.get("due_at"),
        "url": _safe_url(record.get("url")),
    }


class QuizStore:
    """Keep an LMS integration's quizzes as read-only Quiz rows."""

    def store(
        self,
        integration: Integration,
        records: list[Record],
        pass_number: int,
        *,
        force: bool,
    ) -> PageResult:
        """Upsert quiz records by (integration, external id); call in a transaction."""
        result = PageResult()
        if not records:
            return result
        course_ids = {str(record.get("course_external_id", "")) for record in records}
        courses = dict(
            Course.objects.filter(integration=integration, external_id__in=course_ids)
            .order_by()
            .values_list("external_id", "id")
        )
        existing = {
            quiz.external_id: quiz
            for quiz in _lms_quizzes(integration).filter(
                external_id__in=[str(record["external_id"]) for record in records]
            )
        }

        now = timezone.now()
        to_create: list[Quiz] = []
        to_update: list[Quiz] = []
        unchanged: list[int] = []
        for record in records:
            external_id = str(record["external_id"])
            try:
                if len(external_id) > 255:
                    raise ValueError("external_id is longer than 255 characters")
                values = _quiz_values(record, courses)
            except (KeyError, ValueError) as error:
                result.fail(external_id, str(error).strip("'\""))
                continue
            digest = record_hash(record)
            quiz = existing.get(external_id)
            if quiz is None:
                to_create.append(
                    Quiz(
                        integration=integration,
                        external_id=external_id,
                        origin=QuizOrigin.LMS,
                        content_hash=digest,
                        seen_in_pass=pass_number,
                        **values,
                    )
                )
                continue
            if quiz.content_hash == digest and quiz.deleted_at is None and not force:
                unchanged.append(quiz.pk)
                continue
            for name, value in values.items():
                setattr(quiz, name, value)
            quiz.content_hash = digest
            quiz.seen_in_pass = pass_number
            quiz.deleted_at = None
            quiz.updated_at = now
            to_update.append(quiz)

        if to_create:
            Quiz.objects.bulk_create(to_create)
        if to_update:
            Quiz.objects.bulk_update(
                to_update,
                [
                    *QUIZ_FIELDS,
                    "content_hash",
                    "seen_in_pass",
                    "deleted_at",
                    "updated_at",
                ],
            )
        if unchanged:
            Quiz.objects.filter(pk__in=unchanged).update(seen_in_pass=pass_number)
        result.created = len(to_create)
        result.updated = len(to_update)
        result.unchanged = len(unchanged)
        return result

    def live_hashes(
        self, integration: Integration, external_ids: list[str]
    ) -> dict[str, str | None]:
        """Return each LMS quiz's content hash (None: marked deleted)."""
        rows = _lms_quizzes(integration).filter(external_id__in=external_ids)
        return {
            external_id: content_hash if deleted_at is None else None
            for external_id, content_hash, deleted_at in rows.order_by().values_list(
                "external_id", "content_hash", "deleted_at"
            )
        }

    def live_count(self, integration: Integration) -> int:
        """Count the integration's LMS quizzes not marked deleted."""
        return _lms_quizzes(integration).filter(deleted_at__isnull=True).count()

    def mark_missing_deleted(self, integration: Integration, pass_number: int) -> int:
        """Mark the LMS quizzes the complete pass did not see as deleted."""
        now = timezone.now()
        gone = (
            _lms_quizzes(integration)
            .filter(deleted_at__isnull=True)
            .exclude(seen_in_pass=pass_number)
        )
        return gone.update(deleted_at=now, updated_at=now)


class QuizResultStore:
    """Keep learners' quiz results, of portal quizzes and of LMS quizzes."""

    def store(
        self,
        integration: Integration,
        records: list[Record],
        pass_number: int,
        *,
        force: bool,
    ) -> PageResult:
        """Upsert result records quiz by quiz; call inside a transaction."""
        result = PageResult()
        if not records:
            return result
        quiz_ids = {str(record.get("quiz_external_id", "")) for record in records}
        quizzes = {
            quiz.external_id: quiz
            for quiz in Quiz.objects.filter(
                integration=integration,
                external_id__in=quiz_ids,
                deleted_at__isnull=True,
            ).select_related("course")
        }

        platform: dict[str, list[Record]] = {}
        lms: list[tuple[Quiz, Record]] = []
        for record in records:
            quiz_external_id = str(record.get("quiz_external_id", ""))
            quiz = quizzes.get(quiz_external_id)
            if quiz is None:
                result.fail(
                    str(record["external_id"]),
                    f"quiz {quiz_external_id!r} is not synced (sync quizzes first)",
                )
            elif quiz.is_from_lms:
                lms.append((quiz, record))
            else:
                platform.setdefault(quiz_external_id, []).append(record)

        for quiz_external_id, group in platform.items():
            store_platform_results(
                quizzes[quiz_external_id], integration, group, result
            )
        if lms:
            _store_lms_results(integration, lms, result, force=force)
        return result

    def live_hashes(
        self, integration: Integration, external_ids: list[str]
    ) -> dict[str, str | None]:
        """Return each stored result's content hash."""
        rows = QuizResult.objects.filter(
            integration=integration, external_id__in=external_ids
        )
        return dict(rows.order_by().values_list("external_id", "content_hash"))

    def live_count(self, integration: Integration) -> int:
        """Return 0: no pass judges results, as none is ever marked deleted."""
        return 0

    def mark_missing_deleted(self, integration: Integration, pass_number: int) -> int:
        """Delete nothing: a result a listing stops showing still happened."""
        return 0


def _lms_quizzes(integration: Integration):
    return Quiz.objects.filter(integration=integration, origin=QuizOrigin.LMS)


def _store_lms_results(
    integration: Integration,
    entries: list[tuple[Quiz, Record]],
    result: PageResult,
    *,
    force: bool,
) -> None:
    """Upsert LMS results by (integration, external id) for linked learners only."""
    remote_ids = {
        str((record.get("learner") or {}).get("remote_user_id", ""))
        for _, record in entries
    }
    learners = dict(
        LearnerIdentity.objects.filter(
            integration=integration, remote_user_id__in=remote_ids
        )
        .order_by()
        .values_list("remote_user_id", "user_id")
    )
    existing = {
        row.external_id: row
        for row in QuizResult.objects.filter(
            integration=integration,
            external_id__in=[str(record["external_id"]) for _, record in entries],
        ).select_related("quiz", "integration")
    }

    to_create: list[QuizResult] = []
    to_update: list[QuizResult] = []
    for quiz, record in entries:
        external_id = str(record["external_id"])
        remote_id = str((record.get("learner") or {}).get("remote_user_id", ""))
        learner_id = learners.get(remote_id)
        if learner_id is None:
            # Quiz results never create portal users: a learner comes from
            # the enrollments and progress streams, which know the person.
            result.fail(
                external_id,
                f"learner {remote_id!r} has no portal identity yet "
                "(sync enrollments first); result skipped",
            )
            continue
        values = {name: record.get(name) for name in LMS_RESULT_FIELDS}
        values["answers"] = values["answers"] or []
        # The record's hash, as the engine's preview computes it; it covers
        # the quiz and the learner too.
        digest = record_hash(record)
        row = existing.get(external_id)
        if row is None:
            to_create.append(
                QuizResult(
                    quiz=quiz,
                    learner_id=learner_id,
                    integration=integration,
                    external_id=external_id,
                    content_hash=digest,
                    **values,
                )
            )
            continue
        same = (
            row.content_hash == digest
            and row.quiz_id == quiz.pk
            and row.learner_id == learner_id
        )
        if same and not force:
            result.unchanged += 1
            continue
        for name, value in values.items():
            setattr(row, name, value)
        row.quiz = quiz
        row.learner_id = learner_id
        row.content_hash = digest
        to_update.append(row)

    # A page is three statements, whatever its size: the new rows, the
    # changed rows, and the quiz.completed events of those now complete
    # (a new result, or one that left review), each announced once.
    if to_create:
        QuizResult.objects.bulk_create(to_create)
    if to_update:
        now = timezone.now()
        for row in to_update:
            row.updated_at = now
        QuizResult.objects.bulk_update(
            to_update,
            [*LMS_RESULT_FIELDS, "quiz", "learner", "content_hash", "updated_at"],
        )
    result.created += len(to_create)
    result.updated += len(to_update)
    announce_results([*to_create, *to_update])
