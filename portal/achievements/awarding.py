"""Award achievements from the events and rows that earn them, once.

Three ways in, one way to award:

- :func:`on_events`, registered with :func:`portal.events.outbox.listen`
  for the kinds in :data:`~portal.achievements.criteria.CRITERIA_OF_KIND`:
  the dispatcher calls it with each pass's committed events of those
  kinds, in the transaction that marks them dispatched (the progress API,
  synced completions, quiz results, whoever writes those kinds next).
- :func:`on_progress_stored`, called by the sync engine's upsert with a
  page's new and changed progress rows: synced progress that rises without
  completing writes no event, yet can reach a percentage.
- :func:`award_existing`, for data stored before an achievement existed.

Each award writes an :class:`EarnedAchievement` and its
``achievement.earned`` event together; a rolled-back change has no event
and no page, so it awards nothing. Work is done only for enabled achievements whose criterion the
facts can meet: one query when there are none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.achievements import criteria
from portal.achievements.criteria import Fact
from portal.achievements.models import Achievement, Criterion, EarnedAchievement
from portal.events.models import Event
from portal.events.outbox import emit_all
from portal.learning.models import Course

if TYPE_CHECKING:
    from integrations.models import Integration
    from portal.learning.models import Progress

logger = logging.getLogger(__name__)

EARNED_KIND = "achievement.earned"
#: The fields of an achievement that awarding reads.
AWARDING_FIELDS = (
    "id",
    "slug",
    "name",
    "criterion",
    "course_id",
    "quiz_id",
    "min_courses",
    "min_percent",
    "enabled",
)
#: Awards written per query when awarding retroactively.
BACKFILL_BATCH = 500


def on_events(events: Sequence[Event]) -> None:
    """Award what committed events earned (an outbox listener)."""
    facts = [fact for fact in map(criteria.fact_of_event, events) if fact is not None]
    wanted: set[str] = set()
    for event in events:
        wanted |= criteria.CRITERIA_OF_KIND.get(event.kind, frozenset())
    award(facts, wanted)


def on_progress_stored(integration: Integration, rows: Iterable[Progress]) -> None:
    """Award what a synced page's new and changed progress rows earned."""
    facts = [criteria.fact_of_progress(row, integration.name, "sync") for row in rows]
    award(facts, criteria.SYNCED_PROGRESS_CRITERIA)


def award(facts: list[Fact], wanted: Iterable[str]) -> list[EarnedAchievement]:
    """Award the enabled achievements of the ``wanted`` criteria that facts meet.

    Called by the dispatcher's pass (events) or in a synced page's
    transaction (rows). Returns the awards written; an achievement a learner
    has is never awarded again, and a fact whose learner or course is gone
    since (an event is heard after its change) awards nothing.
    """
    if not facts:
        return []
    achievements = enabled_achievements(set(wanted))
    if not achievements:
        return []

    chosen = _still_there(_first_met(achievements, facts))
    if not chosen:
        return []
    earned = set(
        EarnedAchievement.objects.filter(
            achievement_id__in={pair[0] for pair in chosen},
            learner_id__in={pair[1] for pair in chosen},
        ).values_list("achievement_id", "learner_id")
    )
    return _write([item for pair, item in chosen.items() if pair not in earned])


def enabled_achievements(wanted: set[str]) -> list[Achievement]:
    """Return the enabled achievements whose criterion is one of ``wanted``.

    One query per batch of facts (a dispatcher pass's events, or a synced
    page), so it stays off the write that emits the events. The instances
    carry what awarding reads (not the description).
    """
    if not wanted:
        return []
    return list(
        Achievement.objects.filter(enabled=True, criterion__in=wanted)
        .only(*AWARDING_FIELDS)
        .order_by("id")
    )


def _first_met(
    achievements: list[Achievement], facts: list[Fact]
) -> dict[tuple[int, int], tuple[Achievement, Fact]]:
    """Return the first fact meeting each achievement, per learner."""
    chosen: dict[tuple[int, int], tuple[Achievement, Fact]] = {}
    counted = [a for a in achievements if a.criterion == Criterion.COURSES_COMPLETED]
    counts: dict[int, int] = {}
    if counted:
        completers = {fact.learner_id for fact in facts if fact.completed}
        counts = criteria.completed_course_counts(completers) if completers else {}

    for fact in facts:
        for achievement in achievements:
            pair = (achievement.pk, fact.learner_id)
            if pair in chosen or not criteria.satisfies(achievement, fact):
                continue
            if achievement.criterion == Criterion.COURSES_COMPLETED:
                if counts.get(fact.learner_id, 0) < achievement.min_courses:
                    continue
            chosen[pair] = (achievement, fact)
    return chosen


