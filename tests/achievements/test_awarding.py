"""Awards are written when the dispatcher takes the events that earn them, once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.sync.upsert import store_page
from portal.achievements.awarding import _write, award
from portal.achievements.criteria import Fact
from portal.achievements.models import Criterion, EarnedAchievement
from portal.events.domain import course_completed
from portal.events.models import Event
from portal.events.outbox import emit
from portal.learning.models import Progress
from tests.achievements.helpers import (
    earned_events,
    first_course,
    holders,
    make_achievement,
    make_progress,
)
from tests.events.sinks import dispatch_all

pytestmark = pytest.mark.django_db


def patch_progress(learner, progress: Progress, **values) -> None:
    client = APIClient()
    client.force_authenticate(learner)
    response = client.patch(f"/api/v1/progress/{progress.pk}/", values, format="json")
    assert response.status_code == 200, response.json()
    dispatch_all()


def synced(learner_ref: str, percent: float, course: str = "c1", completed_at=None):
    return {
        "external_id": f"p-{learner_ref}-{course}",
        "course_external_id": course,
        "learner": {"remote_user_id": learner_ref, "email": f"{learner_ref}@x.edu"},
        "percent": percent,
        "completed_at": completed_at,
    }


def store(lms, records, pass_number: int = 1):
    with transaction.atomic():
        return store_page(lms, "progress", records, pass_number)


def test_completing_a_course_through_the_api_awards_it_with_its_event(biology, ada):
    achievement = first_course(name="First course")
    progress = make_progress(biology, ada, "40")

    patch_progress(ada, progress, percent=100)

    earned = EarnedAchievement.objects.get()
    assert (earned.achievement, earned.learner) == (achievement, ada)
    assert earned.source == "course.completed"
    assert earned.source_record == f"progress:{progress.pk}"
    assert earned.source_event.kind == "course.completed"
    assert earned.course == biology
    assert earned.integration == biology.integration
    [event] = earned_events()
    assert event.subject == f"earned_achievement:{earned.pk}"
    assert event.payload == {
        "earned_achievement_id": earned.pk,
        "achievement_id": achievement.pk,
        "achievement_slug": "first-course",
        "achievement_name": "First course",
        "criterion": "course_completed",
        "learner_id": ada.pk,
        "course_id": biology.pk,
        "integration": "lms",
        "earned_at": earned.earned_at.isoformat(),
        "source": "course.completed",
        "source_record": f"progress:{progress.pk}",
        "source_event_id": earned.source_event_id,
    }


def test_an_achievement_is_earned_once_however_often_it_is_met(biology, chemistry, ada):
    first_course()
    patch_progress(ada, make_progress(biology, ada), percent=100)

    patch_progress(ada, make_progress(chemistry, ada), percent=100)

    assert EarnedAchievement.objects.count() == 1
    assert len(earned_events()) == 1


def test_a_rolled_back_change_awards_nothing(biology, ada):
    first_course()
    progress = make_progress(biology, ada, "100")

    with pytest.raises(RuntimeError), transaction.atomic():
        course_completed(progress, "lms", "api")
        raise RuntimeError("the change fails after its event")
    dispatch_all()

    assert EarnedAchievement.objects.count() == 0
    assert earned_events() == []


def test_a_given_course_is_earned_only_in_that_course(biology, chemistry, ada, bob):
    achievement = first_course(course=chemistry)
    patch_progress(ada, make_progress(biology, ada), percent=100)
    assert holders(achievement) == set()

    patch_progress(bob, make_progress(chemistry, bob), percent=100)

    assert holders(achievement) == {bob.pk}


def test_completing_n_courses_counts_distinct_completed_courses(
    biology, chemistry, ada
):
    two = make_achievement("two-courses", Criterion.COURSES_COMPLETED, min_courses=2)
    patch_progress(ada, make_progress(biology, ada), percent=100)
    assert holders(two) == set()

    patch_progress(ada, make_progress(chemistry, ada), completed_at=timezone.now())

    assert holders(two) == {ada.pk}


def test_reaching_a_percentage_through_the_api(biology, ada):
    halfway = make_achievement(
        "halfway", Criterion.PROGRESS_PERCENT, min_percent=Decimal("50")
    )
    progress = make_progress(biology, ada, "10")
    patch_progress(ada, progress, percent=49.99)
    assert holders(halfway) == set()

    patch_progress(ada, progress, percent=50)

    assert holders(halfway) == {ada.pk}
    assert EarnedAchievement.objects.get().source == "progress.updated"


def test_disabled_achievements_are_not_awarded(biology, ada):
    first_course(enabled=False)

    patch_progress(ada, make_progress(biology, ada), percent=100)

    assert EarnedAchievement.objects.count() == 0


def test_synced_progress_awards_in_the_pages_transaction(lms, biology):
    halfway = make_achievement(
        "halfway", Criterion.PROGRESS_PERCENT, min_percent=Decimal("60")
    )
    done = first_course()

    store(lms, [synced("u1", 60), synced("u2", 59)])
    store(lms, [synced("u1", 60), synced("u2", 100)], 2)
    dispatch_all()

    u1 = Progress.objects.get(external_id="p-u1-c1")
    u2 = Progress.objects.get(external_id="p-u2-c1")
    assert holders(halfway) == {u1.learner_id, u2.learner_id}
    assert holders(done) == {u2.learner_id}
    by_u1 = EarnedAchievement.objects.get(learner_id=u1.learner_id)
    assert (by_u1.source, by_u1.source_record) == ("sync", f"progress:{u1.pk}")
    assert by_u1.source_event is None
    by_u2 = EarnedAchievement.objects.get(achievement=done)
    assert by_u2.source_event.kind == "course.completed"
    assert by_u2.source_event.payload["source"] == "sync"


def test_a_rolled_back_synced_page_awards_nothing(lms, biology):
    first_course()

    with pytest.raises(RuntimeError), transaction.atomic():
        store_page(lms, "progress", [synced("u1", 100)], 1)
        raise RuntimeError("the page fails after storing")
    dispatch_all()

    assert EarnedAchievement.objects.count() == 0
    assert earned_events() == []


def test_a_synced_page_costs_one_query_when_no_achievement_is_enabled(lms, biology):
    first_course(enabled=False)
    store(lms, [synced(f"u{n}", 40) for n in range(20)])

    with CaptureQueriesContext(connection) as captured:
        store(lms, [synced(f"u{n}", 50) for n in range(20)], 2)

    ours = [q["sql"] for q in captured.captured_queries if "achievements_" in q["sql"]]
    assert len(ours) == 1
    assert EarnedAchievement.objects.count() == 0


def test_an_award_another_transaction_won_is_skipped_not_fatal(biology, ada, bob):
    achievement = first_course()
    EarnedAchievement.objects.create(
        achievement=achievement, learner=ada, earned_at=timezone.now(), source="api"
    )
    facts = [
        Fact(learner_id=ada.pk, source="course.completed", completed=True),
        Fact(learner_id=bob.pk, source="course.completed", completed=True),
    ]

    with transaction.atomic():
        # As if the check for existing awards had run before ada's commit.
        written = _write([(achievement, fact) for fact in facts])
        emit("progress.updated", payload={"still": "usable"})

    assert [row.learner_id for row in written] == [bob.pk]
    assert holders(achievement) == {ada.pk, bob.pk}
    assert [e.payload["learner_id"] for e in earned_events()] == [bob.pk]


def test_facts_meeting_nothing_cost_one_query(biology, ada, django_assert_num_queries):
    make_achievement("halfway", Criterion.PROGRESS_PERCENT, min_percent=Decimal(90))
    fact = Fact(learner_id=ada.pk, source="sync", percent=Decimal(10))

    with django_assert_num_queries(1):
        assert award([fact], {Criterion.PROGRESS_PERCENT}) == []


def test_only_enabled_achievements_of_the_wanted_criteria_are_read(biology):
    from portal.achievements.awarding import enabled_achievements

    on = make_achievement(
        "on", Criterion.PROGRESS_PERCENT, min_percent=Decimal("12.5"), course=biology
    )
    first_course(enabled=False)

    [found] = enabled_achievements({Criterion.PROGRESS_PERCENT})

    assert (found.pk, found.slug, found.name, found.course_id) == (
        on.pk,
        "on",
        "On",
        biology.pk,
    )
    assert found.min_percent == Decimal("12.5")
    assert enabled_achievements({Criterion.QUIZ_SCORE}) == []


@pytest.mark.django_db(transaction=True)
def test_a_learner_deleted_before_the_dispatch_awards_nothing_and_blocks_nothing(
    biology, ada
):
    from portal.events.delivery import sweep

    first_course()
    progress = make_progress(biology, ada, "100")
    with transaction.atomic():
        course_completed(progress, "lms", "api")
    emit("sync.failed", subject="integration:lms")
    ada.delete()

    sweep()

    assert EarnedAchievement.objects.count() == 0
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
