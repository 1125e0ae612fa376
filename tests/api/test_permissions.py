"""The permission matrix: no learner reads or writes another learner's data.

Every row of every resource is requested by id as each user, through every
filter and ordering, and through nested paths; what comes back is compared
with an oracle (tests/api/helpers.py) written independently of the API's own
scoping code.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.learning.models import Enrollment, Progress
from tests.api.helpers import ORDERINGS, RESOURCES, expected_ids, list_ids

USERS = ["learner_a", "learner_b", "staff"]


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_every_row_by_id_is_visible_exactly_when_in_scope(
    world, client_for, who, resource
):
    user = getattr(world, who)
    client = client_for(user)
    visible = expected_ids(resource, user, include_deleted=True)
    live = expected_ids(resource, user)

    for row in RESOURCES[resource].objects.all():
        response = client.get(f"/api/v1/{resource}/{row.pk}/")
        deleted = client.get(
            f"/api/v1/{resource}/{row.pk}/", {"include_deleted": "true"}
        )
        if row.pk in live:
            assert response.status_code == 200
            assert response.json()["id"] == row.pk
        else:
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"
        assert deleted.status_code == (200 if row.pk in visible else 404)


@pytest.mark.parametrize("who", USERS)
@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_lists_in_every_ordering_hold_exactly_the_scope(
    world, client_for, who, resource
):
    user = getattr(world, who)
    client = client_for(user)

    for field in ORDERINGS[resource]:
        for ordering in (field, f"-{field}"):
            ids = list_ids(client, resource, ordering=ordering)
            assert sorted(ids) == sorted(expected_ids(resource, user))
            with_deleted = list_ids(
                client, resource, ordering=ordering, include_deleted="true"
            )
            assert set(with_deleted) == expected_ids(
                resource, user, include_deleted=True
            )


@pytest.mark.parametrize(("attacker", "victim"), [("a", "b"), ("b", "a")])
def test_filtering_by_another_learner_returns_nothing(
    world, client_for, attacker, victim
):
    me = getattr(world, f"learner_{attacker}")
    other = getattr(world, f"learner_{victim}")
    client = client_for(me)

    for resource in RESOURCES:
        # Assignments and YouTube content have no learner filter.
        if resource in ("assignments", "playlists", "videos"):
            continue
        assert list_ids(client, resource, learner=other.pk) == []
        own = list_ids(client, resource, learner=me.pk)
        assert set(own) == expected_ids(resource, me) or resource == "courses"
    # The shared course must not reveal that the other learner is in it.
    assert list_ids(client, "courses", learner=other.pk) == []
    assert world.shared.pk in list_ids(client, "courses", learner=me.pk)


@pytest.mark.parametrize(("attacker", "victim"), [("a", "b"), ("b", "a")])
def test_filtering_by_a_course_shows_only_own_rows_in_it(
    world, client_for, attacker, victim
):
    me = getattr(world, f"learner_{attacker}")
    client = client_for(me)
    own_course = world.course_a if attacker == "a" else world.course_b
    other_course = world.course_b if attacker == "a" else world.course_a

    for resource in ("assignments", "enrollments", "progress"):
        assert list_ids(client, resource, course=other_course.pk) == []
        assert list_ids(client, resource, course=own_course.pk)
    shared_enrollments = list_ids(client, "enrollments", course=world.shared.pk)
    shared_progress = list_ids(client, "progress", course=world.shared.pk)
    assert [Enrollment.objects.get(pk=pk).learner_id for pk in shared_enrollments] == [
        me.pk
    ]
    assert [Progress.objects.get(pk=pk).learner_id for pk in shared_progress] == [me.pk]


def test_staff_may_filter_by_any_learner(world, client_for):
    client = client_for(world.staff)

    ids = list_ids(client, "courses", learner=world.learner_b.pk)
    progress = list_ids(client, "progress", learner=world.learner_b.pk)

    assert set(ids) == {world.course_b.pk, world.shared.pk}
    assert set(progress) == {world.progress_b.pk, world.progress_shared_b.pk}


@pytest.mark.parametrize(("attacker", "victim"), [("a", "b"), ("b", "a")])
def test_no_learner_can_change_another_learners_progress(
    world, client_for, attacker, victim
):
    me = getattr(world, f"learner_{attacker}")
    other = getattr(world, f"learner_{victim}")
    client = client_for(me)
    before = {row.pk: row.percent for row in Progress.objects.filter(learner=other)}

    for pk in before:
        patched = client.patch(
            f"/api/v1/progress/{pk}/", {"percent": 99}, format="json"
        )
        put = client.put(f"/api/v1/progress/{pk}/", {"percent": 99}, format="json")
        deleted = client.delete(f"/api/v1/progress/{pk}/")
        assert patched.status_code == 404
        assert patched.json()["code"] == "not_found"
        assert put.status_code == 405
        assert deleted.status_code == 405

    after = {row.pk: row.percent for row in Progress.objects.filter(learner=other)}
    assert after == before


def test_reporting_progress_for_another_learner_writes_only_ones_own(world, client_for):
    world.progress_shared_a.delete()
    client = client_for(world.learner_a)

    response = client.post(
        "/api/v1/progress/",
        {"course": world.shared.pk, "learner": world.learner_b.pk, "percent": 5},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["learner"] == world.learner_a.pk
    assert (
        world.progress_shared_b.percent
        == Progress.objects.get(pk=world.progress_shared_b.pk).percent
    )


@pytest.mark.parametrize(
    "course_name", ["course_b", "lonely", "deleted_course", "dropped", None]
)
def test_progress_in_a_course_outside_ones_enrollments_is_refused_alike(
    world, client_for, course_name
):
    client = client_for(world.learner_a)
    course_id = getattr(world, course_name).pk if course_name else 987654
    count = Progress.objects.count()

    response = client.post(
        "/api/v1/progress/", {"course": course_id, "percent": 50}, format="json"
    )

    # Same answer whether the course exists or not: nothing leaks its existence.
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["details"]["course"] == [
        f'Invalid pk "{course_id}" - object does not exist.'
    ]
    assert Progress.objects.count() == count


def test_staff_can_read_but_not_change_a_learners_progress(world, client_for):
    client = client_for(world.staff)

    read = client.get(f"/api/v1/progress/{world.progress_b.pk}/")
    write = client.patch(
        f"/api/v1/progress/{world.progress_b.pk}/", {"percent": 1}, format="json"
    )

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["code"] == "permission_denied"
    world.progress_b.refresh_from_db()
    assert world.progress_b.percent == Decimal("70.00")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/courses/{course}/assignments/",
        "/api/v1/courses/{course}/enrollments/",
        "/api/v1/courses/{course}/progress/",
        "/api/v1/learners/{learner}/progress/",
        "/api/v1/users/{learner}/",
        "/api/v1/progress/{progress}/learner/",
    ],
)
def test_no_nested_route_reaches_other_learners_data(world, client_for, path):
    client = client_for(world.learner_a)
    url = path.format(
        course=world.course_b.pk,
        learner=world.learner_b.pk,
        progress=world.progress_b.pk,
    )

    response = client.get(url)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert str(world.learner_b.email) not in response.content.decode()


def test_learners_cannot_read_sync_runs(world, client_for):
    from integrations.models import SyncRun

    run = SyncRun.objects.create(integration=world.lms, stream="courses")

    listing = client_for(world.learner_a).get("/api/v1/sync-runs/")
    detail = client_for(world.learner_a).get(f"/api/v1/sync-runs/{run.pk}/")
    staff = client_for(world.staff).get(f"/api/v1/sync-runs/{run.pk}/")

    assert listing.status_code == 403
    assert listing.json()["code"] == "permission_denied"
    assert detail.status_code == 403
    assert staff.status_code == 200


def test_tokens_of_another_user_are_invisible_and_irrevocable(
    world, client_for, token_client
):
    victim_client, victim_token = token_client(world.learner_b, "b's app")
    client = client_for(world.learner_a)

    listing = client.get("/api/v1/tokens/")
    revoke = client.delete(f"/api/v1/tokens/{victim_token.pk}/")

    assert listing.json()["results"] == []
    assert revoke.status_code == 404
    assert victim_client.get("/api/v1/courses/").status_code == 200


def test_unauthenticated_requests_read_nothing(world, client_for):
    client = client_for(None)

    for resource in [*RESOURCES, "integrations", "sync-runs", "tokens"]:
        response = client.get(f"/api/v1/{resource}/")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    post = client.post(
        "/api/v1/progress/", {"course": world.course_a.pk, "percent": 1}, format="json"
    )
    assert post.status_code == 401
