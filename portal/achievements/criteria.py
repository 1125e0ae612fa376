"""The criteria an achievement can have: checked, and evaluated on facts.

A :class:`Fact` is one thing a learner did, read from an event the portal
wrote (``course.completed``, ``progress.updated``, ``quiz.completed``), from
a synced progress row, or from stored data when an admin awards an
achievement retroactively. Each criterion decides from facts alone, except
"completed a number of courses", which counts the learner's completed
courses in the database (one query for all the learners of a batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
)

from portal.achievements.models import Achievement, Criterion
from portal.assessment.models import QuizResult
from portal.events.domain import is_complete
from portal.learning.models import Progress

if TYPE_CHECKING:
    from portal.events.models import Event

#: The settings each criterion takes; the others must be left empty.
SETTINGS: dict[str, dict[str, bool]] = {
    Criterion.COURSE_COMPLETED: {"course": False},
    Criterion.COURSES_COMPLETED: {"min_courses": True},
    Criterion.QUIZ_SCORE: {"min_percent": True, "quiz": False},
    Criterion.PROGRESS_PERCENT: {"min_percent": True, "course": False},
}
SETTING_FIELDS = ("course", "quiz", "min_courses", "min_percent")
#: The criteria each event kind can satisfy. A progress.updated that
#: completes a course comes with its own course.completed.
CRITERIA_OF_KIND: dict[str, frozenset[str]] = {
    "course.completed": frozenset(
        {
            Criterion.COURSE_COMPLETED,
            Criterion.COURSES_COMPLETED,
            Criterion.PROGRESS_PERCENT,
        }
    ),
    "progress.updated": frozenset({Criterion.PROGRESS_PERCENT}),
    "quiz.completed": frozenset({Criterion.QUIZ_SCORE, Criterion.PROGRESS_PERCENT}),
}
#: What a synced progress page can satisfy besides its course.completed events.
SYNCED_PROGRESS_CRITERIA = frozenset({Criterion.PROGRESS_PERCENT})
_HUNDRED = Decimal(100)
_COMPLETE = Q(completed_at__isnull=False) | Q(percent__gte=100)


@dataclass(frozen=True)
class Fact:
    """One thing a learner did, as the criteria read it."""

    learner_id: int
    source: str
    source_record: str = ""
    course_id: int | None = None
    integration: str = ""
    event: Event | None = None
    #: The learner's progress in the course, when the fact is about progress.
    percent: Decimal | None = None
    completed: bool = False
    quiz_id: int | None = None
    #: The quiz result's score as a percentage of its maximum.
    score_percent: Decimal | None = None


def criterion_problems(achievement: Achievement) -> dict[str, list[str]]:
    """Return the achievement's problems by field; empty when it is fine."""
    wanted = SETTINGS.get(achievement.criterion)
    if wanted is None:
        return {"criterion": ["Choose one of the criteria in the list."]}
    label = Criterion(achievement.criterion).label
    problems: dict[str, list[str]] = {}
    for name in SETTING_FIELDS:
        value = getattr(
            achievement, f"{name}_id" if name in ("course", "quiz") else name
        )
        if name not in wanted and value is not None:
            problems[name] = [f"'{label}' does not use this; leave it empty."]
        elif wanted.get(name) and value is None:
            problems[name] = [f"'{label}' needs this."]
    percent = achievement.min_percent
    if "min_percent" in wanted and percent is not None:
        if not 0 < percent <= _HUNDRED:
            problems["min_percent"] = ["Enter a percentage above 0 and at most 100."]
    if "min_courses" in wanted and achievement.min_courses is not None:
        if achievement.min_courses < 1:
            problems["min_courses"] = ["Enter a number of courses of at least 1."]
    return problems


def describe(achievement: Achievement) -> str:
    """Return the criterion as a sentence, for the admin's list."""
    criterion = achievement.criterion
    if criterion == Criterion.COURSE_COMPLETED:
        return f"completed {achievement.course or 'any course'}"
    if criterion == Criterion.COURSES_COMPLETED:
        return f"completed {achievement.min_courses} courses"
    if criterion == Criterion.QUIZ_SCORE:
        quiz = f"'{achievement.quiz}'" if achievement.quiz_id else "any quiz"
        return f"scored at least {achievement.min_percent} % on {quiz}"
    course = achievement.course or "any course"
    return f"reached {achievement.min_percent} % in {course}"


