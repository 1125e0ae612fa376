"""The command against a real JSON API on loopback, through the generic REST provider.

Each test applies a YAML file that points a ``rest`` integration at the fake
API, then drives ``sync``, ``health``, ``test`` and ``list`` as an admin or a
cron job would.
"""

from __future__ import annotations

import io
import socket
import textwrap
from collections.abc import Iterator

import pytest

from integrations.models import HealthStatus, Integration, SyncRun
from portal.learning.models import Assignment, Course, Enrollment, Progress
from tests import leakcheck
from tests.fakes.json_api import JsonApiFake, demo_collections

pytestmark = pytest.mark.django_db

TOKEN = leakcheck.secret("school-api-token-5f1c2e9a7b")

SCHOOL_YAML = textwrap.dedent(
    """\
    integrations:
      - name: school-api
        provider: rest
        base_url: {base_url}
        credentials:
          token: ${{SCHOOL_API_TOKEN}}
        settings:
          auth: bearer
          pagination: link
          page_size: 2
          size_param: per_page
          endpoints:
            - stream: courses
              path: /api/courses
              record_type: course
              fields:
                external_id: id
                title: name
                code: course_code
                state: status
                url: html_url
                updated_at: updated_at
              state_map: {{published: active, draft: unpublished}}
            - stream: assignments
              path: /api/assignments
              record_type: assignment
              fields:
                external_id: id
                course_external_id: course_id
                title: name
                due_at: due_at
                points_possible: points_possible
            - stream: enrollments
              path: /api/enrollments
              record_type: enrollment
              fields:
                external_id: id
                course_external_id: course.id
                learner_id: user.id
                learner_email: user.email
                role: role
                state: enrollment_state
            - stream: progress
              path: /api/progress
              record_type: progress
              fields:
                external_id: id
                course_external_id: course.id
                learner_id: user.id
                percent: percent_complete
                grade: grade
                completed_at: completed_at
        timeouts:
          connect: 2
          read: 5
          retry_budget: 1
    """
)


class TtyStringIO(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        """Claim to be a terminal, like an interactive shell."""
        return True


@pytest.fixture(autouse=True)
def _loopback_http(loopback_http) -> None:
    """Let integrations reach loopback fakes, with tiny retry waits."""


@pytest.fixture
def fake() -> Iterator[JsonApiFake]:
    """Serve the demo school with bearer auth, two items per page."""
    with JsonApiFake(
        collections=demo_collections(), token=TOKEN, page_size=2
    ) as server:
        yield server


@pytest.fixture
def school(cli, write_file, fake, monkeypatch) -> Integration:
    """Apply the school file and return the integration it created."""
    monkeypatch.setenv("SCHOOL_API_TOKEN", TOKEN)
    path = write_file("school.yaml", SCHOOL_YAML.format(base_url=fake.base_url))
    result = cli("apply", str(path))
    assert result.code == 0, result.output
    assert "school-api: created (provider rest)" in result.stdout
    assert "credential token set" in result.stdout
    assert TOKEN not in result.output
    return Integration.objects.get(name="school-api")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- sync -------------------------------------------------------------------


def test_sync_prints_a_line_per_page_and_a_summary(cli, school, settings):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1  # a line per page, not per batch
    result = cli("sync", "school-api")

    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "Starting sync of school-api: courses, assignments, enrollments, progress"
    )
    assert (
        "courses: page 1, 2 records (created 2, updated 0, unchanged 0, deleted 0, failed 0)"
        in lines
    )
    assert (
        "courses: page 2, 3 records (created 3, updated 0, unchanged 0, deleted 0, failed 0)"
        in lines
    )
    assert (
        "courses: succeeded after 2 pages, 3 records "
        "(created 3, updated 0, unchanged 0, deleted 0, failed 0)" in lines
    )
    assert "enrollments: page 3, 5 records" in result.stdout
    header = next(line for line in lines if line.startswith("STREAM"))
    assert header.split() == [
        "STREAM",
        "STATUS",
        "PAGES",
        "FETCHED",
        "CREATED",
        "UPDATED",
        "UNCHANGED",
        "DELETED",
        "FAILED",
        "DURATION",
    ]
    rows = {
        line.split()[0]: line.split()[1:9] for line in lines[lines.index(header) + 1 :]
    }
    assert rows["courses"] == ["succeeded", "2", "3", "3", "0", "0", "0", "0"]
    assert rows["assignments"] == ["succeeded", "2", "4", "4", "0", "0", "0", "0"]
    assert rows["enrollments"] == ["succeeded", "3", "5", "5", "0", "0", "0", "0"]
    assert rows["progress"] == ["succeeded", "2", "4", "4", "0", "0", "0", "0"]
    assert Course.objects.filter(integration=school).count() == 3
    assert Assignment.objects.filter(integration=school).count() == 4
    assert Enrollment.objects.filter(integration=school).count() == 5
    assert Progress.objects.filter(integration=school).count() == 4
    assert TOKEN not in result.output


