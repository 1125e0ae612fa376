"""/achievements/ and /earned-achievements/: scoped, filtered, paginated."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from portal.achievements.awarding import award_existing
from portal.achievements.models import Achievement, Criterion, EarnedAchievement
from portal.assessment.models import PublishState, Quiz

ACHIEVEMENTS = "/api/v1/achievements/"
EARNED = "/api/v1/earned-achievements/"


def achievement(slug: str, criterion: str = Criterion.COURSE_COMPLETED, **values):
    row = Achievement(slug=slug, name=slug.title(), criterion=criterion, **values)
    row.full_clean()
    row.save()
    return row


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["slug"] for row in response.json()["results"]]


@pytest.fixture
def definitions(world):
    quiz_a = Quiz.objects.create(
        course=world.course_a, title="A", publish_state=PublishState.PUBLISHED
    )
    draft_a = Quiz.objects.create(course=world.course_a, title="Draft")
    return {
        "any": achievement("any"),
        "off": achievement("off", enabled=False),
        "in-a": achievement("in-a", course=world.course_a),
        "in-b": achievement("in-b", course=world.course_b),
        "quiz-a": achievement(
            "quiz-a", Criterion.QUIZ_SCORE, quiz=quiz_a, min_percent=Decimal(80)
        ),
        "draft-a": achievement(
            "draft-a", Criterion.QUIZ_SCORE, quiz=draft_a, min_percent=Decimal(80)
        ),
        "two": achievement("two", Criterion.COURSES_COMPLETED, min_courses=2),
    }


@pytest.fixture
def awards(world, definitions):
    world.progress_a.percent = Decimal(100)
    world.progress_a.save()
    world.progress_b.completed_at = timezone.now()
    world.progress_b.save()
    award_existing(definitions["any"])
    return {row.learner_id: row for row in EarnedAchievement.objects.all()}


def test_learners_see_the_enabled_achievements_they_can_earn(
    world, definitions, client_for
):
    seen = slugs(client_for(world.learner_a).get(f"{ACHIEVEMENTS}?ordering=slug"))

    assert seen == ["any", "in-a", "quiz-a", "two"]
    hidden = definitions["in-b"].pk
    response = client_for(world.learner_a).get(f"{ACHIEVEMENTS}{hidden}/")
    assert response.status_code == 404


def test_staff_see_every_achievement_with_its_criterion(world, definitions, client_for):
    response = client_for(world.staff).get(f"{ACHIEVEMENTS}?ordering=slug")

    assert len(slugs(response)) == 7
    row = client_for(world.staff).get(f"{ACHIEVEMENTS}{definitions['quiz-a'].pk}/")
    body = row.json()
    assert set(body) == {
        "id",
        "slug",
        "name",
        "description",
        "enabled",
        "criterion",
        "course",
        "quiz",
        "min_courses",
        "min_percent",
        "created_at",
        "updated_at",
    }
    assert (body["criterion"], body["min_percent"], body["course"]) == (
        "quiz_score",
        80.0,
        None,
    )


def test_achievements_filter_by_criterion_and_course(world, definitions, client_for):
    client = client_for(world.staff)

    assert slugs(client.get(f"{ACHIEVEMENTS}?criterion=courses_completed")) == ["two"]
    assert slugs(client.get(f"{ACHIEVEMENTS}?course={world.course_b.pk}")) == ["in-b"]
    bad = client.get(f"{ACHIEVEMENTS}?criterion=famous")
    assert bad.status_code == 400
    assert "criterion" in bad.json()["details"]


def test_learners_see_only_their_own_awards(world, awards, client_for):
    response = client_for(world.learner_a).get(EARNED)

    assert response.status_code == 200
    [row] = response.json()["results"]
    mine = awards[world.learner_a.pk]
    assert row == {
        "id": mine.pk,
        "achievement": mine.achievement_id,
        "achievement_slug": "any",
        "achievement_name": "Any",
        "learner": world.learner_a.pk,
        "course": world.course_a.pk,
        "integration": "lms-main",
        "source": "retroactive",
        "earned_at": row["earned_at"],
        "updated_at": row["updated_at"],
    }
    others = awards[world.learner_b.pk].pk
    assert client_for(world.learner_a).get(f"{EARNED}{others}/").status_code == 404
    filtered = client_for(world.learner_a).get(f"{EARNED}?learner={world.learner_b.pk}")
    assert filtered.json()["results"] == []


def test_staff_filter_awards_by_learner_achievement_and_time(
    world, awards, definitions, client_for
):
    client = client_for(world.staff)

    everyone = client.get(EARNED).json()["results"]
    by_b = client.get(f"{EARNED}?learner={world.learner_b.pk}").json()["results"]
    by_other = client.get(f"{EARNED}?achievement={definitions['two'].pk}").json()
    later = (timezone.now() + timedelta(minutes=1)).isoformat().replace("+", "%2B")
    since = client.get(f"{EARNED}?updated_since={later}").json()["results"]

    assert {row["learner"] for row in everyone} == {
        world.learner_a.pk,
        world.learner_b.pk,
    }
    assert [row["id"] for row in by_b] == [awards[world.learner_b.pk].pk]
    assert by_other["results"] == []
    assert since == []
    bad = client.get(f"{EARNED}?updated_since=yesterday")
    assert bad.status_code == 400
    assert "updated_since" in bad.json()["details"]


def test_awards_are_paginated_in_a_fixed_number_of_queries(
    world, awards, client_for, django_assert_max_num_queries
):
    client = client_for(world.staff)

    with django_assert_max_num_queries(4):
        first = client.get(f"{EARNED}?page_size=1").json()
    second = client.get(first["next"]).json()

    assert len(first["results"]) == len(second["results"]) == 1
    assert first["results"][0]["id"] != second["results"][0]["id"]
    assert second["next"] is None


def test_anonymous_callers_are_refused(db, client_for):
    assert client_for().get(ACHIEVEMENTS).status_code == 401
    assert client_for().get(EARNED).status_code == 401


def test_both_resources_are_in_the_schema(db, client_for):
    schema = client_for().get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    paths = schema.json()["paths"]
    for path in (ACHIEVEMENTS, f"{ACHIEVEMENTS}{{id}}/", EARNED, f"{EARNED}{{id}}/"):
        assert path in paths
    parameters = {p["name"] for p in paths[EARNED]["get"]["parameters"]}
    assert {"learner", "achievement", "updated_since", "cursor"} <= parameters
