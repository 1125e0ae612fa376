"""The liveness (/healthz) and readiness (/readyz) probes."""

from __future__ import annotations

import os
import socket

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings

from portal.celery import app as celery_app
from portal.views import describe_error
from tests.conftest import require_service

# Nothing listens on port 1 of the loopback interface.
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker(tmp_path, monkeypatch):
    """Point the Celery app at a filesystem broker in a fresh folder; restore after."""
    # Celery's broker_url prefers the CELERY_BROKER_URL variable over its
    # configuration, so the variable must go for the override to count.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    saved = {
        "broker_url": celery_app.conf.broker_url,
        "broker_transport": celery_app.conf.broker_transport,
        "broker_transport_options": celery_app.conf.broker_transport_options,
    }
    # The transport is chosen by each test's URL, not the settings' default.
    celery_app.conf.broker_transport = None
    folder = tmp_path / "broker"
    (folder / "control").mkdir(parents=True)
    celery_app.conf.broker_url = "filesystem://"
    celery_app.conf.broker_transport_options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    yield celery_app.conf
    celery_app.conf.update(saved)


def redis_reachable() -> bool:
    """Tell whether the local Redis answers on its default port."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_probes_refuse_post(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


@pytest.mark.django_db
def test_readyz_reports_every_check_when_ready(client, broker):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["vendor"] == connection.vendor
    assert body["checks"]["cache"]["backend"] == type(caches["default"]).__name__
    assert body["checks"]["broker"]["transport"] == "filesystem"
    assert "failed" not in body


@pytest.mark.django_db
def test_readyz_is_503_when_the_cache_is_unreachable(admin_client, broker):
    broken = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
        }
    }
    with override_settings(CACHES=broken):
        response = admin_client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["cache"]
    assert body["checks"]["cache"]["ok"] is False
    assert "ConnectionError" in body["checks"]["cache"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_readyz_is_503_when_the_cache_loses_writes(admin_client, broker):
    dummy = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    with override_settings(CACHES=dummy):
        response = admin_client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["cache"]
    assert "CACHE_URL" in response.json()["checks"]["cache"]["error"]


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_folder_is_missing(
    admin_client, broker, tmp_path
):
    missing = tmp_path / "nowhere"
    broker.broker_transport_options = {
        "data_folder_in": str(missing),
        "data_folder_out": str(missing),
    }

    response = admin_client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert str(missing) in body["checks"]["broker"]["error"]
    assert "does not exist" in body["checks"]["broker"]["error"]


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_folder_is_read_only(
    admin_client, broker, tmp_path
):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    broker.broker_transport_options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
    }
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user that may write anywhere (root)")
        response = admin_client.get("/readyz")
    finally:
        folder.chmod(0o700)

    assert response.status_code == 503
    assert "not writable" in response.json()["checks"]["broker"]["error"]


@pytest.mark.django_db
def test_readyz_hides_the_broker_password_when_redis_is_unreachable(
    admin_client, broker
):
    broker.broker_url = "redis://:hunter2-broker-secret@127.0.0.1:1/0"
    broker.broker_transport_options = {}

    response = admin_client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]
    assert "hunter2-broker-secret" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.services
def test_readyz_is_ready_with_redis_as_cache(client, broker):
    if not redis_reachable():
        require_service("Redis", "nothing listens on 127.0.0.1:6379")
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
        }
    }
    with override_settings(CACHES=redis_cache):
        response = client.get("/readyz")

    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["cache"]["backend"] == "RedisCache"


@pytest.mark.django_db
@pytest.mark.services
def test_readyz_is_ready_with_redis_as_broker(client, broker):
    if not redis_reachable():
        require_service("Redis", "nothing listens on 127.0.0.1:6379")
    broker.broker_url = "redis://127.0.0.1:6379/15"
    broker.broker_transport_options = {}

    response = client.get("/readyz")

    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"]["transport"] == "redis"


def test_describe_error_masks_credentials_in_urls():
    error = ConnectionError(
        "cannot reach postgres://portal:pa55word@db.internal:5432/x"
    )

    text = describe_error(error)

    assert text.startswith("ConnectionError: ")
    assert "pa55word" not in text
    assert "postgres://***@db.internal:5432/x" in text


@pytest.mark.django_db
def test_readyz_hides_error_details_from_anonymous_callers(client, broker, tmp_path):
    missing = tmp_path / "nowhere"
    broker.broker_transport_options = {
        "data_folder_in": str(missing),
        "data_folder_out": str(missing),
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["error"] == "unavailable"
    assert str(missing) not in response.content.decode()
