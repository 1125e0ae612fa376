"""The per-integration sync lease: one sync of an integration at a time.

The lease is two columns on the Integration row, taken and renewed with a
conditional UPDATE. The database makes that atomic on SQLite and PostgreSQL
alike, so it holds across threads, processes, workers and machines. A holder
that dies simply stops renewing; the lease expires and another may take it.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from integrations.models import Integration


def lease_seconds() -> int:
    """Return how long a lease lasts without renewal."""
    return int(getattr(settings, "INTEGRATIONS_SYNC_LEASE_SECONDS", 300))


def new_owner(label: str = "") -> str:
    """Return a unique lease owner name: host, process and a random suffix."""
    parts = [socket.gethostname()[:20], str(os.getpid()), uuid.uuid4().hex[:8]]
    if label:
        parts.insert(0, label[:12])
    return ":".join(parts)[:64]


def acquire(integration_id: int, owner: str) -> bool:
    """Take the integration's sync lease for ``owner``; tell whether it worked."""
    now = timezone.now()
    free = (
        Q(sync_lease_owner="")
        | Q(sync_lease_owner=owner)
        | Q(sync_lease_expires_at__isnull=True)
        | Q(sync_lease_expires_at__lt=now)
    )
    taken = Integration.objects.filter(free, pk=integration_id).update(
        sync_lease_owner=owner,
        sync_lease_expires_at=now + timedelta(seconds=lease_seconds()),
    )
    return taken == 1


def renew(integration_id: int, owner: str) -> bool:
    """Extend a lease ``owner`` holds; False means it was lost."""
    expires = timezone.now() + timedelta(seconds=lease_seconds())
    renewed = Integration.objects.filter(
        pk=integration_id, sync_lease_owner=owner
    ).update(sync_lease_expires_at=expires)
    return renewed == 1


def release(integration_id: int, owner: str) -> None:
    """Give the lease back if ``owner`` still holds it."""
    Integration.objects.filter(pk=integration_id, sync_lease_owner=owner).update(
        sync_lease_owner="", sync_lease_expires_at=None
    )


def holder(integration_id: int) -> str:
    """Return who holds an unexpired lease, or an empty string."""
    row = (
        Integration.objects.filter(
            pk=integration_id, sync_lease_expires_at__gte=timezone.now()
        )
        .values_list("sync_lease_owner", flat=True)
        .first()
    )
    return row or ""
