"""A sink's standing: rate-limit pauses and the broken flag.

A sink whose deliveries keep dying (``EVENTS_SINK_BROKEN_AFTER`` dead in a
row, 5 by default) is flagged broken: its integration's health turns
unhealthy with the reason and the fix, and the admins are emailed. It is
not disabled: deliveries go on being tried, and the first delivery that
arrives clears the flag and the health.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations import errors
from integrations.models import HealthStatus, Integration
from integrations.redaction import redact_text
from portal.events import domain
from portal.events.models import SinkState

logger = logging.getLogger(__name__)

DEFAULT_BROKEN_AFTER = 5


def broken_after() -> int:
    """Return how many dead deliveries in a row flag a sink broken."""
    return max(
        int(getattr(settings, "EVENTS_SINK_BROKEN_AFTER", DEFAULT_BROKEN_AFTER)), 1
    )


def _state(sink: Integration) -> SinkState:
    state, _ = SinkState.objects.get_or_create(sink=sink)
    return state


def pause(sink: Integration, until: datetime) -> None:
    """Hold every delivery to ``sink`` until ``until`` (the sink's 429)."""
    _state(sink)
    SinkState.objects.filter(sink=sink).update(paused_until=until)


def record_delivered(sink: Integration) -> None:
    """Reset the dead count; clear the broken flag and health if it was set."""
    state = _state(sink)
    SinkState.objects.filter(pk=state.pk).update(consecutive_dead=0, paused_until=None)
    if not state.broken:
        return

    SinkState.objects.filter(pk=state.pk).update(broken=False, broken_reason="")
    previous = _set_health(sink, HealthStatus.HEALTHY, "")
    domain.health_changed(
        sink, previous, HealthStatus.HEALTHY, "Deliveries arrive again."
    )
    logger.info("events.sink.recovered", extra={"integration": sink.name})


def record_dead(sink: Integration, count: int, error: errors.IntegrationError) -> None:
    """Count ``count`` more dead deliveries; flag the sink broken at the limit."""
    state = _state(sink)
    SinkState.objects.filter(pk=state.pk).update(
        consecutive_dead=F("consecutive_dead") + count
    )
    state.refresh_from_db()
    if state.broken or state.consecutive_dead < broken_after():
        return

    reason = broken_reason(sink, state.consecutive_dead, error)
    SinkState.objects.filter(pk=state.pk).update(
        broken=True, broken_reason=reason, broken_at=timezone.now()
    )
    previous = _set_health(sink, HealthStatus.UNHEALTHY, reason)
    domain.health_changed(sink, previous, HealthStatus.UNHEALTHY, reason)
    logger.error(
        "events.sink.broken",
        extra={
            "integration": sink.name,
            "dead": state.consecutive_dead,
            "code": error.code,
        },
    )
    transaction.on_commit(lambda: _email_admins(sink, reason))


def broken_reason(sink: Integration, dead: int, error: errors.IntegrationError) -> str:
    """Return the sentence an admin reads: what failed and what to fix."""
    fix = (
        error.message
        if not error.retryable
        else (
            "the sink keeps failing or timing out; check that the service is up and the "
            "webhook URL is current"
        )
    )
    return redact_text(
        f"{dead} deliveries in a row to '{sink.name}' were given up ({error.code}): "
        f"{fix}. Fix it, then replay the dead deliveries in the admin "
        "(Events, Deliveries, filter by status Dead)."
    )[:2000]


def _set_health(sink: Integration, status: str, reason: str) -> str:
    previous = (
        Integration.objects.filter(pk=sink.pk)
        .values_list("health_status", flat=True)
        .first()
    )
    Integration.objects.filter(pk=sink.pk).update(
        health_status=status, health_error=reason, health_checked_at=timezone.now()
    )
    return previous or ""


def _email_admins(sink: Integration, reason: str) -> None:
    recipients = {email for _, email in getattr(settings, "ADMINS", [])}
    recipients |= set(
        get_user_model()
        .objects.filter(is_superuser=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if not recipients:
        logger.warning(
            "events.sink.no_admin_to_email", extra={"integration": sink.name}
        )
        return
    send_mail(
        subject=f"[portal] Event sink '{sink.name}' is broken",
        message=f"{reason}\n\nThe sink stays enabled; deliveries are still tried.",
        from_email=None,
        recipient_list=sorted(recipients),
        fail_silently=True,
    )
    logger.info("events.sink.admins_emailed", extra={"integration": sink.name})
