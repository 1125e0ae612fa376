"""The achievements admin: field-named errors, retroactive awards, read-only awards."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.achievements.models import Achievement, EarnedAchievement
from tests.achievements.helpers import first_course, make_learner, make_progress

pytestmark = pytest.mark.django_db

ACHIEVEMENTS = "/admin/achievements/achievement/"
EARNED = "/admin/achievements/earnedachievement/"


def form(**values) -> dict:
    data = {
        "name": "Top marks",
        "slug": "top-marks",
        "description": "",
        "enabled": "on",
        "criterion": "quiz_score",
        "course": "",
        "quiz": "",
        "min_courses": "",
        "min_percent": "",
    }
    data.update(values)
    return data


def test_a_criterion_missing_its_percentage_is_shown_on_that_field(admin_client):
    response = admin_client.post(f"{ACHIEVEMENTS}add/", form())

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["min_percent"]
    assert "needs this" in errors["min_percent"][0]
    assert not Achievement.objects.exists()


def test_a_setting_the_criterion_does_not_use_is_shown_on_that_field(admin_client):
    response = admin_client.post(
        f"{ACHIEVEMENTS}add/", form(min_percent="90", min_courses="2")
    )

    assert list(response.context["adminform"].form.errors) == ["min_courses"]


def test_a_valid_achievement_is_saved(admin_client):
    response = admin_client.post(f"{ACHIEVEMENTS}add/", form(min_percent="90"))

    assert response.status_code == 302
    assert Achievement.objects.get().min_percent == 90


def test_the_list_counts_learners_in_a_fixed_number_of_queries(admin_client, biology):
    achievement = first_course()
    for name in ("ada", "bob", "carol"):
        make_progress(biology, make_learner(name), "100")
    admin_client.post(
        ACHIEVEMENTS,
        {"action": "award_retroactively", "_selected_action": [achievement.pk]},
    )
    with CaptureQueriesContext(connection) as one:
        admin_client.get(ACHIEVEMENTS)
    for number in range(5):
        first_course(slug=f"other-{number}", enabled=False)

    with CaptureQueriesContext(connection) as six:
        response = admin_client.get(ACHIEVEMENTS)

    page = response.content.decode()
    assert "completed any course" in page
    assert '<td class="field-earned_count">3</td>' in page
    assert len(six.captured_queries) == len(one.captured_queries)


def test_the_action_awards_retroactively_and_says_how_many(admin_client, biology):
    achievement = first_course()
    disabled = first_course(slug="off", enabled=False)
    make_progress(biology, make_learner("ada"), "100")
    selected = {
        "action": "award_retroactively",
        "_selected_action": [achievement.pk, disabled.pk],
    }

    response = admin_client.post(ACHIEVEMENTS, selected, follow=True)
    admin_client.post(ACHIEVEMENTS, selected)

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert "First Course: awarded to 1 more learner." in texts
    assert "Off: disabled; enable it to award it." in texts
    assert EarnedAchievement.objects.count() == 1


def test_earned_achievements_are_listed_read_only(admin_client, biology):
    achievement = first_course()
    make_progress(biology, make_learner("ada"), "100")
    admin_client.post(
        ACHIEVEMENTS,
        {"action": "award_retroactively", "_selected_action": [achievement.pk]},
    )
    earned = EarnedAchievement.objects.get()

    listing = admin_client.get(EARNED)
    detail = admin_client.get(f"{EARNED}{earned.pk}/change/")

    assert listing.status_code == 200
    assert "ada" in listing.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert admin_client.get(f"{EARNED}add/").status_code == 403
    assert admin_client.post(f"{EARNED}{earned.pk}/change/", {}).status_code == 403


def test_deleting_an_award_revokes_it_until_it_is_earned_again(admin_client, biology):
    achievement = first_course()
    make_progress(biology, make_learner("ada"), "100")
    award = {"action": "award_retroactively", "_selected_action": [achievement.pk]}
    admin_client.post(ACHIEVEMENTS, award)
    earned = EarnedAchievement.objects.get()

    admin_client.post(f"{EARNED}{earned.pk}/delete/", {"post": "yes"})
    assert not EarnedAchievement.objects.exists()
    admin_client.post(ACHIEVEMENTS, award)

    assert EarnedAchievement.objects.count() == 1
