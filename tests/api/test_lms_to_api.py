"""Canvas and Moodle, configured from a file and synced, read through the API.

Issue 3's "done when", end to end against the loopback fakes: an admin
describes both LMSs in one YAML file (tokens only as ${VARS}), applies it
with ``integrations apply`` and syncs each with ``integrations sync NAME``;
a front end then reads the merged data at /api/v1/ with bearer tokens. The
learner enrolled in both LMSs under one email is one portal user who sees
her records from both and nothing of anyone else; staff see everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from integrations.models import Integration, SyncRun, SyncStatus
from portal.learning.models import Course, Enrollment, LearnerIdentity, Progress
from tests.api.helpers import RESOURCES, list_rows
from tests.commands.conftest import run_integrations
from tests.fakes.canvas import CanvasFake
from tests.providers.canvas.helpers import TOKEN as CANVAS_TOKEN
from tests.providers.moodle.helpers import (
    ADA_MOODLE_ID,
    enrol_canvas_learner,
    school_fake,
)
from tests.providers.moodle.helpers import TOKEN as MOODLE_TOKEN

pytestmark = pytest.mark.django_db

CONFIG = """\
integrations:
  - name: canvas-main
    provider: canvas
    base_url: {canvas_url}
    credentials:
      access_token: ${{CANVAS_TOKEN}}
    settings:
      account_id: 1
      per_page: 2
  - name: moodle-main
    provider: moodle
    base_url: {moodle_url}
    credentials:
      token: ${{MOODLE_TOKEN}}
    settings:
      page_size: 2
"""
NAMES = ("canvas-main", "moodle-main")
CANVAS_STREAMS = ("courses", "assignments", "enrollments", "progress")
MOODLE_STREAMS = ("courses", "enrollments", "progress")

# Ada Byron is Canvas's learner 501, a student of courses 101 and 102 in the
# fixtures, and Moodle's learner 777, a student of course 21. Her percents:
# 6 of 8 module requirements in 101; the current score in 102, which has no
# requirements; 1 of the 3 tracked activities in Moodle's 21.
ADA_EMAIL = "ada@example.edu"
ADA_COURSES = {("canvas-main", "101"), ("canvas-main", "102"), ("moodle-main", "21")}
ADA_ENROLLMENTS = {
    ("canvas-main", "3001"),
    ("canvas-main", "3005"),
    ("moodle-main", f"21:{ADA_MOODLE_ID}"),
}
ADA_PERCENTS = {
    ("canvas-main", "101:501"): 75.0,
    ("canvas-main", "102:501"): 88.4,
    ("moodle-main", f"21:{ADA_MOODLE_ID}"): 33.33,
}


@dataclass
class Portal:
    """The portal after the admin's apply and syncs, and who reads it."""

    ada: Any
    staff: Any
    commands: dict[str, Any]


@pytest.fixture
def portal(tmp_path, monkeypatch, loopback_http) -> Portal:
    """Apply the YAML file against both fakes, sync both, and make staff."""
    monkeypatch.setenv("CANVAS_TOKEN", CANVAS_TOKEN)
    monkeypatch.setenv("MOODLE_TOKEN", MOODLE_TOKEN)
    moodle = enrol_canvas_learner(school_fake())
    with CanvasFake.school(token=CANVAS_TOKEN) as canvas, moodle:
        path = tmp_path / "integrations.yaml"
        path.write_text(
            CONFIG.format(canvas_url=canvas.base_url, moodle_url=moodle.base_url)
        )
        commands = {"apply": run_integrations("apply", str(path))}
        for name in NAMES:
            commands[name] = run_integrations("sync", name)
    for step, result in commands.items():
        assert result.code == 0, f"{step}: {result.output}"
    staff = get_user_model().objects.create_user(
        "registrar", "registrar@example.edu", is_staff=True
    )
    return Portal(
        ada=get_user_model().objects.get(email=ADA_EMAIL),
        staff=staff,
        commands=commands,
    )


