"""Health checks and connection tests of integrations.

A health check makes the provider's cheapest authenticated call and records a
HealthCheckResult. A connection test adds a dry-run sync: it fetches the first
pages of every stream and says what a sync would create, update and delete,
writing nothing but the health result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.db import transaction

from integrations import errors
from integrations.models import HealthCheckResult, HealthStatus, Integration
from integrations.providers.base import HealthReport, StreamContext
from integrations.redaction import redact_text
from integrations.registry import UnknownProvider, get_provider
from integrations.sync.upsert import (
    PORTAL_OWNED_PREFIX,
    dedupe,
    empty_pass_keeps_rows,
    live_count,
    live_hashes,
    record_hash,
)
from portal.events import domain as domain_events

logger = logging.getLogger(__name__)

#: How every health report of refused credentials begins.
AUTH_FAILED = "Authentication failed"

#: Why a complete preview that fetched nothing would delete nothing.
EMPTY_SOURCE_NOTE = (
    "The source returned no records, so a sync would mark nothing deleted."
)


def check_health(integration: Integration) -> HealthCheckResult:
    """Check the integration now, store the result and update its status."""
    started = time.monotonic()
    report = _probe(integration)
    latency_ms = int((time.monotonic() - started) * 1000)

    with transaction.atomic():
        previous = (
            Integration.objects.filter(pk=integration.pk)
            .values_list("health_status", flat=True)
            .first()
        )
        result = HealthCheckResult.objects.create(
            integration=integration,
            status=report.status,
            latency_ms=latency_ms,
            error=redact_text(report.error)[:2000],
            details=report.details,
        )
        Integration.objects.filter(pk=integration.pk).update(
            health_status=result.status,
            health_error=result.error,
            health_checked_at=result.checked_at,
        )
        domain_events.health_changed(
            integration, previous or "", result.status, result.error
        )
    integration.health_status = result.status
    integration.health_error = result.error
    integration.health_checked_at = result.checked_at
    logger.info(
        "integration.health.checked",
        extra={
            "integration": integration.name,
            "status": result.status,
            "latency_ms": latency_ms,
        },
    )
    return result


def _probe(integration: Integration) -> HealthReport:
    if not integration.enabled:
        return HealthReport(HealthStatus.UNKNOWN, error="The integration is disabled.")
    try:
        provider = get_provider(integration.provider)
        client = provider.build_client(integration)
        return _name_auth_failure(provider.check_health(integration, client))
    except UnknownProvider as error:
        return HealthReport(HealthStatus.UNHEALTHY, error=str(error))
    except errors.AuthenticationFailed as error:
        return HealthReport(
            HealthStatus.UNHEALTHY,
            error=f"{AUTH_FAILED}: check the credentials. {error}",
            details={"code": error.code},
        )
    except errors.IntegrationError as error:
        # Throttled means up but not fully usable; anything else that
        # outlasted the retries means the service cannot be used now.
        throttled = isinstance(error, errors.RateLimited)
        status = HealthStatus.DEGRADED if throttled else HealthStatus.UNHEALTHY
        return HealthReport(status, error=str(error), details={"code": error.code})
    except Exception as error:
        logger.exception(
            "integration.health.crashed", extra={"integration": integration.name}
        )
        return HealthReport(
            HealthStatus.UNHEALTHY, error=f"Internal error: {type(error).__name__}"
        )


def _name_auth_failure(report: HealthReport) -> HealthReport:
    """Lead a provider's report of refused credentials with the same words.

    Providers that catch the error themselves write their own sentence of
    what to fix; the admin still reads "Authentication failed" in it, as in
    the reports of the errors this function's caller catches.
    """
    refused = (report.details or {}).get("code") == errors.AuthenticationFailed.code
    if refused and AUTH_FAILED.lower() not in report.error.lower():
        report.error = f"{AUTH_FAILED}: {report.error}"
    return report


@dataclass
class StreamPreview:
    """What syncing the first pages of one stream would do."""

    stream: str
    fetched: int = 0
    would_create: int = 0
    would_update: int = 0
    unchanged: int = 0
    #: Rows a sync would mark deleted; None when the preview saw only part of
    #: the stream and so cannot tell.
    would_delete: int | None = None
    failed: int = 0
    complete: bool = False
    error: str = ""
    error_code: str = ""
    #: What the admin should know about the counts (not an error).
    note: str = ""


@dataclass
class ConnectionTestReport:
    """The outcome of ``integrations test``: health plus per-stream previews."""

    integration: str
    health: HealthCheckResult
    streams: list[StreamPreview] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether the connection, auth and every stream preview worked."""
        healthy = self.health.status == HealthStatus.HEALTHY
        return healthy and not any(preview.error for preview in self.streams)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (no secrets)."""
        return {
            "integration": self.integration,
            "ok": self.ok,
            "health": {
                "status": self.health.status,
                "latency_ms": self.health.latency_ms,
                "error": self.health.error,
                "checked_at": self.health.checked_at.isoformat(),
            },
            "streams": [asdict(preview) for preview in self.streams],
        }


def test_connection(
    integration: Integration, *, pages: int = 1
) -> ConnectionTestReport:
    """Check health, then preview a sync of each stream's first ``pages`` pages.

    The previews are also stored in the health result's ``details["preview"]``
    (an empty list when the health check failed), so the admin can show the
    outcome of a test that ran in a worker.
    """
    if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1:
        raise ValueError(f"pages must be a whole number of 1 or more, not {pages!r}.")

    health = check_health(integration)
    report = ConnectionTestReport(integration=integration.name, health=health)
    if health.status == HealthStatus.HEALTHY:
        report.streams = _preview_streams(integration, pages)

    health.details = {**(health.details or {}), "preview": report.as_dict()["streams"]}
    HealthCheckResult.objects.filter(pk=health.pk).update(details=health.details)
    return report


# pytest would otherwise collect the function above as a test.
test_connection.__test__ = False  # type: ignore[attr-defined]


def stored_previews(result: HealthCheckResult) -> list[StreamPreview] | None:
    """Return the stream previews a connection test stored; None for a plain check."""
    stored = (result.details or {}).get("preview")
    if not isinstance(stored, list):
        return None

    names = {item.name for item in fields(StreamPreview)}
    return [
        StreamPreview(**{key: value for key, value in item.items() if key in names})
        for item in stored
        if isinstance(item, dict) and "stream" in item
    ]


def _preview_streams(integration: Integration, pages: int) -> list[StreamPreview]:
    provider = get_provider(integration.provider)
    client = provider.build_client(integration)
    context = StreamContext(
        integration=integration, client=client, settings=dict(integration.settings)
    )
    previews = []
    for stream in provider.streams(integration):
        preview = StreamPreview(stream=stream.name)
        try:
            _preview_stream(stream, context, pages, preview)
        except errors.IntegrationError as error:
            preview.error = redact_text(str(error))
            preview.error_code = error.code
        except Exception as error:
            # In a worker nobody watches the traceback: record the failure in
            # the stored preview, where the admin sees it, and log it.
            logger.exception(
                "integration.test.preview_crashed",
                extra={"integration": integration.name, "stream": stream.name},
            )
            preview.error = f"Internal error: {type(error).__name__}"
            preview.error_code = "internal_error"
        previews.append(preview)
    return previews


def _preview_stream(
    stream, context: StreamContext, pages: int, preview: StreamPreview
) -> None:
    # Live rows the pages name, which finishing the pass would keep.
    kept: set[str] = set()
    for number, page in enumerate(stream.pages(context, None), start=1):
        records = dedupe(page.records)
        preview.fetched += page.fetched or len(page.records)
        preview.failed += len(page.failures)
        ids = [str(record["external_id"]) for record in records]
        # A deleted row counts as changed: the sync would restore it.
        stored = live_hashes(context.integration, stream.record_type, ids)
        for record in records:
            external_id = str(record["external_id"])
            if external_id not in stored:
                preview.would_create += 1
                continue
            content_hash = stored[external_id]
            if content_hash is not None:
                kept.add(external_id)
            if content_hash != record_hash(record):
                preview.would_update += 1
            else:
                preview.unchanged += 1
        if page.next_cursor is None:
            preview.complete = True
            break
        if number >= pages:
            break

    if preview.complete:
        _preview_deletions(context.integration, stream.record_type, kept, preview)


def _preview_deletions(
    integration: Integration, record_type: str, kept: set[str], preview: StreamPreview
) -> None:
    """Count what finishing the pass would mark deleted, as the engine decides."""
    # live_count leaves out the portal's own rows, which no pass deletes.
    live = live_count(integration, record_type)
    if empty_pass_keeps_rows(preview.fetched, live):
        preview.would_delete = 0
        preview.note = EMPTY_SOURCE_NOTE
        return
    synced = {key for key in kept if not key.startswith(PORTAL_OWNED_PREFIX)}
    # A record store whose rows no pass deletes (quiz results) counts none
    # live, while the pages still name rows it holds.
    preview.would_delete = max(0, live - len(synced))
