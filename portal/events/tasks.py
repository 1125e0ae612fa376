"""Celery tasks of the events app: dispatching and delivering events."""

from __future__ import annotations

from celery import shared_task

from integrations.tasks import lease_owner


@shared_task(name="events.sweep_deliveries")
def sweep_deliveries() -> int:
    """Dispatch new events, recover lost batches, send each sink with work."""
    from portal.events.delivery import send_to_workers, sweep

    sinks = sweep()
    send_to_workers(sinks)
    return len(sinks)


@shared_task(name="events.deliver_to_sink", bind=True)
def deliver_to_sink(self, sink_id: int) -> int:
    """Send a sink's due deliveries; a duplicate message finds them leased."""
    from integrations.models import Integration
    from portal.events.delivery import deliver_due

    sink = Integration.objects.filter(pk=sink_id).first()
    if sink is None:
        return 0
    return deliver_due(sink, owner=lease_owner(self.request.id))