def test_second_sync_reports_records_unchanged(cli, school, fake):
    assert cli("sync", "school-api").code == 0
    fake.update("courses", 101, name="Introduction to Biology II")

    result = cli("sync", "school-api", "--stream", "courses", "--json")

    assert result.code == 0, result.output
    data = result.json()
    assert data["integration"] == "school-api"
    assert data["ok"] is True
    [run] = data["runs"]
    assert run["stream"] == "courses"
    assert run["status"] == "succeeded"
    assert (run["fetched"], run["created"], run["updated"], run["unchanged"]) == (
        3,
        0,
        1,
        2,
    )
    assert run["error_summary"] == ""
    assert isinstance(run["duration_seconds"], float)
    assert Course.objects.get(integration=school, external_id="101").title == (
        "Introduction to Biology II"
    )


def test_json_sync_prints_only_json(cli, school):
    result = cli(
        "sync", "school-api", "--json", "--stream", "courses", "--stream", "progress"
    )

    assert result.code == 0, result.output
    data = result.json()
    assert [run["stream"] for run in data["runs"]] == ["courses", "progress"]
    assert "page 1" not in result.stdout


def test_sync_on_a_terminal_rewrites_one_progress_line(cli, school, settings):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1  # a line per page, not per batch
    out = TtyStringIO()

    result = cli("sync", "school-api", "--stream", "courses", stdout=out)

    assert result.code == 0, result.output
    text = out.getvalue()
    assert "\rcourses: page 1, 2 records" in text
    assert "\rcourses: page 2, 3 records" in text
    assert "\rcourses: succeeded after 2 pages, 3 records" in text
    # Pages overwrite each other instead of scrolling.
    assert (
        "courses: page 1, 2 records (created 2, updated 0, unchanged 0, deleted 0, "
        "failed 0)\n" not in text
    )


def test_full_sync_marks_records_gone_from_the_source_deleted(cli, school, fake):
    assert cli("sync", "school-api").code == 0
    fake.delete("courses", 103)

    result = cli("sync", "school-api", "--full", "--stream", "courses")

    assert result.code == 0, result.output
    assert result.stdout.splitlines()[0] == "Starting full sync of school-api: courses"
    row = next(
        line for line in result.stdout.splitlines() if line.startswith("courses  ")
    )
    # A full pass rewrites the rows it sees and marks the missing one deleted.
    assert row.split()[1:9] == ["succeeded", "1", "2", "0", "2", "0", "1", "0"]


def test_sync_of_an_unknown_integration_is_a_usage_error(cli, school):
    result = cli("sync", "no-such-thing")

    assert result.code == 2
    assert "Unknown integration 'no-such-thing'; known integrations: school-api." in (
        result.stderr
    )
    assert SyncRun.objects.count() == 0


def test_sync_of_an_unknown_stream_is_a_usage_error(cli, school):
    result = cli("sync", "school-api", "--stream", "grades")

    assert result.code == 2
    assert (
        "has no stream 'grades'; streams: courses, assignments, enrollments, progress"
        in (result.stderr)
    )
    assert SyncRun.objects.count() == 0


def test_sync_that_fails_exits_1_and_says_why(cli, school, fake):
    fake.token = "rotated-on-the-server-side"

    result = cli("sync", "school-api", "--stream", "courses")

    assert result.code == 1
    row = next(
        line for line in result.stdout.splitlines() if line.startswith("courses  ")
    )
    assert row.split()[1] == "failed"
    assert "courses: " in result.stdout
    assert "Sync of school-api failed for 1 of 1 stream(s): courses." in result.stderr
    assert TOKEN not in result.output


def test_sync_refuses_while_another_sync_holds_the_lease(cli, school):
    from integrations.sync import leases

    assert leases.acquire(school.pk, "worker-elsewhere:1")

    result = cli("sync", "school-api")

    assert result.code == 1
    assert "A sync of 'school-api' is already running" in result.stderr


# --- health -----------------------------------------------------------------


def test_health_of_a_working_integration(cli, school):
    result = cli("health")

    assert result.code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "STATUS", "LATENCY", "ERROR"]
    assert row.split()[:2] == ["school-api", "healthy"]
    school.refresh_from_db()
    assert school.health_status == HealthStatus.HEALTHY


def test_health_json(cli, school):
    result = cli("health", "school-api", "--json")

    assert result.code == 0, result.output
    data = result.json()
    assert data["ok"] is True
    [entry] = data["results"]
    assert entry["name"] == "school-api"
    assert entry["status"] == "healthy"
    assert isinstance(entry["latency_ms"], int)
    assert data["skipped"] == []


