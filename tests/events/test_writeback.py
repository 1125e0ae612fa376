"""Write-backs: progress queued in the change's transaction, pushed by HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from integrations import registry
from integrations.http.factory import forget_clients
from integrations.models import Credential, Integration
from integrations.providers.rest.provider import RestProvider
from portal.events.models import Event, WriteBack, WriteBackStatus
from portal.events.outbox import emit
from portal.events.writeback import (
    execute_write_back,
    queue_write_back,
    replay,
    sweep_write_backs,
)
from portal.learning.models import Course, LearnerIdentity, Progress
from tests import leakcheck
from tests.fakes.server import FakeServer, Reply

pytestmark = pytest.mark.django_db

TOKEN = leakcheck.secret("gradebook-token-0123456789")


class GradebookProvider(RestProvider):
    """The REST provider plus a write-back to a JSON gradebook, for tests."""

    slug = "test-gradebook"
    title = "Test gradebook"
    supports_write_back = True

    def push_progress(
        self, integration: Integration, client: Any, progress: Progress
    ) -> dict:
        """PUT the learner's percent to /grades/<course>/<remote user>."""
        identity = LearnerIdentity.objects.get(
            integration=integration, user=progress.learner
        )
        path = f"/grades/{progress.course.external_id}/{identity.remote_user_id}"
        client.request(
            "PUT", path, json={"percent": str(progress.percent)}, idempotent=True
        )
        return {"path": path}


@pytest.fixture(autouse=True)
def gradebook_provider(settings) -> Iterator[None]:
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    settings.INTEGRATIONS_HTTP_DEFAULTS = {
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "retry_budget": 0.5,
        "max_retries": 1,
        "backoff_base": 0.001,
        "backoff_cap": 0.005,
    }
    forget_clients()
    registry.register(GradebookProvider)
    yield
    registry._providers.pop(GradebookProvider.slug, None)
    forget_clients()


@pytest.fixture
def gradebook() -> Iterator[FakeServer]:
    server = FakeServer()
    server.grades = {}

    def put_grade(request):
        if request.header("Authorization") != f"Bearer {TOKEN}":
            return Reply.json(
                {"error": "unauthorized"}, 401, {"WWW-Authenticate": "Bearer"}
            )
        server.grades[request.path] = json.loads(request.body)
        return Reply.json({"ok": True})

    server.route("PUT", re.compile(r"/grades/.+"), put_grade)
    with server:
        yield server


