"""Fixtures of the sync engine's tests: a fake school API and its integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.models import Credential, Integration
from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import TOKEN, school_collections, school_endpoints

#: Courses beyond the fixtures', so the course stream spans several pages.
EXTRA_COURSES = 9


def many_courses() -> list[dict]:
    """Return the fixture courses plus generated ones (12 in all)."""
    courses = school_collections()["courses"]
    for number in range(EXTRA_COURSES):
        courses.append(
            {
                "id": 9000 + number,
                "name": f"Generated course {number}",
                "course_code": f"GEN-{number}",
                "status": "published",
                "updated_at": "2025-02-01T00:00:00Z",
            }
        )
    return courses


@pytest.fixture(autouse=True)
def _loopback_http(loopback_http) -> None:
    """Let integrations reach loopback fakes, with tiny retry waits."""


@pytest.fixture
def school() -> Iterator[JsonApiFake]:
    """Serve the school API, five items a page, with Link pagination."""
    collections = school_collections()
    collections["courses"] = many_courses()
    server = JsonApiFake(
        collections=collections,
        token=TOKEN,
        page_size=5,
        envelopes={"progress": "result.items"},
    )
    with server:
        yield server


def make_school_integration(school: JsonApiFake, name: str = "school") -> Integration:
    """Create a REST integration pointed at the fake school API."""
    integration = Integration.objects.create(
        name=name,
        provider="rest",
        base_url=school.base_url,
        settings={
            "auth": "bearer",
            "pagination": "link",
            "endpoints": school_endpoints(),
        },
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


@pytest.fixture
def integration(db, school) -> Integration:
    """Return a saved REST integration for the fake school API."""
    return make_school_integration(school)
