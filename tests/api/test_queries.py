"""No list costs more queries for more rows: 1 row and 50 rows cost the same."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from integrations.models import Integration, SyncRun
from portal.api.models import ApiToken
from tests.api.conftest import (
    make_assignment,
    make_course,
    make_enrollment,
    make_playlist,
    make_progress,
    make_repository,
    make_video,
)


def build(rows: int):
    """Create ``rows`` of everything for one learner; return (learner, staff)."""
    users = get_user_model().objects
    learner = users.create_user("learner", "l@example.edu", "pw-l-123456")
    staff = users.create_user("boss", "b@example.edu", "pw-b-123456", is_staff=True)
    for number in range(rows):
        integration = Integration.objects.create(name=f"lms-{number}", provider="rest")
        SyncRun.objects.create(integration=integration, stream="courses")
        SyncRun.objects.create(integration=integration, stream="progress")
        course = make_course(integration, str(number))
        make_assignment(course, f"a{number}")
        make_enrollment(course, learner)
        make_progress(course, learner)
        make_repository(integration, f"r{number}", learner)
        make_playlist(integration, f"PL{number}", f"v{number}")
        make_video(integration, f"v{number}")
        ApiToken.objects.issue(learner, f"token {number}")
        ApiToken.objects.issue(staff, f"token {number}")
    return learner, staff


#: Queries of each list with a forced login: the page, plus the latest runs
#: of the integrations on it (one prefetch for the whole page).
EXPECTED = {
    "courses": 1,
    "assignments": 1,
    "enrollments": 1,
    "progress": 1,
    "repositories": 1,
    "playlists": 1,
    "videos": 1,
    "integrations": 2,
    "tokens": 1,
}


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 50])
@pytest.mark.parametrize("who", ["learner", "staff"])
@pytest.mark.parametrize("resource", sorted(EXPECTED))
def test_a_page_costs_the_same_queries_whatever_its_length(
    rows, who, resource, django_assert_num_queries
):
    learner, staff = build(rows)
    client = APIClient()
    client.force_authenticate(learner if who == "learner" else staff)

    with django_assert_num_queries(EXPECTED[resource]):
        response = client.get(f"/api/v1/{resource}/")

    assert response.status_code == 200
    assert len(response.json()["results"]) == rows


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 50])
def test_sync_runs_cost_one_query(rows, django_assert_num_queries):
    _, staff = build(rows)
    client = APIClient()
    client.force_authenticate(staff)

    with django_assert_num_queries(1):
        response = client.get("/api/v1/sync-runs/")

    assert len(response.json()["results"]) == 2 * rows


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 50])
def test_a_next_page_by_cursor_costs_the_same(rows, django_assert_num_queries):
    learner, _ = build(rows + 1)
    client = APIClient()
    client.force_authenticate(learner)
    first = client.get("/api/v1/progress/", {"page_size": 1, "ordering": "-updated_at"})

    with django_assert_num_queries(1):
        client.get(first.json()["next"])


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 50])
def test_token_and_session_auth_add_a_fixed_cost(rows, django_assert_num_queries):
    learner, _ = build(rows)
    row, token = ApiToken.objects.issue(learner, "counted")
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    bearer.get("/api/v1/courses/")  # the first use writes last_used_at
    session = APIClient()
    session.force_login(learner)

    # The token with its user in one query, then the page.
    with django_assert_num_queries(2):
        bearer.get("/api/v1/courses/")
    # The session, the user, then the page.
    with django_assert_num_queries(3):
        session.get("/api/v1/courses/")