@pytest.fixture
def progress(gradebook) -> Progress:
    integration = Integration.objects.create(
        name="gradebook",
        provider=GradebookProvider.slug,
        base_url=gradebook.url,
        settings={
            "auth": "bearer",
            "endpoints": [
                {
                    "stream": "courses",
                    "path": "/courses",
                    "record_type": "course",
                    "fields": {"external_id": "id", "title": "name"},
                }
            ],
        },
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(TOKEN)
    credential.save()
    learner = get_user_model().objects.create(username="ada", email="ada@example.org")
    LearnerIdentity.objects.create(
        integration=integration, user=learner, remote_user_id="77"
    )
    course = Course.objects.create(
        integration=integration, external_id="c1", title="Logic", content_hash="x"
    )
    return Progress.objects.create(
        integration=integration,
        external_id="portal:c1:77",
        course=course,
        learner=learner,
        percent=Decimal("40"),
        content_hash="x",
    )


def change_percent(progress: Progress, percent: str, callbacks) -> WriteBack:
    with callbacks(execute=False), transaction.atomic():
        progress.percent = Decimal(percent)
        progress.save()
        emit(
            "progress.updated",
            subject=f"progress:{progress.pk}",
            payload={"percent": percent},
        )
        return queue_write_back(progress)


def test_change_queues_one_write_back_and_an_event_after_commit(
    progress, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            progress.percent = Decimal("55")
            progress.save()
            emit("progress.updated", subject=f"progress:{progress.pk}")
            write_back = queue_write_back(progress)

    assert len(callbacks) == 1
    assert write_back.status == WriteBackStatus.QUEUED
    assert Event.objects.filter(kind="progress.updated").count() == 1


def test_rolled_back_change_leaves_neither_event_nor_write_back(progress):
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("progress.updated", subject=f"progress:{progress.pk}")
        queue_write_back(progress)
        raise RuntimeError("the change failed")

    assert not Event.objects.exists()
    assert not WriteBack.objects.exists()


def test_write_back_pushes_the_latest_values_over_http(
    progress, gradebook, django_capture_on_commit_callbacks
):
    first = change_percent(progress, "60", django_capture_on_commit_callbacks)
    second = change_percent(progress, "75", django_capture_on_commit_callbacks)

    done = execute_write_back(first.pk, owner="worker-1")

    assert first.pk == second.pk
    assert done.status == WriteBackStatus.SUCCEEDED
    assert gradebook.grades == {"/grades/c1/77": {"percent": "75.00"}}
    assert execute_write_back(first.pk, owner="worker-2") is None
    assert Event.objects.filter(kind="progress.written_back").count() == 1


def test_transient_failure_is_retried_later_then_succeeds(
    progress, gradebook, django_capture_on_commit_callbacks
):
    write_back = change_percent(progress, "80", django_capture_on_commit_callbacks)
    gradebook.reply("PUT", "/grades/c1/77", Reply.json({"error": "down"}, 503))

    failed = execute_write_back(write_back.pk, owner="worker-1")

    assert failed.status == WriteBackStatus.FAILED
    assert failed.error_code == "transient_error"
    assert failed.next_attempt_at > timezone.now()
    assert execute_write_back(write_back.pk, owner="worker-1") is None

    gradebook.route("PUT", "/grades/c1/77", lambda request: Reply.json({"ok": True}))
    WriteBack.objects.filter(pk=write_back.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sweep_write_backs() == 1
    assert len(callbacks) == 1
    assert execute_write_back(write_back.pk, owner="worker-1").status == "succeeded"


def test_authentication_failure_is_dead_until_replayed(
    progress, gradebook, django_capture_on_commit_callbacks
):
    write_back = change_percent(progress, "90", django_capture_on_commit_callbacks)
    credential = Credential.objects.get(key="token")
    credential.set_secret("revoked-token-000000000")
    credential.save()
    forget_clients()

    dead = execute_write_back(write_back.pk, owner="worker-1")

    assert dead.status == WriteBackStatus.DEAD
    assert dead.error_code == "authentication_failed"
    assert "revoked-token" not in dead.error

    credential.set_secret(TOKEN)
    credential.save()
    forget_clients()
    with django_capture_on_commit_callbacks(execute=False):
        assert replay(dead)
    assert execute_write_back(write_back.pk, owner="worker-1").status == "succeeded"


def test_provider_without_write_back_queues_nothing(db):
    integration = Integration.objects.create(
        name="plain", provider="rest", base_url="https://lms.example.org", settings={}
    )
    learner = get_user_model().objects.create(username="bo")
    course = Course.objects.create(integration=integration, external_id="c", title="C")
    progress = Progress.objects.create(
        integration=integration, external_id="p", course=course, learner=learner
    )

    assert queue_write_back(progress) is None


def test_sweeper_recovers_a_push_whose_worker_died(
    progress, django_capture_on_commit_callbacks
):
    write_back = change_percent(progress, "20", django_capture_on_commit_callbacks)
    WriteBack.objects.filter(pk=write_back.pk).update(
        status=WriteBackStatus.RUNNING,
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        offered = sweep_write_backs()

    assert offered == 1 and len(callbacks) == 1
    assert execute_write_back(write_back.pk, owner="worker-2").status == "succeeded"


@pytest.mark.parametrize(
    ("grade_item", "queued"), [("", False), ("portal-progress", True)]
)
def test_moodle_queues_write_backs_only_with_a_grade_item(grade_item, queued):
    settings = {"write_back_grade_item": grade_item} if grade_item else {}
    integration = Integration.objects.create(
        name="moodle",
        provider="moodle",
        base_url="https://moodle.example.org",
        settings=settings,
    )
    learner = get_user_model().objects.create(username="cy")
    course = Course.objects.create(integration=integration, external_id="21", title="C")
    progress = Progress.objects.create(
        integration=integration, external_id="21:5", course=course, learner=learner
    )

    assert (queue_write_back(progress) is not None) is queued