def keys(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Return the (integration, external id) pairs of API rows."""
    return {(row["integration"], row["external_id"]) for row in rows}


def test_apply_and_sync_configure_and_fill_both_integrations(portal):
    assert all(name in portal.commands["apply"].stdout for name in NAMES)
    canvas = Integration.objects.get(name="canvas-main")
    moodle = Integration.objects.get(name="moodle-main")
    assert (canvas.provider, canvas.settings["account_id"]) == ("canvas", 1)
    assert canvas.secret("access_token") == CANVAS_TOKEN
    assert moodle.secret("token") == MOODLE_TOKEN
    runs = SyncRun.objects.values_list("integration__name", "stream", "status")
    assert sorted(runs) == sorted(
        [("canvas-main", stream, SyncStatus.SUCCEEDED) for stream in CANVAS_STREAMS]
        + [("moodle-main", stream, SyncStatus.SUCCEEDED) for stream in MOODLE_STREAMS]
    )


def test_one_learner_in_both_lmss_is_one_portal_user(portal):
    identities = LearnerIdentity.objects.filter(user=portal.ada)

    assert sorted(identities.values_list("integration__name", "remote_user_id")) == [
        ("canvas-main", "501"),
        ("moodle-main", str(ADA_MOODLE_ID)),
    ]


def test_learner_reads_her_enrollments_and_progress_from_both_lmss(
    portal, token_client
):
    client, _ = token_client(portal.ada, "learner app")

    enrollments = list_rows(client, "enrollments")
    progress = list_rows(client, "progress")

    assert keys(enrollments) == ADA_ENROLLMENTS
    assert {
        (row["integration"], row["external_id"]): row["percent"] for row in progress
    } == ADA_PERCENTS
    assert {row["learner"] for row in enrollments + progress} == {portal.ada.pk}


def test_learner_reads_exactly_the_courses_she_is_enrolled_in(portal, token_client):
    client, _ = token_client(portal.ada, "learner app")

    courses = list_rows(client, "courses")
    enrollments = list_rows(client, "enrollments")

    assert keys(courses) == ADA_COURSES
    assert {row["id"] for row in courses} == {row["course"] for row in enrollments}
    assignments = list_rows(client, "assignments")
    assert {row["course"] for row in assignments} <= {row["id"] for row in courses}


def test_learner_reads_nothing_of_other_learners_by_id_or_filter(portal, token_client):
    client, _ = token_client(portal.ada, "learner app")
    # Moodle's learner 501 is another person than Canvas's learner 501.
    others = Progress.objects.exclude(learner=portal.ada)
    assert others.filter(integration__name="moodle-main", external_id="21:501").exists()

    for row in others:
        assert client.get(f"/api/v1/progress/{row.pk}/").status_code == 404
        assert list_rows(client, "progress", learner=row.learner_id) == []
    for row in Enrollment.objects.exclude(learner=portal.ada):
        assert client.get(f"/api/v1/enrollments/{row.pk}/").status_code == 404
        assert list_rows(client, "enrollments", learner=row.learner_id) == []
    for row in Course.objects.exclude(enrollments__learner=portal.ada):
        assert client.get(f"/api/v1/courses/{row.pk}/").status_code == 404
    assert client.get("/api/v1/sync-runs/").status_code == 403


def test_staff_read_everything_of_both_integrations(portal, token_client):
    client, _ = token_client(portal.staff, "registrar app")

    for resource, model in RESOURCES.items():
        rows = list_rows(client, resource)
        stored = model.objects.filter(deleted_at__isnull=True)
        assert sorted(row["id"] for row in rows) == sorted(
            stored.values_list("pk", flat=True)
        ), resource
        if resource in MOODLE_STREAMS:
            assert {row["integration"] for row in rows} == set(NAMES), resource
    runs = list_rows(client, "sync-runs")
    assert {row["status"] for row in runs} == {SyncStatus.SUCCEEDED}
    integrations = {row["name"]: row for row in list_rows(client, "integrations")}
    assert sorted(integrations) == sorted(NAMES)
    assert integrations["moodle-main"]["last_sync"]["status"] == SyncStatus.SUCCEEDED
