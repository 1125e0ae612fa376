"""Celery tasks of the events app: pushing write-backs to LMSs."""

from __future__ import annotations

from celery import shared_task

from integrations.tasks import lease_owner
from portal.events.writeback import execute_write_back, sweep_write_backs


@shared_task(name="events.push_write_back", bind=True)
def push_write_back(self, write_back_id: int) -> str | None:
    """Push one write-back; a duplicate delivery finds it taken and does nothing."""
    write_back = execute_write_back(write_back_id, owner=lease_owner(self.request.id))
    return write_back.status if write_back else None


@shared_task(name="events.sweep_write_backs")
def sweep() -> int:
    """Offer due and lost write-backs to workers again."""
    return sweep_write_backs()
