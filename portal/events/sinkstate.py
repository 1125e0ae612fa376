"""A sink's standing: rate-limit pauses and the broken flag.

A sink whose deliveries keep dying (``EVENTS_SINK_BROKEN_AFTER`` dead in a
row, 5 by default), or that has failed without a single delivery for
``EVENTS_SINK_FAILING_WINDOW`` seconds (an hour by default), is flagged
broken: its integration's health turns unhealthy with the reason and the
fix, and the admins are emailed. It is not disabled: deliveries go on
being tried, and the first delivery that arrives clears the flag and the
health.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

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
DEFAULT_FAILING_WINDOW = 3600


def broken_after() -> int:
    """Return how many dead deliveries in a row flag a sink broken."""
    return max(
        int(getattr(settings, "EVENTS_SINK_BROKEN_AFTER", DEFAULT_BROKEN_AFTER)), 1
    )


def failing_window() -> timedelta:
    """Return how long a sink may fail without one delivery before it is broken."""
    seconds = getattr(settings, "EVENTS_SINK_FAILING_WINDOW", DEFAULT_FAILING_WINDOW)
    return timedelta(seconds=max(int(seconds), 1))


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
    # Most batches find the state clean already: no UPDATE for them.
    if state.consecutive_dead or state.paused_until or state.failing_since:
        SinkState.objects.filter(pk=state.pk).update(
            consecutive_dead=0, paused_until=None, failing_since=None
        )
    if not state.broken:
        return

    SinkState.objects.filter(pk=state.pk).update(broken=False, broken_reason="")
    previous = _set_health(sink, HealthStatus.HEALTHY, "")
    domain.health_changed(
        sink, previous, HealthStatus.HEALTHY, "Deliveries arrive again."
    )
    logger.info("events.sink.recovered", extra={"integration": sink.name})


def record_failed(sink: Integration, error: errors.IntegrationError) -> None:
    """Note a failed batch; flag the sink broken once it failed for the window."""
    now = timezone.now()
    state = _state(sink)
    if state.failing_since is None:
        SinkState.objects.filter(pk=state.pk, failing_since__isnull=True).update(
            failing_since=now
        )
        return
    if state.broken or now - state.failing_since < failing_window():
        return

    minutes = round((now - state.failing_since).total_seconds() / 60)
    reason = broken_reason(sink, f"for {minutes} minutes no delivery arrived", error)
    _flag_broken(sink, state, reason, error)


def record_dead(sink: Integration, count: int, error: errors.IntegrationError) -> None:
    """Count ``count`` more dead deliveries; flag the sink broken at the limit."""
    state = _state(sink)
    SinkState.objects.filter(pk=state.pk).update(
        consecutive_dead=F("consecutive_dead") + count
    )
    state.refresh_from_db()
    if state.broken or state.consecutive_dead < broken_after():
        return

    what = f"{state.consecutive_dead} deliveries in a row were given up"
    _flag_broken(sink, state, broken_reason(sink, what, error), error)


def _flag_broken(
    sink: Integration, state: SinkState, reason: str, error: errors.IntegrationError
) -> None:
    flagged = SinkState.objects.filter(pk=state.pk, broken=False).update(
        broken=True, broken_reason=reason, broken_at=timezone.now()
    )
    if not flagged:
        return

    previous = _set_health(sink, HealthStatus.UNHEALTHY, reason)
    domain.health_changed(sink, previous, HealthStatus.UNHEALTHY, reason)
    logger.error(
        "events.sink.broken", extra={"integration": sink.name, "code": error.code}
    )
    transaction.on_commit(lambda: _email_admins(sink, reason))


def broken_reason(sink: Integration, what: str, error: errors.IntegrationError) -> str:
    """Return the sentence an admin reads: what failed and what to fix."""
    if error.retryable:
        fix = (
            "the sink keeps failing or timing out; check that the service is up and "
            "the integration's URL and credentials are current"
        )
    else:
        fix = error.message
    return redact_text(
        f"Sink '{sink.name}': {what} ({error.code}): {fix}. Fix it, then replay the "
        "dead deliveries in the admin (Events, Deliveries, filter by status Dead)."
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
