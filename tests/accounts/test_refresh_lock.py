"""Two workers needing the same expiring token refresh it once, not twice.

The fake holds the first refresh request open, so the second worker asks
while the first is mid-refresh: it must wait for that refresh's result
instead of spending the refresh token again.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from portal.accounts.models import Connection
from portal.accounts.tokens import access_token_for
from tests.accounts.helpers import connect, make_learner

pytestmark = pytest.mark.django_db(transaction=True)


def hold_token_endpoint(canvas):
    """Hold the token endpoint's next request until the returned event is set."""
    handler, _ = canvas._find_route("POST", canvas.oauth.token_path)
    arrived, release = threading.Event(), threading.Event()

    def held(request):
        arrived.set()
        release.wait(timeout=10)
        return handler(request)

    canvas.route("POST", canvas.oauth.token_path, held)
    return arrived, release


def test_a_concurrent_refresh_happens_once(client, canvas):
    canvas.add_learner(701, "Ada Lovelace", course_ids=[101])
    client.force_login(make_learner())
    connect(client, canvas.oauth, "canvas")
    pk = Connection.objects.get().pk
    Connection.objects.filter(pk=pk).update(
        expires_at=timezone.now() + timedelta(seconds=5)
    )
    arrived, release = hold_token_endpoint(canvas)
    tokens: dict[str, str] = {}
    failures: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            tokens[name] = access_token_for(Connection.objects.get(pk=pk))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)
        finally:
            db_connection.close()

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    assert arrived.wait(timeout=10)
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    # The second worker is now waiting on the lease the first one holds.
    second.join(timeout=0.3)
    assert second.is_alive()
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert failures == []
    assert tokens["first"] == tokens["second"]
    assert canvas.oauth.counters.refreshes == 1
    assert canvas.oauth.user_for(tokens["first"]) is not None
