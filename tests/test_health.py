"""Connection tests store their sync preview with the health result they make."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from integrations import health, registry
from integrations.http.factory import forget_clients
from integrations.models import Credential, HealthCheckResult, Integration
from integrations.providers.base import HealthReport, Page, Provider, Stream
from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import TOKEN, school_collections, school_endpoints

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    endpoint
    for endpoint in school_endpoints()
    if endpoint["stream"] in ("courses", "assignments")
]


class WorkingStream(Stream):
    """A stream that serves one complete page of one course."""

    name = "courses"
    record_type = "course"

    def pages(self, context: Any, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Yield one page with one course."""
        yield Page(
            records=[{"external_id": "c1", "title": "Biology"}], next_cursor=None
        )


class CrashingStream(Stream):
    """A stream with a bug: it raises something that is no IntegrationError."""

    name = "assignments"
    record_type = "assignment"

    def pages(self, context: Any, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Fail the way a provider bug would."""
        raise KeyError("due_at")


class CrashingProvider(Provider):
    """A provider used only here: healthy, with one stream that crashes."""

    slug = "preview-crash"
    title = "Preview crash"

    def streams(self, integration: Integration) -> list[Stream]:
        """Return a working stream and a crashing one."""
        return [WorkingStream(), CrashingStream()]

    def check_health(self, integration: Integration, client: Any) -> HealthReport:
        """Report healthy without a call."""
        return HealthReport("healthy", details={"checked": "nothing"})


@pytest.fixture(autouse=True)
def _loopback_http(settings) -> Iterator[None]:
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    settings.INTEGRATIONS_HTTP_DEFAULTS = {
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "retry_budget": 1.0,
        "max_retries": 1,
        "backoff_base": 0.001,
        "backoff_cap": 0.005,
    }
    forget_clients()
    yield
    forget_clients()


@pytest.fixture
def fake() -> Iterator[JsonApiFake]:
    with JsonApiFake(collections=school_collections(), token=TOKEN) as server:
        yield server


@pytest.fixture
def school(fake: JsonApiFake) -> Integration:
    integration = Integration.objects.create(
        name="school",
        provider="rest",
        base_url=fake.base_url,
        settings={"endpoints": ENDPOINTS},
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


@pytest.fixture
def crashing_provider() -> Iterator[None]:
    registry.register(CrashingProvider)
    yield
    registry._providers.pop(CrashingProvider.slug, None)


def test_connection_test_stores_its_preview_in_the_health_result(school, fake):
    report = health.test_connection(school, pages=1)

    result = HealthCheckResult.objects.get(integration=school)
    assert result.pk == report.health.pk
    assert result.details["preview"] == report.as_dict()["streams"]
    assert report.health.details == result.details
    assert [row["stream"] for row in result.details["preview"]] == [
        "courses",
        "assignments",
    ]
    assert health.stored_previews(result) == report.streams


def test_connection_test_that_fails_health_stores_an_empty_preview(school, fake):
    fake.token = "a-token-the-portal-does-not-have"

    report = health.test_connection(school)

    result = HealthCheckResult.objects.get(integration=school)
    assert report.streams == []
    assert result.status == "unhealthy"
    assert result.details["preview"] == []
    assert health.stored_previews(result) == []


def test_a_plain_health_check_stores_no_preview(school, fake):
    result = health.check_health(school)

    result.refresh_from_db()
    assert "preview" not in result.details
    assert health.stored_previews(result) is None


def test_a_crashing_stream_is_recorded_in_the_preview_and_logged(
    crashing_provider, caplog
):
    integration = Integration.objects.create(
        name="buggy", provider="preview-crash", base_url="http://127.0.0.1:9"
    )
    caplog.set_level(logging.ERROR, logger="integrations.health")

    report = health.test_connection(integration)

    result = HealthCheckResult.objects.get(integration=integration)
    assert not report.ok
    assert result.details["checked"] == "nothing"
    working, crashed = result.details["preview"]
    assert (working["would_create"], working["would_delete"], working["error"]) == (
        1,
        0,
        "",
    )
    assert crashed["error"] == "Internal error: KeyError"
    assert crashed["error_code"] == "internal_error"
    assert [record.msg for record in caplog.records] == [
        "integration.test.preview_crashed"
    ]
    assert caplog.records[0].stream == "assignments"


def test_stored_previews_skip_fields_they_do_not_know(school):
    result = HealthCheckResult.objects.create(
        integration=school,
        status="healthy",
        details={
            "preview": [
                {"stream": "courses", "fetched": 3, "added_in_a_later_version": 1},
                "not a stream",
            ]
        },
    )

    assert health.stored_previews(result) == [
        health.StreamPreview(stream="courses", fetched=3)
    ]


@pytest.mark.parametrize("pages", [0, -1, True, "2"])
def test_connection_test_refuses_a_bad_page_count(school, fake, pages):
    with pytest.raises(ValueError, match="pages must be a whole number of 1 or more"):
        health.test_connection(school, pages=pages)

    assert not HealthCheckResult.objects.exists()
    assert fake.request_count() == 0
