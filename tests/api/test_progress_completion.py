"""``course.completed``: written with the change that completes a course."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from portal.api.views import ProgressViewSet
from portal.events.models import Event


def completions() -> list[Event]:
    """Return the course.completed events, oldest first."""
    return list(Event.objects.filter(kind="course.completed").order_by("id"))


def test_reaching_100_percent_emits_course_completed_once(world, client_for):
    client = client_for(world.learner_a)
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    client.patch(url, {"percent": 100}, format="json")
    client.patch(url, {"percent": 100, "completed_at": timezone.now()}, format="json")

    [event] = completions()
    assert event.subject == f"progress:{world.progress_a.pk}"
    assert event.payload["course_id"] == world.course_a.pk
    assert event.payload["learner_id"] == world.learner_a.pk
    assert event.payload["integration"] == "lms-main"
    assert event.payload["source"] == "api"


def test_a_completion_time_completes_below_100_percent(world, client_for):
    client = client_for(world.learner_a)
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    client.patch(url, {"percent": 60}, format="json")
    assert completions() == []
    client.patch(url, {"completed_at": timezone.now()}, format="json")

    [event] = completions()
    assert event.payload["percent"] == "60.00"
    assert event.payload["completed_at"] is not None


def test_new_completed_progress_emits_course_completed(world, client_for):
    world.progress_shared_a.delete()

    response = client_for(world.learner_a).post(
        "/api/v1/progress/", {"course": world.shared.pk, "percent": 100}, format="json"
    )

    assert response.status_code == 201
    [event] = completions()
    assert event.payload["progress_id"] == response.json()["id"]


def test_progress_below_completion_emits_no_completion(world, client_for):
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    client_for(world.learner_a).patch(url, {"percent": 99.99}, format="json")

    assert Event.objects.filter(kind="progress.updated").count() == 1
    assert completions() == []


def test_a_rolled_back_completion_emits_nothing(world):
    progress = world.progress_a

    with pytest.raises(RuntimeError), transaction.atomic():
        progress.percent = 100
        progress.save()
        ProgressViewSet()._announce(progress, ["percent"], was_complete=False)
        assert len(completions()) == 1
        raise RuntimeError("rolled back")

    assert not Event.objects.exists()
