"""Payloads, integrations and readers shared by the Canvas provider's tests."""

from __future__ import annotations

import subprocess
from typing import Any

from integrations.models import Credential, Integration
from integrations.providers.base import Page, StreamContext
from integrations.registry import get_provider
from tests import leakcheck
from tests.fakes.canvas import CanvasFake, load_fixture
from tests.processes import run_module

TOKEN = leakcheck.secret("canvas-admin-token-7f3a9c1e5b")
#: The module a test runs as a process of its own to sync (and be killed).
SYNC_PROCESS = "tests.providers.canvas.sync_process"
PROGRESS_STATES = ("active", "invited", "completed", "inactive")

__all__ = [
    "SYNC_PROCESS",
    "TOKEN",
    "expected_rows",
    "load_fixture",
    "make_canvas_integration",
    "read_pages",
    "run_process",
]


def make_canvas_integration(
    fake: CanvasFake,
    name: str = "canvas-test",
    *,
    token: str | None = TOKEN,
    **settings: Any,
) -> Integration:
    """Create a saved Canvas integration pointed at ``fake``."""
    integration = Integration.objects.create(
        name=name, provider="canvas", base_url=fake.base_url, settings=settings
    )
    if token is not None:
        credential = Credential(integration=integration, key="access_token")
        credential.set_secret(token)
        credential.save()
    return integration


def read_pages(
    integration: Integration,
    stream_name: str,
    cursor: dict[str, Any] | None = None,
    *,
    page_limit: int | None = None,
) -> list[Page]:
    """Return every page a Canvas stream yields from ``cursor``."""
    provider = get_provider("canvas")
    context = StreamContext(
        integration,
        client=provider.build_client(integration),
        settings=integration.settings,
        page_limit=page_limit,
    )
    return list(provider.stream(integration, stream_name).pages(context, cursor))


def read_records(integration: Integration, stream_name: str) -> list[dict[str, Any]]:
    """Return every record a Canvas stream yields, in order."""
    return [
        record
        for page in read_pages(integration, stream_name)
        for record in page.records
    ]


def run_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run a command of the Canvas sync process to the end; fail if it fails."""
    return run_module(SYNC_PROCESS, env, *args)


def expected_rows(fake: CanvasFake) -> dict[str, list[str]]:
    """Return the rows a complete sync of account 1 stores, from the fake's data."""
    courses = fake.course_items()
    readable = {c["id"] for c in courses if c["workflow_state"] != "deleted"}
    enrollments = [e for e in fake.enrollment_items() if e["course_id"] in readable]
    return {
        "Course": sorted(str(c["id"]) for c in courses),
        "Assignment": sorted(
            str(a["id"])
            for a in fake.assignment_items()
            if a["course_id"] in readable and a["published"]
        ),
        "Enrollment": sorted(
            str(e["id"])
            for e in enrollments
            if e["type"] in ("StudentEnrollment", "TeacherEnrollment")
        ),
        "Progress": sorted(
            f"{e['course_id']}:{e['user_id']}"
            for e in enrollments
            if e["type"] == "StudentEnrollment"
            and e["enrollment_state"] in PROGRESS_STATES
        ),
    }
