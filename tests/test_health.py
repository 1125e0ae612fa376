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
from integrations.sync.runs import run_sync_now
from integrations.sync.upsert import PORTAL_OWNED_PREFIX
from portal.learning.models import Course, Progress
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
    with JsonApiFake(
        collections=school_collections(),
        token=TOKEN,
        envelopes={"progress": "result.items"},
    ) as server:
        yield server


def _school_integration(
    name: str, fake: JsonApiFake, endpoints: list[dict[str, Any]]
) -> Integration:
    integration = Integration.objects.create(
        name=name,
        provider="rest",
        base_url=fake.base_url,
        settings={"endpoints": endpoints},
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


@pytest.fixture
def school(fake: JsonApiFake) -> Integration:
    return _school_integration("school", fake, ENDPOINTS)


@pytest.fixture
def synced_school(fake: JsonApiFake) -> Integration:
    """An integration of every school stream, synced once."""
    integration = _school_integration("synced-school", fake, school_endpoints())
    runs = run_sync_now(integration)
    assert {run.status for run in runs} == {"succeeded"}
    return integration


def _previews(integration: Integration) -> dict[str, health.StreamPreview]:
    report = health.test_connection(integration, pages=5)
    assert report.ok, report.as_dict()
    return {preview.stream: preview for preview in report.streams}


def _sync_deletions(integration: Integration, stream: str) -> int:
    [run] = run_sync_now(integration, streams=[stream])
    assert run.status == "succeeded", run.error_summary
    return run.deleted


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


def test_preview_never_counts_progress_the_portal_owns_as_deleted(synced_school, fake):
    synced = Progress.objects.filter(integration=synced_school).first()
    reported = Progress.objects.create(
        integration=synced_school,
        external_id=f"{PORTAL_OWNED_PREFIX}{synced.course_id}:{synced.learner_id}",
        course=synced.course,
        learner=synced.learner,
        percent=40,
    )
    fake.set_items("progress", fake.items("progress")[1:])

    preview = _previews(synced_school)["progress"]

    assert preview.complete
    assert (preview.unchanged, preview.would_delete, preview.note) == (2, 1, "")
    assert _sync_deletions(synced_school, "progress") == preview.would_delete
    reported.refresh_from_db()
    assert reported.deleted_at is None


def test_preview_of_a_pass_that_fetched_nothing_deletes_nothing_as_a_sync(
    synced_school, fake
):
    courses = Course.objects.filter(integration=synced_school, deleted_at=None)
    before = courses.count()
    fake.set_items("courses", [])

    preview = _previews(synced_school)["courses"]

    assert before > 0
    assert (preview.fetched, preview.complete) == (0, True)
    assert (preview.would_delete, preview.note) == (0, health.EMPTY_SOURCE_NOTE)
    assert _sync_deletions(synced_school, "courses") == preview.would_delete
    assert courses.count() == before


def test_preview_counts_a_row_gone_from_the_source_as_the_sync_deletes_it(
    synced_school, fake
):
    gone = Course.objects.filter(integration=synced_school).count()
    fake.set_items("courses", fake.items("courses")[:1])

    preview = _previews(synced_school)["courses"]

    assert (preview.fetched, preview.would_delete) == (1, gone - 1)
    assert _sync_deletions(synced_school, "courses") == preview.would_delete


class RefusingProvider(Provider):
    """A provider used only here: its own check reports refused credentials."""

    slug = "refusing"
    title = "Refusing"
    requires_base_url = False
    error = ""

    def streams(self, integration: Integration) -> list[Stream]:
        """Return no streams."""
        return []

    def build_client(self, integration: Integration) -> None:
        """Return no client: the check makes no call."""
        return None

    def check_health(self, integration: Integration, client: Any) -> HealthReport:
        """Report what a provider that catches its own auth error reports."""
        return HealthReport(
            "unhealthy", error=self.error, details={"code": "authentication_failed"}
        )


@pytest.mark.parametrize(
    ("reported", "stored"),
    [
        (
            "The service refused the key: replace api_key",
            "Authentication failed: The service refused the key: replace api_key",
        ),
        (
            "authentication failed: check the token",
            "authentication failed: check the token",
        ),
    ],
)
def test_a_report_of_refused_credentials_always_says_authentication_failed(
    reported, stored
):
    registry.register(RefusingProvider)
    try:
        registry.get_provider("refusing").error = reported
        integration = Integration.objects.create(name="vault", provider="refusing")

        result = health.check_health(integration)
    finally:
        registry._providers.pop(RefusingProvider.slug, None)

    assert (result.status, result.error) == ("unhealthy", stored)
    assert result.details["code"] == "authentication_failed"
