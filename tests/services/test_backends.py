"""The portal on PostgreSQL and Redis: what the environment selects is what runs."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections

from integrations.models import Integration
from integrations.sync import leases
from portal.celery import app as celery_app

pytestmark = pytest.mark.services


@pytest.mark.django_db
def test_database_url_selects_postgresql(postgres_url):
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]

    assert connection.vendor == "postgresql"
    assert version.startswith("PostgreSQL")
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_concurrent_lease_takers_wins(postgres_url):
    integration = Integration.objects.create(name="contended", provider="rest")
    start = threading.Barrier(8)
    results: list[bool] = []

    def take(number: int) -> None:
        try:
            start.wait()
            results.append(leases.acquire(integration.pk, f"taker-{number}"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]
    assert leases.holder(integration.pk).startswith("taker-")


def test_cache_url_selects_djangos_redis_cache(redis_cache_url):
    key = f"services-test-{uuid.uuid4()}"

    cache.set(key, 1, timeout=30)
    cache.incr(key)

    assert settings.CACHES["default"]["BACKEND"] == (
        "django.core.cache.backends.redis.RedisCache"
    )
    assert cache.get(key) == 2
    cache.delete(key)


def test_broker_url_carries_messages_through_redis(redis_broker_url):
    queue_name = f"services-test-{uuid.uuid4()}"
    body = {"run_id": 42}

    with celery_app.connection_for_write() as broker:
        queue = broker.SimpleQueue(queue_name)
        try:
            queue.put(body)
            message = queue.get(timeout=10)
            message.ack()
        finally:
            queue.queue.delete()
            queue.close()

    assert broker.transport_cls == "redis"
    assert message.payload == body
