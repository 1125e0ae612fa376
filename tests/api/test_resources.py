"""The resources' fields, filters and soft-deletion, as DESIGN.md states them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from integrations.models import (
    Credential,
    HealthStatus,
    Integration,
    SyncRun,
    SyncStatus,
)
from portal.accounts.models import Connection
from portal.learning.models import Course, Enrollment, Progress
from tests.api.conftest import make_course

SYNCED = {"id", "integration", "external_id", "updated_at", "deleted_at"}
FIELDS = {
    "courses": SYNCED | {"title", "code", "state", "starts_at", "ends_at", "url"},
    "assignments": SYNCED | {"course", "title", "due_at", "points_possible"},
    "enrollments": SYNCED | {"course", "learner", "role", "state"},
    "progress": SYNCED | {"course", "learner", "percent", "grade", "completed_at"},
}


@pytest.mark.parametrize("resource", sorted(FIELDS))
def test_each_resource_shows_exactly_its_contract_fields(world, client_for, resource):
    response = client_for(world.staff).get(f"/api/v1/{resource}/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert body["results"]
    for row in body["results"]:
        assert set(row) == FIELDS[resource]
        assert row["integration"] in ("lms-main", "moodle-main")
        assert isinstance(row["external_id"], str)
        assert row["deleted_at"] is None


def test_course_values_are_rendered_as_the_contract_says(world, client_for):
    course = world.course_a
    course.starts_at = timezone.now().replace(microsecond=0)
    course.url = "https://lms.example.edu/courses/101"
    course.save()

    row = client_for(world.learner_a).get(f"/api/v1/courses/{course.pk}/").json()

    assert row["integration"] == "lms-main"
    assert row["external_id"] == "101"
    assert row["code"] == "A-101"
    assert row["state"] == "active"
    assert row["url"] == "https://lms.example.edu/courses/101"
    assert row["starts_at"] == course.starts_at.isoformat().replace("+00:00", "Z")
    assert row["ends_at"] is None


def test_numbers_are_json_numbers(world, client_for):
    client = client_for(world.learner_a)

    assignment = client.get(f"/api/v1/assignments/{world.assignment_a.pk}/").json()
    progress = client.get(f"/api/v1/progress/{world.progress_a.pk}/").json()

    assert assignment["points_possible"] == 10
    assert assignment["course"] == world.course_a.pk
    assert progress["percent"] == 40
    assert progress["learner"] == world.learner_a.pk


def test_soft_deleted_rows_are_hidden_unless_asked_for(world, client_for):
    client = client_for(world.staff)
    gone_at = timezone.now()
    Progress.objects.filter(pk=world.progress_b.pk).update(deleted_at=gone_at)

    default = client.get("/api/v1/progress/").json()["results"]
    everything = client.get("/api/v1/progress/", {"include_deleted": "true"}).json()
    detail = client.get(f"/api/v1/progress/{world.progress_b.pk}/")

    assert world.progress_b.pk not in [row["id"] for row in default]
    deleted = [row for row in everything["results"] if row["id"] == world.progress_b.pk]
    assert deleted[0]["deleted_at"] is not None
    assert detail.status_code == 404


def test_integration_filter_takes_the_name(world, client_for):
    client = client_for(world.staff)

    moodle = client.get("/api/v1/courses/", {"integration": "moodle-main"}).json()
    unknown = client.get("/api/v1/courses/", {"integration": "nope"}).json()

    assert [row["id"] for row in moodle["results"]] == [world.course_b.pk]
    assert unknown["results"] == []


def test_state_role_and_course_filters(world, client_for):
    client = client_for(world.staff)

    completed = client.get("/api/v1/courses/", {"state": "completed"}).json()
    tas = client.get("/api/v1/enrollments/", {"role": "ta"}).json()
    in_shared = client.get("/api/v1/assignments/", {"course": world.shared.pk}).json()
    bad_state = client.get("/api/v1/courses/", {"state": "nope"})

    assert [row["id"] for row in completed["results"]] == [world.course_b.pk]
    assert [row["id"] for row in tas["results"]] == [world.enrollment_shared_b.pk]
    assert [row["id"] for row in in_shared["results"]] == [world.assignment_shared.pk]
    assert bad_state.status_code == 400
    assert "state" in bad_state.json()["details"]


def test_updated_since_keeps_rows_changed_at_or_after(world, client_for):
    client = client_for(world.staff)
    long_ago = timezone.now() - timedelta(days=30)
    Course.objects.exclude(pk=world.course_a.pk).update(updated_at=long_ago)
    since = (long_ago + timedelta(days=1)).isoformat()

    response = client.get("/api/v1/courses/", {"updated_since": since})
    with_z = client.get("/api/v1/courses/", {"updated_since": "2000-01-01T00:00:00Z"})

    assert [row["id"] for row in response.json()["results"]] == [world.course_a.pk]
    assert (
        len(with_z.json()["results"])
        == Course.objects.filter(deleted_at__isnull=True).count()
    )


@pytest.mark.parametrize(
    "value", ["yesterday", "2025-13-01T00:00:00Z", "9999-12-31T23:00:00-05:00", "1"]
)
def test_a_bad_updated_since_is_a_400_naming_the_parameter(world, client_for, value):
    response = client_for(world.staff).get(
        "/api/v1/enrollments/", {"updated_since": value}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["details"]) == ["updated_since"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("course", "abc"), ("course", "0"), ("learner", "99999999999999999999")],
)
def test_a_bad_id_filter_is_a_400_naming_it(world, client_for, param, value):
    response = client_for(world.staff).get("/api/v1/progress/", {param: value})

    assert response.status_code == 400
    assert list(response.json()["details"]) == [param]


def test_deleted_rows_tell_front_ends_what_vanished_since(world, client_for):
    client = client_for(world.learner_a)
    checkpoint = timezone.now()
    Enrollment.objects.filter(pk=world.enrollment_a.pk).update(
        deleted_at=timezone.now(), updated_at=timezone.now()
    )

    changes = client.get(
        "/api/v1/enrollments/",
        {"updated_since": checkpoint.isoformat(), "include_deleted": "true"},
    ).json()["results"]

    assert [(row["id"], row["deleted_at"] is not None) for row in changes] == [
        (world.enrollment_a.pk, True)
    ]


def test_integrations_show_health_and_last_sync_but_never_credentials(
    world, client_for, make_secret
):
    secret = make_secret("canvas")
    credential = Credential(integration=world.lms, key="access_token")
    credential.set_secret(secret)
    credential.save()
    world.lms.health_status = HealthStatus.HEALTHY
    world.lms.health_checked_at = timezone.now()
    world.lms.settings = {"account_id": 1}
    world.lms.save()
    SyncRun.objects.create(integration=world.lms, stream="courses")
    latest = SyncRun.objects.create(
        integration=world.lms, stream="progress", status=SyncStatus.SUCCEEDED
    )

    listing = client_for(world.learner_a).get("/api/v1/integrations/")
    detail = client_for(world.learner_a).get("/api/v1/integrations/lms-main/")

    rows = {row["name"]: row for row in listing.json()["results"]}
    # All but learner B's own (their Google connection's YouTube integration).
    others = Integration.objects.exclude(connection__user=world.learner_b)
    assert set(rows) == set(others.values_list("name", flat=True))
    lms = detail.json()
    assert set(lms) == {
        "name",
        "provider",
        "enabled",
        "health",
        "health_checked_at",
        "last_sync",
    }
    assert lms == rows["lms-main"]
    assert lms["health"] == "healthy"
    assert lms["last_sync"]["id"] == latest.pk
    assert lms["last_sync"]["stream"] == "progress"
    assert lms["last_sync"]["status"] == "succeeded"
    assert rows["moodle-main"]["last_sync"] is None
    # The leak checker fails the test if the secret appears in any response;
    # the credential's hint and the settings must not show either.
    assert credential.hint not in listing.content.decode()
    assert "account_id" not in listing.content.decode()


def test_sync_runs_show_counts_to_staff(world, client_for):
    run = SyncRun.objects.create(
        integration=world.moodle,
        stream="courses",
        status=SyncStatus.FAILED,
        fetched=12,
        created=10,
        error_code="rate_limited",
        cursor={"next": "https://lms.example.edu/api?page=3"},
        started_at=timezone.now() - timedelta(seconds=5),
        finished_at=timezone.now(),
    )
    SyncRun.objects.create(integration=world.lms, stream="courses")
    client = client_for(world.staff)

    rows = client.get("/api/v1/sync-runs/", {"integration": "moodle-main"}).json()
    failed = client.get("/api/v1/sync-runs/", {"status": "failed"}).json()

    assert [row["id"] for row in rows["results"]] == [run.pk]
    row = rows["results"][0]
    assert row["integration"] == "moodle-main"
    assert row["fetched"] == 12
    assert row["error_code"] == "rate_limited"
    assert 4 < row["duration_seconds"] < 60
    assert "cursor" not in row
    assert [r["id"] for r in failed["results"]] == [run.pk]


def test_sync_runs_list_newest_first(world, client_for):
    first = SyncRun.objects.create(integration=world.lms, stream="courses")
    second = SyncRun.objects.create(integration=world.lms, stream="courses")

    rows = client_for(world.staff).get("/api/v1/sync-runs/").json()["results"]

    assert [row["id"] for row in rows] == [second.pk, first.pk]


def test_a_course_the_learner_is_enrolled_in_twice_is_listed_once(world, client_for):
    Enrollment.objects.create(
        integration=world.moodle,
        course=world.course_a,
        learner=world.learner_a,
        external_id="second-enrollment",
        content_hash="h",
    )
    extra = make_course(world.lms, "999")

    ids = [
        row["id"]
        for row in client_for(world.learner_a).get("/api/v1/courses/").json()["results"]
    ]

    assert ids.count(world.course_a.pk) == 1
    assert extra.pk not in ids


def test_learners_see_the_schools_integrations_and_their_own_only(world, client_for):
    def learner_integration(user) -> Integration:
        account = SocialAccount.objects.create(
            user=user, provider="github", uid=str(user.pk)
        )
        connection = Connection.objects.create(
            user=user, social_account=account, provider="github", uid=str(user.pk)
        )
        return Integration.objects.create(
            name=f"own-{user.pk}-github", provider="github", connection=connection
        )

    own = learner_integration(world.learner_a)
    other = learner_integration(world.learner_b)

    names = {
        row["name"]
        for row in client_for(world.learner_a)
        .get("/api/v1/integrations/")
        .json()["results"]
    }
    hidden = client_for(world.learner_a).get(f"/api/v1/integrations/{other.name}/")
    staff = client_for(world.staff).get(f"/api/v1/integrations/{other.name}/")

    assert own.name in names and "lms-main" in names
    assert other.name not in names
    assert hidden.status_code == 404
    assert staff.status_code == 200