def _percent(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def fact_of_event(event: Event) -> Fact | None:
    """Return what an event says a learner did, or None when it names no learner."""
    payload = event.payload
    learner_id = payload.get("learner_id")
    if not isinstance(learner_id, int):
        return None
    common: dict[str, Any] = {
        "learner_id": learner_id,
        "source": event.kind,
        "course_id": payload.get("course_id"),
        "integration": str(payload.get("integration") or ""),
        "event": event,
        "percent": _percent(payload.get("percent")),
    }
    if event.kind == "quiz.completed":
        score = _percent(payload.get("score"))
        top = _percent(payload.get("max_score"))
        return Fact(
            **common,
            source_record=f"quiz_result:{payload.get('quiz_result_id')}",
            quiz_id=payload.get("quiz_id"),
            score_percent=score * _HUNDRED / top if score is not None and top else None,
        )
    completed = event.kind == "course.completed" or is_complete(
        common["percent"], payload.get("completed_at")
    )
    return Fact(
        **common,
        source_record=f"progress:{payload.get('progress_id')}",
        completed=completed,
    )


def fact_of_progress(progress: Progress, integration: str, source: str) -> Fact:
    """Return the fact a progress row states."""
    return Fact(
        learner_id=progress.learner_id,
        source=source,
        source_record=f"progress:{progress.pk}",
        course_id=progress.course_id,
        integration=integration,
        percent=Decimal(str(progress.percent)),
        completed=is_complete(progress.percent, progress.completed_at),
    )


def satisfies(achievement: Achievement, fact: Fact) -> bool:
    """Tell whether a fact meets the criterion, counts of courses aside.

    For "completed a number of courses" this only says the fact is a
    completion; :func:`completed_course_counts` decides the rest.
    """
    criterion = achievement.criterion
    if criterion in (Criterion.COURSE_COMPLETED, Criterion.COURSES_COMPLETED):
        return fact.completed and _course_matches(achievement, fact)
    if criterion == Criterion.PROGRESS_PERCENT:
        # A completed course counts as fully progressed, whatever its percent.
        reached = fact.completed or (
            fact.percent is not None and fact.percent >= achievement.min_percent
        )
        return reached and _course_matches(achievement, fact)
    if criterion == Criterion.QUIZ_SCORE:
        if fact.score_percent is None or fact.score_percent < achievement.min_percent:
            return False
        return achievement.quiz_id is None or fact.quiz_id == achievement.quiz_id
    return False


def _course_matches(achievement: Achievement, fact: Fact) -> bool:
    return achievement.course_id is None or fact.course_id == achievement.course_id


def completed_course_counts(learner_ids: Iterable[int]) -> dict[int, int]:
    """Return how many distinct courses each learner has completed."""
    rows = (
        Progress.objects.filter(_COMPLETE, learner_id__in=set(learner_ids))
        .filter(deleted_at__isnull=True)
        .order_by()
        .values("learner_id")
        .annotate(courses=Count("course_id", distinct=True))
        .values_list("learner_id", "courses")
    )
    return dict(rows)


def existing_facts(achievement: Achievement, skip: Iterable[int]) -> Iterator[Fact]:
    """Yield one fact per learner that stored data says meets the criterion.

    Learners in ``skip`` (those who already earned it) are left out. Used to
    award an achievement retroactively.
    """
    criterion = achievement.criterion
    if criterion == Criterion.QUIZ_SCORE:
        yield from _quiz_facts(achievement, skip)
        return
    progress = Progress.objects.filter(deleted_at__isnull=True).exclude(
        learner_id__in=skip
    )
    if criterion == Criterion.COURSES_COMPLETED:
        counts = (
            progress.filter(_COMPLETE)
            .order_by()
            .values("learner_id")
            .annotate(courses=Count("course_id", distinct=True))
            .filter(courses__gte=achievement.min_courses)
            .values_list("learner_id", flat=True)
        )
        for learner_id in counts.iterator():
            yield Fact(learner_id=learner_id, source="retroactive", completed=True)
        return
    if achievement.course_id is not None:
        progress = progress.filter(course_id=achievement.course_id)
    if criterion == Criterion.COURSE_COMPLETED:
        progress = progress.filter(_COMPLETE)
    else:
        progress = progress.filter(_COMPLETE | Q(percent__gte=achievement.min_percent))
    rows = progress.order_by("learner_id", "id").values(
        "id", "learner_id", "course_id", "integration__name", "percent", "completed_at"
    )
    for row in _first_per_learner(rows):
        yield Fact(
            learner_id=row["learner_id"],
            source="retroactive",
            source_record=f"progress:{row['id']}",
            course_id=row["course_id"],
            integration=row["integration__name"],
            percent=row["percent"],
            completed=is_complete(row["percent"], row["completed_at"]),
        )


def _quiz_facts(achievement: Achievement, skip: Iterable[int]) -> Iterator[Fact]:
    decimal = DecimalField(max_digits=20, decimal_places=4)
    results = (
        QuizResult.objects.filter(max_score__gt=0)
        .exclude(learner_id__in=skip)
        .alias(
            scaled=ExpressionWrapper(F("score") * 100, output_field=decimal),
            needed=ExpressionWrapper(
                F("max_score") * Value(achievement.min_percent), output_field=decimal
            ),
        )
        .filter(scaled__gte=F("needed"))
    )
    if achievement.quiz_id is not None:
        results = results.filter(quiz_id=achievement.quiz_id)
    rows = results.order_by("learner_id", "submitted_at", "id").values(
        "id",
        "learner_id",
        "quiz_id",
        "quiz__course_id",
        "integration__name",
        "score",
        "max_score",
    )
    for row in _first_per_learner(rows):
        yield Fact(
            learner_id=row["learner_id"],
            source="retroactive",
            source_record=f"quiz_result:{row['id']}",
            course_id=row["quiz__course_id"],
            integration=row["integration__name"],
            quiz_id=row["quiz_id"],
            score_percent=row["score"] * _HUNDRED / row["max_score"],
        )


def _first_per_learner(rows: QuerySet) -> Iterator[dict[str, Any]]:
    """Yield the first row of each learner from rows ordered by learner."""
    previous = None
    for row in rows.iterator():
        if row["learner_id"] != previous:
            previous = row["learner_id"]
            yield row
