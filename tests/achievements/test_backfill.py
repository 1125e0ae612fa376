"""Awarding retroactively: stored data earns a new achievement, once."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.achievements.awarding import award_existing
from portal.achievements.models import Criterion, EarnedAchievement
from portal.assessment.models import Quiz, QuizResult
from tests.achievements.helpers import (
    earned_events,
    first_course,
    holders,
    make_achievement,
    make_learner,
    make_progress,
)

pytestmark = pytest.mark.django_db


def test_completed_courses_stored_earlier_earn_it_once(biology, chemistry, ada, bob):
    make_progress(biology, ada, "100")
    make_progress(chemistry, ada, "20", completed_at=datetime(2026, 1, 5, tzinfo=UTC))
    make_progress(biology, bob, "99.99")
    achievement = first_course()

    assert award_existing(achievement) == 1
    assert award_existing(achievement) == 0

    assert holders(achievement) == {ada.pk}
    earned = EarnedAchievement.objects.get()
    assert earned.source == "retroactive"
    assert earned.source_event is None
    assert earned.integration == biology.integration
    [event] = earned_events()
    assert event.payload["source"] == "retroactive"
    assert event.payload["learner_id"] == ada.pk


def test_deleted_progress_earns_nothing(biology, ada):
    make_progress(biology, ada, "100", deleted_at=datetime(2026, 1, 1, tzinfo=UTC))

    assert award_existing(first_course()) == 0


def test_counts_percentages_and_a_given_course(biology, chemistry, ada, bob, lms):
    make_progress(biology, ada, "100")
    make_progress(chemistry, ada, "100")
    make_progress(biology, bob, "100")
    make_progress(chemistry, bob, "55")
    two = make_achievement("two", Criterion.COURSES_COMPLETED, min_courses=2)
    half = make_achievement(
        "half-chem", Criterion.PROGRESS_PERCENT, min_percent=50, course=chemistry
    )
    most = make_achievement("most-chem", Criterion.PROGRESS_PERCENT, min_percent=60)

    assert [award_existing(a) for a in (two, half, most)] == [1, 2, 2]

    assert holders(two) == {ada.pk}
    assert holders(half) == {ada.pk, bob.pk}
    assert EarnedAchievement.objects.get(achievement=half, learner=bob).course == (
        chemistry
    )


def test_quiz_scores_at_or_above_the_percentage(biology, ada, bob, lms):
    quiz = Quiz.objects.create(course=biology, title="Cells")
    other = Quiz.objects.create(course=biology, title="Tissues")
    carol = make_learner("carol")
    for number, (who, which, score, top) in enumerate(
        [(ada, quiz, "7.5", "10"), (bob, quiz, "7.49", "10"), (carol, other, 0, 0)]
    ):
        QuizResult.objects.create(
            quiz=which,
            learner=who,
            integration=lms,
            external_id=f"r{number}",
            score=Decimal(score),
            max_score=Decimal(top),
            submitted_at=datetime(2026, 2, 1, tzinfo=UTC),
        )
    on_cells = make_achievement(
        "cells", Criterion.QUIZ_SCORE, min_percent=75, quiz=quiz
    )
    anywhere = make_achievement("any", Criterion.QUIZ_SCORE, min_percent="74.9")

    assert award_existing(on_cells) == 1
    assert award_existing(anywhere) == 2

    assert holders(on_cells) == {ada.pk}
    assert holders(anywhere) == {ada.pk, bob.pk}
    earned = EarnedAchievement.objects.get(achievement=on_cells)
    assert earned.source_record.startswith("quiz_result:")
    assert earned.course == biology


def test_a_disabled_achievement_is_not_awarded(biology, ada):
    make_progress(biology, ada, "100")

    assert award_existing(first_course(enabled=False)) == 0


def test_the_command_awards_the_named_or_every_enabled_achievement(biology, ada):
    make_progress(biology, ada, "100")
    first_course()
    make_achievement(
        "halfway", Criterion.PROGRESS_PERCENT, min_percent=50, enabled=False
    )
    out = io.StringIO()

    call_command("achievements", "award", stdout=out)
    call_command("achievements", "award", "first-course", "halfway", stdout=out)

    assert out.getvalue().splitlines() == [
        "first-course: awarded to 1 learner",
        "first-course: awarded to 0 learners",
        "halfway: disabled, not awarded",
    ]


def test_the_command_refuses_an_unknown_slug_and_awards_nothing(biology, ada):
    make_progress(biology, ada, "100")
    first_course()

    with pytest.raises(CommandError) as caught:
        call_command("achievements", "award", "first-course", "no-such")

    assert "no-such" in str(caught.value)
    assert caught.value.returncode == 2
    assert EarnedAchievement.objects.count() == 0