def test_health_exits_1_when_the_service_rejects_the_token(cli, school, fake):
    fake.token = "a-different-token-now"

    result = cli("health", "--json")

    assert result.code == 1
    data = result.json()
    assert data["ok"] is False
    assert data["results"][0]["status"] == "unhealthy"
    assert "authentication failed" in data["results"][0]["error"].lower()
    assert "1 integration(s) unhealthy: school-api." in result.stderr
    assert TOKEN not in result.output


def test_health_exits_1_when_nothing_listens_on_the_port(cli, school):
    Integration.objects.filter(pk=school.pk).update(
        base_url=f"http://127.0.0.1:{_free_port()}"
    )

    result = cli("health", "school-api")

    assert result.code == 1
    row = result.stdout.splitlines()[1]
    assert row.split()[:2] == ["school-api", "unhealthy"]
    assert "1 integration(s) unhealthy: school-api." in result.stderr


def test_health_skips_disabled_integrations_unless_named(cli, school):
    Integration.objects.filter(pk=school.pk).update(enabled=False)

    everything = cli("health")
    named = cli("health", "school-api")

    assert everything.code == 0
    assert "No enabled integrations to check." in everything.stdout
    assert "Skipped (disabled): school-api" in everything.stdout
    assert named.code == 0
    assert named.stdout.splitlines()[1].split()[:2] == ["school-api", "unknown"]


def test_health_of_an_unknown_integration_is_a_usage_error(cli, school):
    result = cli("health", "nope")

    assert result.code == 2
    assert (
        "Unknown integration 'nope'; known integrations: school-api." in result.stderr
    )


# --- test -------------------------------------------------------------------


def test_connection_test_previews_every_stream_without_writing(cli, school):
    result = cli("test", "school-api")

    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("school-api: OK (healthy in ")
    header = lines[1].split()
    assert header[:2] == ["STREAM", "FETCHED"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    # The first page of each stream: two items, all new.
    assert rows["courses"][:4] == ["2", "2", "0", "0"]
    assert rows["assignments"][:4] == ["2", "2", "0", "0"]
    assert Course.objects.count() == 0
    assert SyncRun.objects.count() == 0


def test_connection_test_json_after_a_sync(cli, school):
    assert cli("sync", "school-api").code == 0

    result = cli("test", "--json", "--pages", "5")

    assert result.code == 0, result.output
    data = result.json()
    assert data["ok"] is True
    [report] = data["results"]
    assert report["integration"] == "school-api"
    assert report["health"]["status"] == "healthy"
    courses = next(s for s in report["streams"] if s["stream"] == "courses")
    assert (courses["fetched"], courses["would_create"], courses["unchanged"]) == (
        3,
        0,
        3,
    )
    assert courses["would_delete"] == 0


def test_connection_test_fails_with_a_bad_token(cli, school, fake):
    fake.token = "someone-rotated-it"

    result = cli("test", "school-api")

    assert result.code == 1
    assert result.stdout.startswith("school-api: FAILED (unhealthy")
    assert "authentication failed" in result.stdout.lower()
    assert "1 integration(s) failed the test: school-api." in result.stderr
    assert TOKEN not in result.output


# --- list -------------------------------------------------------------------


def test_list_shows_state_after_sync_and_health(cli, school):
    assert cli("sync", "school-api", "--stream", "courses").code == 0
    assert cli("health").code == 0

    result = cli("list")

    assert result.code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "PROVIDER",
        "ENABLED",
        "SCHEDULE",
        "HEALTH",
        "LAST",
        "SYNC",
    ]
    assert row.split()[:6] == ["school-api", "rest", "yes", "-", "healthy", "succeeded"]


def test_list_json_has_configuration_and_state_but_no_secret(cli, school):
    assert cli("sync", "school-api", "--stream", "courses").code == 0

    result = cli("list", "--json")

    assert result.code == 0, result.output
    [entry] = result.json()["integrations"]
    assert entry["name"] == "school-api"
    assert entry["provider"] == "rest"
    assert entry["base_url"] == school.base_url
    assert entry["enabled"] is True
    assert entry["timeouts"] == {"connect": 2.0, "read": 5.0, "retry_budget": 1.0}
    assert entry["rate_limit"] is None
    assert entry["credentials"] == [{"key": "token", "kind": "api_key", "set": True}]
    assert entry["settings"]["page_size"] == 2
    assert entry["last_sync"]["stream"] == "courses"
    assert entry["last_sync"]["status"] == "succeeded"
    assert entry["last_sync"]["created"] == 3
    assert TOKEN not in result.output
    assert TOKEN[-4:] not in result.output
