"""The home page, as an anonymous visitor, a staff member and a learner see it."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.models import HealthStatus, Integration, SyncRun, SyncStatus
from portal.accounts.models import Connection, ConnectionStatus
from portal.learning.models import (
    Course,
    CourseState,
    Enrollment,
    EnrollmentState,
    LearnerIdentity,
    Progress,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cheap_password_hashing(settings):
    """Hash the admin user's password cheaply; the hasher is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_integration(
    name: str, health: str = HealthStatus.HEALTHY, **fields
) -> Integration:
    """Create an integration row directly (the admin's validation is not under test)."""
    fields.setdefault("health_checked_at", timezone.now() - timedelta(minutes=3))
    return Integration.objects.create(
        name=name,
        provider="rest",
        base_url="http://127.0.0.1:9/api",
        health_status=health,
        **fields,
    )


def make_run(integration: Integration, status: str = SyncStatus.SUCCEEDED, **fields):
    """Create a finished sync run with some counts."""
    now = timezone.now()
    defaults = {
        "stream": "courses",
        "status": status,
        "started_at": now - timedelta(seconds=30),
        "finished_at": now if status not in SyncRun.ACTIVE_STATUSES else None,
        "fetched": 12,
        "created": 5,
        "updated": 2,
        "unchanged": 5,
    }
    defaults.update(fields)
    return SyncRun.objects.create(integration=integration, **defaults)


