"""Reporting progress: validated, stored, announced and routed to the LMS."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from portal.api.views import portal_external_id
from portal.events.models import Delivery, DeliveryStatus, Event
from portal.events.routing import dispatch_events
from portal.learning.models import Progress


def routed_write_backs(progress_id: int) -> list[Delivery]:
    """Run the dispatcher; return the LMS write-backs of a progress row."""
    dispatch_events()
    return list(Delivery.objects.filter(coalesce_key=f"progress:{progress_id}"))


def post(client, **body):
    """POST progress as JSON."""
    return client.post("/api/v1/progress/", body, format="json")


@pytest.fixture
def fresh(world):
    """Learner A without progress in ``shared`` yet."""
    world.progress_shared_a.delete()
    return world


def test_reporting_creates_the_row_the_event_and_the_write_back(
    fresh, client_for, django_capture_on_commit_callbacks
):
    client = client_for(fresh.learner_a)
    completed = timezone.now().replace(microsecond=0)

    with django_capture_on_commit_callbacks() as callbacks:
        response = post(
            client, course=fresh.shared.pk, percent=62.5, completed_at=completed
        )

    assert response.status_code == 201
    body = response.json()
    progress = Progress.objects.get(pk=body["id"])
    assert body["percent"] == 62.5
    assert body["learner"] == fresh.learner_a.pk
    assert body["course"] == fresh.shared.pk
    assert body["integration"] == "lms-main"
    assert body["external_id"] == f"portal:{fresh.shared.pk}:{fresh.learner_a.pk}"
    assert progress.percent == Decimal("62.50")
    assert progress.completed_at == completed
    assert progress.integration_id == fresh.shared.integration_id

    event = Event.objects.get(
        kind="progress.updated", subject=f"progress:{progress.pk}"
    )
    assert event.payload["percent"] == "62.50"
    assert event.payload["learner_id"] == fresh.learner_a.pk
    assert event.payload["integration"] == "lms-main"
    # Nothing is sent from the request: the dispatcher routes the event.
    assert callbacks == []
    [write_back] = routed_write_backs(progress.pk)
    assert write_back.sink_id == fresh.lms.pk
    assert write_back.event == event
    assert write_back.status == DeliveryStatus.PENDING


def test_a_course_whose_provider_cannot_write_back_queues_nothing(world, client_for):
    world.progress_b.delete()
    client = client_for(world.learner_b)

    response = post(client, course=world.course_b.pk, percent=10)

    assert response.status_code == 201
    assert Event.objects.filter(subject=f"progress:{response.json()['id']}").exists()
    assert routed_write_backs(response.json()["id"]) == []


@pytest.mark.parametrize(
    ("percent", "message"),
    [
        (101, "Ensure this value is less than or equal to 100."),
        (-1, "Ensure this value is greater than or equal to 0."),
        ("lots", "A valid number is required."),
        (100.005, "Ensure this value is less than or equal to 100."),
        (1e300, "Ensure that there are no more than 5 digits in total."),
        (None, "This field may not be null."),
    ],
)
def test_percent_must_be_between_0_and_100(fresh, client_for, percent, message):
    response = post(
        client_for(fresh.learner_a), course=fresh.shared.pk, percent=percent
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "The request has invalid values; see details for each field.",
        "details": {"percent": [message]},
    }
    assert not Event.objects.exists()


def test_percent_is_rounded_to_two_decimals(fresh, client_for):
    client = client_for(fresh.learner_a)

    response = post(client, course=fresh.shared.pk, percent=33.33333333)

    assert response.status_code == 201
    assert response.json()["percent"] == 33.33
    assert Progress.objects.get(pk=response.json()["id"]).percent == Decimal("33.33")


def test_course_and_percent_are_required(fresh, client_for):
    response = post(client_for(fresh.learner_a))

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"course", "percent"}


def test_reporting_twice_is_a_conflict_naming_the_existing_row(world, client_for):
    client = client_for(world.learner_a)

    response = post(client, course=world.course_a.pk, percent=90)

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert response.json()["details"] == {"id": world.progress_a.pk}
    world.progress_a.refresh_from_db()
    assert world.progress_a.percent == Decimal("40.00")
    assert not Event.objects.exists()


def test_a_deleted_portal_row_comes_back_when_reported_again(fresh, client_for):
    client = client_for(fresh.learner_a)
    first = post(client, course=fresh.shared.pk, percent=5).json()
    Progress.objects.filter(pk=first["id"]).update(deleted_at=timezone.now())

    again = post(client, course=fresh.shared.pk, percent=7)

    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert again.json()["deleted_at"] is None
    assert Progress.objects.filter(external_id=first["external_id"]).count() == 1


def test_patch_changes_own_progress_and_announces_it(world, client_for):
    client = client_for(world.learner_a)
    url = f"/api/v1/progress/{world.progress_a.pk}/"
    before = world.progress_a.updated_at

    response = client.patch(url, {"percent": 100}, format="json")

    assert response.status_code == 200
    assert response.json()["percent"] == 100
    world.progress_a.refresh_from_db()
    assert world.progress_a.percent == Decimal("100.00")
    assert world.progress_a.updated_at > before
    # A synced row keeps its external id: the LMS's own.
    assert world.progress_a.external_id == f"p-101-{world.learner_a.pk}"
    event = Event.objects.get(
        kind="progress.updated", subject=f"progress:{world.progress_a.pk}"
    )
    assert event.payload["changed"] == ["percent"]
    assert len(routed_write_backs(world.progress_a.pk)) == 1


def test_patch_without_a_change_announces_nothing(world, client_for):
    client = client_for(world.learner_a)
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    response = client.patch(url, {"percent": "40.00"}, format="json")

    assert response.status_code == 200
    assert not Event.objects.exists()
    assert routed_write_backs(world.progress_a.pk) == []


def test_two_changes_before_a_push_coalesce_under_one_key(world, client_for):
    client = client_for(world.learner_a)
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    client.patch(url, {"percent": 50}, format="json")
    client.patch(url, {"percent": 60, "completed_at": None}, format="json")

    assert Event.objects.filter(kind="progress.updated").count() == 2
    # One delivery per event, one key: the worker pushes them as one.
    assert len(routed_write_backs(world.progress_a.pk)) == 2


def test_patch_validates_percent(world, client_for):
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    response = client_for(world.learner_a).patch(url, {"percent": 250}, format="json")

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["percent"]


def test_grade_and_learner_are_read_only(world, client_for):
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    response = client_for(world.learner_a).patch(
        url, {"grade": "A+", "learner": world.learner_b.pk}, format="json"
    )

    assert response.status_code == 200
    world.progress_a.refresh_from_db()
    assert world.progress_a.grade == ""
    assert world.progress_a.learner_id == world.learner_a.pk


def test_the_external_id_scheme_is_reserved_for_the_portal(world):
    assert portal_external_id(world.shared, 7) == f"portal:{world.shared.pk}:7"


def test_a_token_acting_for_the_learner_may_report(fresh, token_client):
    client, _ = token_client(fresh.learner_a, "front end")

    response = post(client, course=fresh.shared.pk, percent=33)

    assert response.status_code == 201
    assert response.json()["learner"] == fresh.learner_a.pk


def test_a_non_json_body_is_refused(fresh, client_for):
    response = client_for(fresh.learner_a).post(
        "/api/v1/progress/",
        "course=1&percent=2",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