def _still_there(
    chosen: dict[tuple[int, int], tuple[Achievement, Fact]],
) -> dict[tuple[int, int], tuple[Achievement, Fact]]:
    """Drop the awards whose learner or course was deleted since the fact."""
    if not chosen:
        return chosen
    facts = [fact for _, fact in chosen.values()]
    learners = set(
        get_user_model()
        .objects.filter(pk__in={fact.learner_id for fact in facts})
        .values_list("pk", flat=True)
    )
    wanted_courses = {fact.course_id for fact in facts if fact.course_id is not None}
    courses = set(
        Course.objects.filter(pk__in=wanted_courses).values_list("pk", flat=True)
    )
    return {
        pair: (achievement, fact)
        for pair, (achievement, fact) in chosen.items()
        if fact.learner_id in learners
        and (fact.course_id is None or fact.course_id in courses)
    }


def _write(items: list[tuple[Achievement, Fact]]) -> list[EarnedAchievement]:
    """Write the awards and their events; skip those another writer won."""
    if not items:
        return []
    integrations = _integration_ids({fact.integration for _, fact in items})
    now = timezone.now()
    pairs = [
        (
            EarnedAchievement(
                achievement=achievement,
                learner_id=fact.learner_id,
                earned_at=fact.event.occurred_at if fact.event is not None else now,
                course_id=fact.course_id,
                integration_id=integrations.get(fact.integration),
                source=fact.source,
                source_record=fact.source_record,
                source_event=fact.event,
            ),
            fact,
        )
        for achievement, fact in items
    ]
    try:
        # A savepoint: a concurrent transaction that awarded one of these
        # first must not roll back the change this one is writing.
        with transaction.atomic():
            EarnedAchievement.objects.bulk_create([row for row, _ in pairs])
        saved = pairs
    except IntegrityError:
        saved = [(row, fact) for row, fact in pairs if _save_unless_taken(row)]

    emit_all([earned_event(row, fact.integration) for row, fact in saved])
    logger.info(
        "achievements.awarded",
        extra={"awards": len(saved), "source": items[0][1].source},
    )
    return [row for row, _ in saved]


def _save_unless_taken(row: EarnedAchievement) -> bool:
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return False
    return True


def _integration_ids(names: set[str]) -> dict[str, int]:
    from integrations.models import Integration

    names.discard("")
    if not names:
        return {}
    return dict(Integration.objects.filter(name__in=names).values_list("name", "id"))


def earned_event(row: EarnedAchievement, integration: str) -> Event:
    """Return the unsaved ``achievement.earned`` event of an award."""
    achievement = row.achievement
    return Event(
        kind=EARNED_KIND,
        subject=f"earned_achievement:{row.pk}",
        payload={
            "earned_achievement_id": row.pk,
            "achievement_id": achievement.pk,
            "achievement_slug": achievement.slug,
            "achievement_name": achievement.name,
            "criterion": achievement.criterion,
            "learner_id": row.learner_id,
            "course_id": row.course_id,
            "integration": integration or None,
            "earned_at": row.earned_at.isoformat(),
            "source": row.source,
            "source_record": row.source_record,
            "source_event_id": row.source_event_id,
        },
    )


def award_existing(achievement: Achievement) -> int:
    """Award ``achievement`` to every learner stored data says earned it.

    Idempotent: learners who have it are skipped, and a second run awards
    nobody. A disabled achievement is not awarded. Returns how many
    learners it was awarded to.
    """
    if not achievement.enabled:
        return 0
    awarded = 0
    with transaction.atomic():
        holders = EarnedAchievement.objects.filter(achievement=achievement).values(
            "learner_id"
        )
        # Read first, then write: SQLite gives no isolation between a
        # cursor being read and writes on the same connection.
        items = [
            (achievement, fact)
            for fact in criteria.existing_facts(achievement, holders)
        ]
        for start in range(0, len(items), BACKFILL_BATCH):
            awarded += len(_write(items[start : start + BACKFILL_BATCH]))
    logger.info(
        "achievements.backfilled",
        extra={"achievement": achievement.slug, "awards": awarded},
    )
    return awarded
