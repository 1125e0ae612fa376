"""Write-back: a learner's progress becomes a posted grade on a portal assignment."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from integrations.errors import (
    AuthenticationFailed,
    ConfigurationError,
    NotFound,
    PermanentError,
)
from integrations.models import Credential
from integrations.registry import get_provider
from integrations.sync.runs import run_sync_now
from portal.events.delivery import deliver_due
from portal.events.domain import progress_updated
from portal.events.models import Event
from portal.events.routing import dispatch_events
from portal.learning.models import Course, Progress
from tests.providers.canvas.helpers import make_canvas_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(db, canvas):
    """Return an integration whose data is synced, with a portal assignment in 101."""
    canvas.add_assignment(
        101,
        id=2900,
        name="Portal progress",
        grading_type="percent",
        points_possible=100.0,
        submission_types=["none"],
    )
    integration = make_canvas_integration(canvas, account_id=1)
    run_sync_now(integration)
    canvas.clear()
    return integration


def push(integration, progress):
    """Push ``progress`` the way the write-back worker does."""
    provider = get_provider("canvas")
    return provider.push_progress(
        integration, provider.build_client(integration), progress
    )


def puts(canvas):
    return [request for request in canvas.requests if request.method == "PUT"]


def test_percent_is_posted_on_the_synced_portal_assignment(synced, canvas):
    progress = Progress.objects.get(external_id="101:501")  # 75.00 %

    result = push(synced, progress)

    (request,) = canvas.requests
    assert request.method == "PUT"
    assert request.path == "/api/v1/courses/101/assignments/2900/submissions/501"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {"submission[posted_grade]": ["75%"]}
    assert result == {
        "course_id": "101",
        "assignment_id": "2900",
        "assignment_created": False,
        "user_id": "501",
        "posted_grade": "75%",
        "posted_from": "percent",
        "grade": "75%",
        "score": 75.0,
        "workflow_state": "graded",
    }
    assert canvas.submissions[(2900, 501)]["score"] == 75.0


def test_an_assignment_not_yet_synced_is_found_by_canvas_search(db, canvas):
    integration = make_canvas_integration(canvas, account_id=1)
    run_sync_now(integration)
    canvas.add_assignment(101, id=2901, name="Portal progress", points_possible=100.0)
    canvas.clear()
    progress = Progress.objects.get(external_id="101:502")

    result = push(integration, progress)

    search, put = canvas.requests
    assert search.path == "/api/v1/courses/101/assignments"
    assert search.arg("search_term") == "Portal progress"
    assert put.path == "/api/v1/courses/101/assignments/2901/submissions/502"
    assert result["posted_grade"] == "100%"
    assert result["score"] == 100.0  # 100 % of 100 points


def test_a_missing_assignment_is_a_configuration_error_unless_creation_is_allowed(
    db, canvas
):
    integration = make_canvas_integration(canvas, account_id=1)
    run_sync_now(integration)
    canvas.clear()
    progress = Progress.objects.get(external_id="101:501")

    with pytest.raises(ConfigurationError) as caught:
        push(integration, progress)

    assert "no assignment named 'Portal progress'" in caught.value.message
    assert caught.value.details == {"setting": "writeback_create_assignment"}
    assert puts(canvas) == []
    assert [r.method for r in canvas.requests] == ["GET"]


def test_the_portal_assignment_is_created_when_allowed(db, canvas):
    integration = make_canvas_integration(
        canvas, account_id=1, writeback_create_assignment=True
    )
    run_sync_now(integration)
    canvas.clear()
    progress = Progress.objects.get(external_id="102:501")  # 88.40 %

    result = push(integration, progress)

    search, create, put = canvas.requests
    assert (search.method, create.method, put.method) == ("GET", "POST", "PUT")
    fields = parse_qs(create.body.decode())
    assert fields["assignment[name]"] == ["Portal progress"]
    assert fields["assignment[grading_type]"] == ["percent"]
    assert fields["assignment[points_possible]"] == ["100"]
    assert fields["assignment[published]"] == ["true"]
    assert fields["assignment[omit_from_final_grade]"] == ["true"]
    assert fields["assignment[submission_types][]"] == ["none"]
    created = result["assignment_id"]
    assert put.path == f"/api/v1/courses/102/assignments/{created}/submissions/501"
    assert result["assignment_created"] is True
    assert result["posted_grade"] == "88.4%"
    assert canvas.assignments.by_id[int(created)]["omit_from_final_grade"] is True

    canvas.clear()
    again = push(integration, progress)
    assert again["assignment_id"] == created
    assert [r.method for r in canvas.requests] == ["GET", "PUT"]


def test_grade_setting_posts_the_progress_grade(db, canvas):
    canvas.add_assignment(
        102, id=2902, name="Portal progress", grading_type="letter_grade"
    )
    integration = make_canvas_integration(canvas, account_id=1, writeback_grade="grade")
    run_sync_now(integration)
    canvas.clear()

    result = push(integration, Progress.objects.get(external_id="102:501"))

    assert result["posted_grade"] == "B+"
    assert result["posted_from"] == "grade"
    assert result["grade"] == "B+"


def test_grade_setting_falls_back_to_the_percent_without_a_grade(synced, canvas):
    progress = Progress.objects.get(external_id="101:503")
    assert progress.grade == ""
    synced.settings["writeback_grade"] = "grade"
    synced.save()

    result = push(synced, progress)

    assert (result["posted_grade"], result["posted_from"]) == ("0%", "percent")


def test_canvas_refusing_the_grade_is_a_permanent_error_with_its_reason(db, canvas):
    canvas.add_assignment(101, id=2903, name="Portal progress", grading_type="points")
    integration = make_canvas_integration(canvas, account_id=1, writeback_grade="grade")
    run_sync_now(integration)
    progress = Progress.objects.get(external_id="101:501")
    progress.grade = "excellent"
    progress.save()

    with pytest.raises(PermanentError) as caught:
        push(integration, progress)

    assert caught.value.status == 400
    assert caught.value.details["canvas_message"] == "Invalid posted_grade 'excellent'"
    assert len(puts(canvas)) == 1  # refused for good: not retried


def test_a_learner_without_a_canvas_account_cannot_be_graded(synced, canvas):
    stranger = get_user_model().objects.create(username="stranger")
    progress = Progress.objects.create(
        integration=synced,
        external_id="portal:stranger",
        course=Course.objects.get(external_id="101"),
        learner=stranger,
        percent=Decimal("10"),
    )

    with pytest.raises(NotFound) as caught:
        push(synced, progress)

    assert "has no Canvas account" in caught.value.message
    assert canvas.requests == []


def test_a_course_of_another_integration_is_refused(synced, canvas):
    other = make_canvas_integration(canvas, name="canvas-other", account_id=1)

    with pytest.raises(ConfigurationError):
        push(other, Progress.objects.get(external_id="101:501"))

    assert canvas.requests == []


def test_a_revoked_token_fails_the_push_at_once(synced, canvas, make_secret):
    credential = Credential.objects.get(integration=synced, key="access_token")
    credential.set_secret(make_secret("canvas-revoked"))
    credential.save()

    with pytest.raises(AuthenticationFailed):
        push(synced, Progress.objects.get(external_id="101:501"))

    assert len(puts(canvas)) == 1


def test_the_event_pipeline_pushes_progress_through_the_provider(synced, canvas):
    progress = Progress.objects.get(external_id="101:501")
    with transaction.atomic():
        progress.percent = Decimal("80")
        progress.save()
        progress_updated(progress, synced.name, ["percent"], source="api")

    dispatch_events()
    arrived = deliver_due(synced, owner="test-worker")

    assert arrived == 1
    [written] = Event.objects.filter(kind="progress.written_back")
    assert written.payload["result"]["posted_grade"] == "80%"
    assert canvas.submissions[(2900, 501)]["grade"] == "80%"
