"""Helpers of the event pipeline's tests: sinks on loopback fakes, rules."""

from __future__ import annotations

from django.db import transaction

from integrations.models import Credential, Integration
from portal.events.delivery import deliver_due
from portal.events.models import Delivery, Event, RoutingRule
from portal.events.outbox import emit
from portal.events.routing import dispatch_events


def make_sink(name: str, provider: str, webhook_url: str) -> Integration:
    """Create a sink integration whose webhook URL is an encrypted credential."""
    sink = Integration.objects.create(
        name=name,
        provider=provider,
        # A generous local limit: the tests' fakes do not throttle unless told.
        rate_limit_requests=1000,
        rate_limit_window=1,
    )
    credential = Credential(integration=sink, key="webhook_url")
    credential.set_secret(webhook_url)
    credential.save()
    return sink


def make_rule(sink: Integration, kinds: str = "*", **fields) -> RoutingRule:
    """Create a routing rule, checked as the admin checks it."""
    rule = RoutingRule(name=fields.pop("name", f"to-{sink.name}"), sink=sink)
    rule.event_kinds = kinds
    for key, value in fields.items():
        setattr(rule, key, value)
    rule.full_clean()
    rule.save()
    return rule


def emit_many(count: int, *, kind: str = "progress.updated", subject: str = "") -> list:
    """Emit ``count`` events, each in its own committed change."""
    events = []
    for number in range(count):
        with transaction.atomic():
            events.append(
                emit(
                    kind,
                    subject=subject or f"progress:{number}",
                    payload={"integration": "lms", "percent": str(number), "n": number},
                )
            )
    return events


def dispatch_all() -> None:
    """Run the dispatcher until no event waits, as a sweep's passes do.

    Events a listener writes on a pass (achievements) wait for the next.
    """
    while Event.objects.filter(dispatched_at__isnull=True).exists():
        dispatch_events()


def pump(sink: Integration, owner: str = "worker-1") -> int:
    """Dispatch new events and deliver what is due, as the tasks do."""
    dispatch_all()
    return deliver_due(sink, owner)


def statuses(sink: Integration) -> dict[str, int]:
    """Return the sink's deliveries counted by status."""
    counts: dict[str, int] = {}
    for status in Delivery.objects.filter(sink=sink).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def event_key(event: Event, sink: Integration) -> str:
    """Return the idempotency key the pipeline gives an event to a sink."""
    return f"{event.pk}:{sink.pk}"
