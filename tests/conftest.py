"""Suite-wide fixtures.

Services: PostgreSQL and Redis are used when DATABASE_URL / CACHE_URL /
CELERY_BROKER_URL point at them. Tests marked ``services`` skip when a
service is unreachable, unless PORTAL_REQUIRE_SERVICES=1 (CI), where that is
a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.leakcheck"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hash test users' passwords cheaply; production keeps PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_cache(settings, tmp_path):
    """Give each test a private cache unless CACHE_URL selects a real one."""
    if not os.environ.get("CACHE_URL"):
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": f"test-{tmp_path.name}",
            }
        }
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run sent tasks in this process, as ``CELERY_TASK_ALWAYS_EAGER`` does.

    On-commit sends then execute the runs at once, in the thread that
    committed (the live server's, in browser tests).
    """
    from portal.celery import app as celery_app

    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def require_service(name: str, reason: str) -> None:
    """Skip (or fail, when PORTAL_REQUIRE_SERVICES=1) for an unreachable service."""
    if os.environ.get("PORTAL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required but not reachable: {reason}")
    pytest.skip(f"{name} not reachable: {reason}")


#: HTTP defaults for tests against loopback fakes: quick timeouts and retries
#: that wait microseconds, so fault tests stay fast.
LOOPBACK_HTTP_DEFAULTS = {
    "connect_timeout": 2.0,
    "read_timeout": 5.0,
    "retry_budget": 1.0,
    "max_retries": 2,
    "backoff_base": 0.001,
    "backoff_cap": 0.005,
}


@pytest.fixture
def loopback_http(settings):
    """Let integrations reach loopback fakes, with tiny retry waits."""
    from integrations.http.factory import forget_clients

    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    settings.INTEGRATIONS_HTTP_DEFAULTS = dict(LOOPBACK_HTTP_DEFAULTS)
    forget_clients()
    yield settings
    forget_clients()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Run moto's S3 (and IAM) server on loopback once for the session.

    moto runs in server mode inside the test process (``ThreadedMotoServer``)
    on 127.0.0.1 and a free port: boto3 talks real HTTP to it with real
    SigV4 signatures.
    """
    import logging

    from moto.server import ThreadedMotoServer

    # moto's werkzeug logs every request line, presigned query strings too.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_url(moto_server, loopback_http) -> str:
    """Return moto's URL with its state reset and integrations allowed to reach it."""
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    return moto_server