def queries_for(client, url: str) -> int:
    """Return how many SQL queries one GET of ``url`` runs."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_anonymous_visitor_sees_a_description_and_a_sign_in_link(client):
    make_integration("secret-lms")

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/accounts/login/"' in html
    assert "learning platforms" in html
    assert "secret-lms" not in html
    assert "/static/portal.css" in html


def test_pages_load_nothing_from_another_host(client, admin_user):
    for user in (None, admin_user):
        if user is not None:
            client.force_login(user)
        html = client.get("/").content.decode()

        external = re.findall(r'(?:src|href)="(?:https?:)?//[^"]*"', html)
        assert external == []


def test_staff_see_every_integration_with_health_and_last_sync(client, admin_user):
    healthy = make_integration("canvas-main")
    make_run(healthy, created=7)
    degraded = make_integration(
        "moodle-east", HealthStatus.DEGRADED, health_error="Timed out after 10 s"
    )
    make_run(degraded, SyncStatus.RUNNING, fetched=40)
    unhealthy = make_integration(
        "rest-grades", HealthStatus.UNHEALTHY, health_error="Authentication failed"
    )
    make_run(unhealthy, SyncStatus.FAILED, error_summary="HTTP 401 from the API")
    make_integration("never-checked", HealthStatus.UNKNOWN, health_checked_at=None)
    client.force_login(admin_user)

    response = client.get("/")

    html = response.content.decode()
    for integration in Integration.objects.all():
        change_url = f"/admin/integrations/integration/{integration.pk}/change/"
        assert change_url in html
        assert f"?integration__id__exact={integration.pk}" in html
    for css_class in (
        "badge--healthy",
        "badge--degraded",
        "badge--unhealthy",
        "badge--unknown",
        "badge--succeeded",
        "badge--running",
        "badge--failed",
    ):
        assert css_class in html
    assert "7 new" in html
    assert "40 fetched" in html
    assert "Timed out after 10 s" in html
    assert "HTTP 401 from the API" in html
    assert "never synced" in html
    assert "never checked" in html
    assert 'href="/api/v1/docs/"' in html
    assert 'href="/admin/integrations/syncrun/"' in html


def test_staff_see_the_newest_run_of_each_integration(client, admin_user):
    integration = make_integration("canvas-main")
    old = make_run(integration, SyncStatus.FAILED, error_summary="old failure")
    old.created_at = timezone.now() - timedelta(days=1)
    old.save()
    make_run(integration, SyncStatus.SUCCEEDED)
    client.force_login(admin_user)

    html = client.get("/").content.decode()

    assert "badge--succeeded" in html
    assert "old failure" not in html


def test_staff_summary_counts_integrations_per_health_state(client, admin_user):
    make_integration("a")
    make_integration("b")
    make_integration("c", HealthStatus.UNHEALTHY)
    client.force_login(admin_user)

    response = client.get("/")

    summary = {
        item["status"]: item["count"] for item in response.context["health_summary"]
    }
    assert summary == {"unknown": 0, "healthy": 2, "degraded": 0, "unhealthy": 1}


def test_staff_dashboard_runs_as_many_queries_for_20_integrations_as_for_1(
    client, admin_user, django_assert_max_num_queries
):
    client.force_login(admin_user)
    make_run(make_integration("first"))
    baseline = queries_for(client, "/")

    for number in range(19):
        make_run(make_integration(f"more-{number}"))
    with django_assert_max_num_queries(baseline):
        response = client.get("/")

    assert len(response.context["integration_rows"]) == 20
    assert baseline <= 6


def test_staff_without_permission_see_no_integrations(client, django_user_model):
    make_integration("canvas-main")
    staff = django_user_model.objects.create_user("helpdesk", is_staff=True)
    client.force_login(staff)

    html = client.get("/").content.decode()

    assert "canvas-main" not in html
    assert "Can view integration" in html


def test_staff_with_view_permission_see_integrations(client, django_user_model):
    make_integration("canvas-main")
    staff = django_user_model.objects.create_user("helpdesk", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_integration"))
    client.force_login(staff)

    html = client.get("/").content.decode()

    assert "canvas-main" in html


def test_staff_with_no_integration_are_invited_to_add_one(client, admin_user):
    client.force_login(admin_user)

    html = client.get("/").content.decode()

    assert "No integration is configured yet" in html
    assert 'href="/admin/integrations/integration/add/"' in html


@pytest.fixture
def learner(django_user_model):
    return django_user_model.objects.create_user("ada", email="ada@example.edu")


def enroll(learner, integration, number: int, *, percent="0", **fields):
    """Enroll ``learner`` in a new course with a progress row."""
    course = Course.objects.create(
        integration=integration,
        external_id=f"c{number}",
        title=f"Course {number:02d}",
        code=f"C-{number}",
        state=CourseState.ACTIVE,
    )
    enrollment = Enrollment.objects.create(
        integration=integration,
        external_id=f"e{number}",
        course=course,
        learner=learner,
    )
    progress = Progress.objects.create(
        integration=integration,
        external_id=f"p{number}",
        course=course,
        learner=learner,
        percent=Decimal(percent),
        **fields,
    )
    return course, enrollment, progress


def test_learner_sees_their_courses_and_progress(client, learner, django_user_model):
    integration = make_integration("canvas-main")
    enroll(learner, integration, 1, percent="42.50", grade="B+")
    enroll(
        learner,
        integration,
        2,
        percent="100",
        grade="A",
        completed_at=timezone.now(),
    )
    other = django_user_model.objects.create_user("bob")
    enroll(other, integration, 3, percent="10")
    client.force_login(learner)

    response = client.get("/")

    html = response.content.decode()
    assert response.context["role"] == "learner"
    assert "Course 01" in html and "Course 02" in html
    assert "Course 03" not in html
    assert 'value="42.500000"' in html
    assert "43%" in html or "42%" in html
    assert "B+" in html and "A" in html
    assert "not yet" in html
    assert "canvas-main" not in html
    assert "/admin/" not in html


def test_learner_does_not_see_deleted_enrollments_or_courses(client, learner):
    integration = make_integration("canvas-main")
    _, enrollment, progress = enroll(learner, integration, 1)
    Enrollment.objects.filter(pk=enrollment.pk).update(deleted_at=timezone.now())
    Progress.objects.filter(pk=progress.pk).update(deleted_at=timezone.now())
    course, _, _ = enroll(learner, integration, 2)
    Course.objects.filter(pk=course.pk).update(deleted_at=timezone.now())
    enroll(learner, integration, 3)
    client.force_login(learner)

    response = client.get("/")

    html = response.content.decode()
    assert "Course 01" not in html
    assert "Course 02" not in html
    assert "Course 03" in html


def test_learner_sees_enrollment_and_course_states(client, learner):
    integration = make_integration("canvas-main")
    course, enrollment, _ = enroll(learner, integration, 1)
    Course.objects.filter(pk=course.pk).update(state=CourseState.COMPLETED)
    Enrollment.objects.filter(pk=enrollment.pk).update(state=EnrollmentState.INVITED)
    client.force_login(learner)

    html = client.get("/").content.decode()

    assert "badge--course-completed" in html
    assert "Invited" in html


def test_learner_sees_connected_accounts(client, learner):
    integration = make_integration("canvas-main")
    SocialAccount.objects.create(user=learner, provider="openid_connect", uid="ada-1")
    LearnerIdentity.objects.create(
        user=learner,
        integration=integration,
        remote_user_id="501",
        display_name="Ada L.",
    )
    client.force_login(learner)

    html = client.get("/").content.decode()

    assert "openid_connect" in html
    assert "canvas-main" in html
    assert "Ada L." in html
    assert f'href="{reverse("accounts_connections")}"' in html


def test_learner_without_anything_sees_friendly_empty_states(client, learner):
    client.force_login(learner)

    html = client.get("/").content.decode()

    assert "not enrolled in any course yet" in html
    assert "No progress has been recorded" in html
    assert "No account is connected yet" in html


def test_learner_page_runs_as_many_queries_for_20_courses_as_for_1(
    client, learner, django_assert_max_num_queries
):
    integration = make_integration("canvas-main")
    enroll(learner, integration, 0, percent="50")
    client.force_login(learner)
    baseline = queries_for(client, "/")

    for number in range(1, 20):
        enroll(learner, integration, number, percent="50")
        LearnerIdentity.objects.create(
            user=learner,
            integration=make_integration(f"lms-{number}"),
            remote_user_id=str(number),
        )
        SocialAccount.objects.create(user=learner, provider="github", uid=str(number))
    with django_assert_max_num_queries(baseline):
        response = client.get("/")

    assert len(response.context["enrollments"]) == 20
    assert baseline <= 8


def test_learner_sees_their_connections_and_which_need_reconnecting(client, learner):
    account = SocialAccount.objects.create(user=learner, provider="canvas", uid="701")
    canvas_connection = Connection.objects.create(
        user=learner,
        social_account=account,
        provider="canvas",
        uid="701",
        display_name="Ada Lovelace",
        status=ConnectionStatus.NEEDS_REAUTHORIZATION,
    )
    own = make_integration("learner-1-canvas")
    Integration.objects.filter(pk=own.pk).update(connection=canvas_connection)
    LearnerIdentity.objects.create(user=learner, integration=own, remote_user_id="701")
    client.force_login(learner)

    html = client.get("/").content.decode()

    assert "connected as Ada Lovelace since" in html
    assert "Needs re-authorization" in html
    # Their own integration is the connection above, not a platform account.
    assert "learner-1-canvas" not in html
