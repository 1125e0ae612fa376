"""/api/v1/submissions/: fields, filters, and learners seeing only their own."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from portal.learning.models import Assignment, Submission
from tests.api.helpers import list_rows

FIELDS = {
    "id",
    "integration",
    "external_id",
    "updated_at",
    "deleted_at",
    "assignment",
    "course",
    "learner",
    "state",
    "submitted_at",
    "attempt",
    "score",
    "grade",
    "late",
    "missing",
    "url",
}
HANDED_IN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def add_submission(assignment, learner, **values) -> Submission:
    return Submission.objects.create(
        integration=assignment.integration,
        assignment=assignment,
        learner=learner,
        external_id=f"sub-{assignment.external_id}-{learner.pk}",
        content_hash="h",
        **values,
    )


@pytest.fixture
def submissions(world):
    return {
        "a_own": add_submission(
            world.assignment_a,
            world.learner_a,
            state="graded",
            submitted_at=HANDED_IN,
            attempt=1,
            score=Decimal("8.50"),
            grade="8.5",
            url="https://canvas.example.edu/courses/101/assignments/1/submissions/5",
        ),
        "a_shared": add_submission(world.assignment_shared, world.learner_a),
        "b_shared": add_submission(
            world.assignment_shared,
            world.learner_b,
            state="submitted",
            submitted_at=HANDED_IN,
            attempt=2,
            late=True,
        ),
        "b_own": add_submission(world.assignment_b, world.learner_b),
        "a_gone": add_submission(
            Assignment.objects.create(
                integration=world.lms,
                course=world.course_a,
                external_id="a-gone",
                title="Removed",
                content_hash="h",
            ),
            world.learner_a,
            deleted_at=timezone.now(),
        ),
    }


def test_a_learner_lists_only_their_own_with_every_field(
    world, submissions, client_for
):
    rows = list_rows(client_for(world.learner_a), "submissions")

    assert {row["id"] for row in rows} == {
        submissions["a_own"].pk,
        submissions["a_shared"].pk,
    }
    own = next(row for row in rows if row["id"] == submissions["a_own"].pk)
    assert set(own) == FIELDS
    assert own == {
        **own,
        "integration": "lms-main",
        "assignment": world.assignment_a.pk,
        "course": world.course_a.pk,
        "learner": world.learner_a.pk,
        "state": "graded",
        "submitted_at": "2026-03-01T09:30:00Z",
        "attempt": 1,
        "score": 8.5,
        "grade": "8.5",
        "late": False,
        "missing": False,
    }


def test_another_learners_submission_is_a_404(world, submissions, client_for):
    client = client_for(world.learner_a)

    response = client.get(f"/api/v1/submissions/{submissions['b_shared'].pk}/")
    own = client.get(f"/api/v1/submissions/{submissions['a_own'].pk}/")

    assert response.status_code == 404
    assert own.status_code == 200
    assert own.json()["id"] == submissions["a_own"].pk


def test_filtering_by_another_learner_returns_nothing(world, submissions, client_for):
    rows = list_rows(
        client_for(world.learner_a), "submissions", learner=world.learner_b.pk
    )

    assert rows == []


def test_staff_see_all_and_filter_by_course_assignment_and_state(
    world, submissions, client_for
):
    client = client_for(world.staff)

    everyone = {row["id"] for row in list_rows(client, "submissions")}
    in_shared = list_rows(client, "submissions", course=world.shared.pk)
    of_assignment = list_rows(client, "submissions", assignment=world.assignment_a.pk)
    submitted = list_rows(client, "submissions", state="submitted")
    with_deleted = list_rows(client, "submissions", include_deleted="true")

    live = {key for key in submissions if key != "a_gone"}
    assert everyone == {submissions[key].pk for key in live}
    assert {row["learner"] for row in in_shared} == {
        world.learner_a.pk,
        world.learner_b.pk,
    }
    assert [row["id"] for row in of_assignment] == [submissions["a_own"].pk]
    assert [row["id"] for row in submitted] == [submissions["b_shared"].pk]
    assert len(with_deleted) == len(submissions)


def test_integration_and_updated_since_filter(world, submissions, client_for):
    client = client_for(world.staff)
    Submission.objects.filter(pk=submissions["b_own"].pk).update(
        updated_at=datetime(2020, 1, 1, tzinfo=UTC)
    )

    from_moodle = list_rows(client, "submissions", integration="moodle-main")
    recent = list_rows(client, "submissions", updated_since="2025-01-01T00:00:00Z")

    assert [row["id"] for row in from_moodle] == [submissions["b_own"].pk]
    assert submissions["b_own"].pk not in {row["id"] for row in recent}
    assert len(recent) == 3


def test_bad_filter_values_name_the_parameter(world, submissions, client_for):
    client = client_for(world.staff)

    state = client.get("/api/v1/submissions/", {"state": "lost"})
    since = client.get("/api/v1/submissions/", {"updated_since": "yesterday"})

    assert state.status_code == since.status_code == 400
    assert "state" in state.json()["details"]
    assert "updated_since" in since.json()["details"]


def test_submissions_are_read_only(world, submissions, client_for):
    client = client_for(world.learner_a)

    created = client.post("/api/v1/submissions/", {}, format="json")
    changed = client.patch(
        f"/api/v1/submissions/{submissions['a_own'].pk}/", {}, format="json"
    )

    assert created.status_code == changed.status_code == 405


def test_anonymous_requests_are_refused(world, submissions, client_for):
    response = client_for().get("/api/v1/submissions/")

    assert response.status_code == 401


def test_the_schema_documents_the_resource(db, client_for):
    schema = client_for().get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    paths = schema.json()["paths"]
    assert set(paths["/api/v1/submissions/"]) == {"get"}
    assert set(paths["/api/v1/submissions/{id}/"]) == {"get"}
    parameters = {p["name"] for p in paths["/api/v1/submissions/"]["get"]["parameters"]}
    assert {"integration", "updated_since", "assignment", "course", "learner"} <= (
        parameters
    )
    component = schema.json()["components"]["schemas"]["Submission"]
    assert set(component["properties"]) == FIELDS


def test_the_admin_lists_submissions_and_refuses_edits(world, submissions, client):
    admin_user = world.staff
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)

    listing = client.get("/admin/learning/submission/", {"state__exact": "graded"})
    detail = client.post(
        f"/admin/learning/submission/{submissions['a_own'].pk}/change/",
        {"state": "submitted"},
    )

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert detail.status_code == 403
    assert Submission.objects.get(pk=submissions["a_own"].pk).state == "graded"
