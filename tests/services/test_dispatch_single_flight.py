"""On PostgreSQL one dispatcher pass runs at a time, so a learner's order holds."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from portal.events.models import Event
from portal.events.outbox import emit
from portal.events.routing import _dispatcher_lock, dispatch_pass

pytestmark = pytest.mark.services


@pytest.mark.django_db(transaction=True)
def test_a_second_dispatcher_leaves_the_pass_to_the_one_running(postgres_url):
    emit("progress.updated", subject="progress:1", payload={"learner_id": 7})
    holding = threading.Event()
    release = threading.Event()

    def first_dispatcher() -> None:
        # Holds the pass's lock the way a long pass does, then lets go.
        try:
            with transaction.atomic():
                assert _dispatcher_lock()
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_dispatcher)
    thread.start()
    assert holding.wait(timeout=30)

    try:
        assert dispatch_pass() == (0, [])
        assert Event.objects.filter(dispatched_at__isnull=True).count() == 1
    finally:
        release.set()
        thread.join()

    assert dispatch_pass()[0] == 1
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
