"""Fixtures of the tests against PostgreSQL and Redis.

Each fixture skips its test unless the environment selects the service
(DATABASE_URL for PostgreSQL, CACHE_URL or CELERY_BROKER_URL for Redis), and
calls tests.conftest.require_service when the service is selected but not
reachable, which fails under PORTAL_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from tests.conftest import require_service


def selected_url(variable: str, schemes: tuple[str, ...]) -> str:
    """Return the URL in ``variable`` if it names one of ``schemes``, else skip."""
    url = os.environ.get(variable, "")
    if url.split("://", 1)[0] not in schemes:
        pytest.skip(f"{variable} does not select {' or '.join(schemes)}")
    return url


def ensure_reachable(name: str, url: str, default_port: int) -> None:
    """Open a TCP connection to the URL's host, or report the service missing."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as error:
        require_service(name, f"{host}:{port}: {error}")


@pytest.fixture
def postgres_url() -> str:
    """Return DATABASE_URL when it selects a reachable PostgreSQL."""
    url = selected_url("DATABASE_URL", ("postgres", "postgresql", "pgsql"))
    ensure_reachable("PostgreSQL", url, 5432)
    return url


@pytest.fixture
def redis_cache_url() -> str:
    """Return CACHE_URL when it selects a reachable Redis."""
    url = selected_url("CACHE_URL", ("redis", "rediss"))
    ensure_reachable("Redis (cache)", url, 6379)
    return url


@pytest.fixture
def redis_broker_url() -> str:
    """Return CELERY_BROKER_URL when it selects a reachable Redis."""
    url = selected_url("CELERY_BROKER_URL", ("redis", "rediss"))
    ensure_reachable("Redis (broker)", url, 6379)
    return url
