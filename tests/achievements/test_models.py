"""An achievement's criterion is checked field by field, as the admin shows it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from portal.achievements.awarding import award_existing
from portal.achievements.criteria import describe
from portal.achievements.models import Achievement, Criterion
from tests.achievements.helpers import first_course, make_learner, make_progress

pytestmark = pytest.mark.django_db


def problems(**values) -> dict[str, list[str]]:
    achievement = Achievement(name="A", slug="a", **values)
    with pytest.raises(ValidationError) as caught:
        achievement.full_clean()
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("criterion", "missing"),
    [
        (Criterion.COURSES_COMPLETED, "min_courses"),
        (Criterion.QUIZ_SCORE, "min_percent"),
        (Criterion.PROGRESS_PERCENT, "min_percent"),
    ],
)
def test_a_required_setting_left_empty_is_named(criterion, missing):
    found = problems(criterion=criterion)

    assert list(found) == [missing]
    assert "needs this" in found[missing][0]


def test_settings_a_criterion_does_not_use_are_refused_by_name(biology):
    found = problems(
        criterion=Criterion.COURSE_COMPLETED,
        course=biology,
        min_courses=3,
        min_percent=Decimal(50),
    )

    assert set(found) == {"min_courses", "min_percent"}
    assert "'Completed a course' does not use this" in found["min_courses"][0]


@pytest.mark.parametrize("percent", [Decimal(0), Decimal("100.01"), Decimal(-5)])
def test_a_percentage_outside_0_to_100_is_refused(percent):
    found = problems(criterion=Criterion.QUIZ_SCORE, min_percent=percent)

    assert list(found) == ["min_percent"]


def test_zero_courses_and_an_unknown_criterion_are_refused():
    assert "min_courses" in problems(
        criterion=Criterion.COURSES_COMPLETED, min_courses=0
    )
    assert list(problems(criterion="became_famous")) == ["criterion"]


def test_valid_criteria_pass_and_read_as_sentences(biology):
    cases = [
        (dict(criterion=Criterion.COURSE_COMPLETED), "completed any course"),
        (
            dict(criterion=Criterion.COURSE_COMPLETED, course=biology),
            "completed Course c1",
        ),
        (dict(criterion=Criterion.COURSES_COMPLETED, min_courses=3), "completed 3"),
        (
            dict(criterion=Criterion.QUIZ_SCORE, min_percent=Decimal(80)),
            "scored at least 80 % on any quiz",
        ),
        (
            dict(criterion=Criterion.PROGRESS_PERCENT, min_percent=Decimal(100)),
            "reached 100 % in any course",
        ),
    ]
    for values, sentence in cases:
        achievement = Achievement(name="A", slug="a", **values)
        achievement.full_clean()
        assert describe(achievement).startswith(sentence)


def test_deleting_an_integration_takes_its_courses_achievements_along(lms, biology):
    about_biology = first_course(course=biology)
    anywhere = first_course(slug="any")
    make_progress(biology, make_learner("ada"), "100")
    award_existing(about_biology)
    award_existing(anywhere)

    lms.delete()

    assert list(Achievement.objects.all()) == [anywhere]
    assert anywhere.earned.get().course is None
