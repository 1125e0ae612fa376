"""Payloads, mappings and readers shared by the generic REST provider's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from integrations.models import Integration
from integrations.providers.base import Page, StreamContext
from integrations.registry import get_provider
from tests import leakcheck

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = leakcheck.secret("rest-test-token-0123456789")
#: The demo JSON API's token, as the README and docs/providers/rest.md give it.
DEMO_TOKEN = leakcheck.secret("demo-token")


def load_fixture(name: str) -> Any:
    """Return the parsed JSON of ``fixtures/<name>``."""
    return json.loads((FIXTURES / name).read_text())


def school_collections() -> dict[str, list[dict[str, Any]]]:
    """Return the captured school API payloads, by collection."""
    return {
        "courses": load_fixture("courses.json"),
        "assignments": load_fixture("assignments.json"),
        "enrollments": load_fixture("enrollments.json"),
        "progress": load_fixture("progress.json")["result"]["items"],
    }


def school_endpoints() -> list[dict[str, Any]]:
    """Return endpoint mappings for the school API of the fixtures."""
    return [
        {
            "stream": "courses",
            "path": "/api/courses",
            "record_type": "course",
            "fields": {
                "external_id": "id",
                "title": "name",
                "code": "course_code",
                "state": "status",
                "starts_at": "start_at",
                "ends_at": "end_at",
                "url": "html_url",
                "created_at": "created_at",
                "updated_at": "updated_at",
            },
            "state_map": {"published": "active", "archived": "completed"},
        },
        {
            "stream": "assignments",
            "path": "/api/assignments",
            "record_type": "assignment",
            "fields": {
                "external_id": "id",
                "course_external_id": "course_id",
                "title": "name",
                "due_at": "due_at",
                "points_possible": "points_possible",
                "updated_at": "updated_at",
            },
        },
        {
            "stream": "enrollments",
            "path": "/api/enrollments",
            "record_type": "enrollment",
            "fields": {
                "external_id": "id",
                "course_external_id": "course.id",
                "learner_id": "user.id",
                "learner_email": "user.email",
                "learner_name": "user.name",
                "role": "type",
                "state": "enrollment_state",
                "created_at": "created_at",
                "updated_at": "updated_at",
            },
            "role_map": {
                "StudentEnrollment": "student",
                "TeacherEnrollment": "teacher",
                "TaEnrollment": "ta",
            },
            "state_map": {"concluded": "completed"},
        },
        {
            "stream": "progress",
            "path": "/api/progress",
            "record_type": "progress",
            "items_path": "result.items",
            "fields": {
                "external_id": ["course.id", "user.id"],
                "course_external_id": "course.id",
                "learner_id": "user.id",
                "learner_email": "user.email",
                "learner_name": "user.name",
                "percent": "completion.percent",
                "grade": "grade",
                "completed_at": "completion.completed_at",
                "updated_at": "updated_at",
            },
        },
    ]


def read_pages(
    integration: Integration,
    stream_name: str,
    cursor: dict[str, Any] | None = None,
    *,
    page_limit: int | None = None,
) -> list[Page]:
    """Return every page a stream yields from ``cursor``."""
    provider = get_provider("rest")
    context = StreamContext(
        integration,
        client=provider.build_client(integration),
        settings=integration.settings,
        page_limit=page_limit,
    )
    return list(provider.stream(integration, stream_name).pages(context, cursor))


def read_records(integration: Integration, stream_name: str) -> list[dict[str, Any]]:
    """Return every record of a stream, checking that no item failed."""
    pages = read_pages(integration, stream_name)
    assert [failure for page in pages for failure in page.failures] == []
    return [record for page in pages for record in page.records]
