"""The domain events the integrations framework emits, in one place.

Each helper writes its event with :func:`portal.events.outbox.emit`; call
it inside the transaction of the change it describes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.redaction import redact_text
from portal.events.outbox import emit

if TYPE_CHECKING:
    from integrations.models import Integration, SyncRun

_MAX_REASON = 500


def sync_failed(
    run: SyncRun, integration: Integration, code: str, summary: str
) -> None:
    """Record that a sync run failed (``sync.failed``)."""
    emit(
        "sync.failed",
        subject=f"integration:{integration.name}",
        payload={
            "integration": integration.name,
            "provider": integration.provider,
            "stream": run.stream,
            "run_id": run.pk,
            "error_code": code,
            "error": redact_text(summary)[:_MAX_REASON],
        },
    )


def health_changed(
    integration: Integration, previous: str, status: str, reason: str
) -> None:
    """Record an integration's health status change (``integration.health_changed``).

    Nothing is written when the status stayed the same.
    """
    if previous == status:
        return
    emit(
        "integration.health_changed",
        subject=f"integration:{integration.name}",
        payload={
            "integration": integration.name,
            "provider": integration.provider,
            "previous": previous,
            "status": status,
            "reason": redact_text(reason)[:_MAX_REASON],
        },
    )
