"""LMS write-back as a sink: routed from progress events, coalesced, pushed by HTTP."""

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
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from integrations import registry
from integrations.errors import ConfigurationError, NotFound, PermissionDenied
from integrations.http.factory import forget_clients
from integrations.models import Credential, Integration
from integrations.providers.rest.provider import RestProvider
from portal.events.delivery import (
    WRITE_BACK_LEASE,
    claim_batch,
    deliver_due,
    recover_expired_leases,
    renew_lease,
    replay,
)
from portal.events.domain import progress_updated
from portal.events.models import Delivery, DeliveryStatus, Event, SinkState
from portal.events.routing import dispatch_events
from portal.learning.models import Course, LearnerIdentity, Progress
from tests import leakcheck
from tests.fakes.server import FakeServer, Reply

pytestmark = pytest.mark.django_db

TOKEN = leakcheck.secret("gradebook-token-0123456789")
#: What the test provider raises for a course, by its external id: a bug in
#: the push, a course the gradebook has no column for, missing rights.
COURSE_FAILURES: dict[str, Exception] = {
    "crashes": KeyError("grade"),
    "unset": ConfigurationError("The gradebook has no portal column in this course"),
    "forbidden": PermissionDenied("The token may not grade"),
    "gone": NotFound("The gradebook has no such course"),
}


class GradebookProvider(RestProvider):
    """The REST provider plus a write-back to a JSON gradebook, for tests."""

    slug = "test-gradebook"
    title = "Test gradebook"
    supports_write_back = True

    def push_progress(
        self, integration: Integration, client: Any, progress: Progress
    ) -> dict:
        """PUT the learner's percent to /grades/<course>/<remote user>."""
        identity = LearnerIdentity.objects.filter(
            integration=integration, user=progress.learner
        ).first()
        if identity is None:
            raise NotFound(f"Learner {progress.learner_id} has no gradebook account")
        failure = COURSE_FAILURES.get(progress.course.external_id)
        if failure is not None:
            raise failure
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

    server.put_grade = put_grade
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


def change_percent(progress: Progress, percent: str, source: str = "api") -> None:
    """Change the row and emit its event in one transaction, as the API does."""
    with transaction.atomic():
        progress.percent = Decimal(percent)
        progress.save()
        progress_updated(progress, progress.integration.name, ["percent"], source)


def write_backs() -> list[Delivery]:
    return list(
        Delivery.objects.filter(rule__isnull=True)
        .exclude(coalesce_key="")
        .order_by("id")
    )


def push_due(integration: Integration, owner: str = "worker-1") -> int:
    """Run the dispatcher, then a delivery task for the LMS, as the sweep does."""
    dispatch_events()
    return deliver_due(integration, owner)


@pytest.mark.parametrize("source", ["api", "quiz"])
def test_a_progress_event_is_routed_to_its_lms_without_a_rule(progress, source):
    change_percent(progress, "55", source=source)

    dispatch_events()

    [delivery] = write_backs()
    assert delivery.sink == progress.integration
    assert delivery.coalesce_key == f"progress:{progress.pk}"
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.event.kind == "progress.updated"


def test_progress_synced_from_the_lms_is_not_written_back_to_it(progress):
    change_percent(progress, "55", source="sync")

    dispatch_events()

    assert write_backs() == []


def test_rolled_back_change_leaves_neither_event_nor_write_back(progress):
    with pytest.raises(RuntimeError), transaction.atomic():
        progress_updated(progress, progress.integration.name, ["percent"], "api")
        raise RuntimeError("the change failed")

    dispatch_events()

    assert not Event.objects.exists()
    assert not Delivery.objects.exists()


def test_changes_before_a_push_coalesce_into_one_push_of_the_latest_values(
    progress, gradebook
):
    for percent in ("60", "70", "75"):
        change_percent(progress, percent)

    arrived = push_due(progress.integration)

    assert arrived == 3
    assert gradebook.count("/grades/c1/77", "PUT") == 1
    assert gradebook.grades == {"/grades/c1/77": {"percent": "75.00"}}
    assert {d.status for d in write_backs()} == {DeliveryStatus.DELIVERED}
    [written] = Event.objects.filter(kind="progress.written_back")
    assert written.payload["result"] == {"path": "/grades/c1/77"}
    assert push_due(progress.integration) == 0


def test_a_newer_change_waits_out_the_failed_push_then_both_go_as_one(
    progress, gradebook
):
    change_percent(progress, "80")
    gradebook.reply("PUT", "/grades/c1/77", Reply.json({"error": "down"}, 503))

    assert push_due(progress.integration) == 0

    [failed] = write_backs()
    assert failed.status == DeliveryStatus.FAILED
    assert failed.error_code == "transient_error"
    assert failed.next_attempt_at > timezone.now()

    # A new change does not skip the failing LMS's backoff.
    gradebook.route("PUT", "/grades/c1/77", gradebook.put_grade)
    change_percent(progress, "85")
    gradebook.clear()
    assert push_due(progress.integration) == 0
    assert gradebook.count() == 0

    Delivery.objects.filter(pk=failed.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert deliver_due(progress.integration, "worker-1") == 2
    assert gradebook.count("/grades/c1/77", "PUT") == 1
    assert gradebook.grades == {"/grades/c1/77": {"percent": "85.00"}}
    assert {d.status for d in write_backs()} == {DeliveryStatus.DELIVERED}


def test_a_row_out_with_one_worker_is_not_pushed_by_another(progress, gradebook):
    change_percent(progress, "40")
    dispatch_events()
    [held] = claim_batch(
        progress.integration, "worker-1", 10, ordered=False, coalescing=True
    )
    change_percent(progress, "45")
    dispatch_events()

    assert (
        claim_batch(
            progress.integration, "worker-2", 10, ordered=False, coalescing=True
        )
        == []
    )

    # Once the first worker is done, the newer change goes out.
    Delivery.objects.filter(pk=held.pk).update(
        status=DeliveryStatus.DELIVERED, lease_owner="", lease_expires_at=None
    )
    [newer] = claim_batch(
        progress.integration, "worker-2", 10, ordered=False, coalescing=True
    )
    assert newer.pk != held.pk


def test_changes_during_an_outage_share_their_attempts_and_die_once(
    progress, gradebook
):
    gradebook.reply("PUT", "/grades/c1/77", Reply.json({"error": "down"}, 503))
    for percent in ("10", "20", "30"):
        change_percent(progress, percent)
    dispatch_events()

    for _ in range(6):
        Delivery.objects.filter(status=DeliveryStatus.FAILED).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        deliver_due(progress.integration, "worker-1")

    assert {(d.status, d.attempts) for d in write_backs()} == {("dead", 6)}
    assert SinkState.objects.get(sink=progress.integration).consecutive_dead == 1


def test_the_lease_is_renewed_row_by_row(progress, gradebook):
    change_percent(progress, "40")
    dispatch_events()
    [claimed] = claim_batch(
        progress.integration, "worker-1", 10, ordered=False, coalescing=True
    )
    Delivery.objects.filter(pk=claimed.pk).update(
        lease_expires_at=timezone.now() + timedelta(seconds=5)
    )

    renew_lease([claimed], WRITE_BACK_LEASE)

    claimed.refresh_from_db()
    assert claimed.lease_expires_at > timezone.now() + timedelta(minutes=9)


def test_a_refused_token_makes_the_batch_dead_until_replayed(progress, gradebook):
    change_percent(progress, "90")
    credential = Credential.objects.get(key="token")
    credential.set_secret("revoked-token-000000000")
    credential.save()
    forget_clients()

    push_due(progress.integration)

    [dead] = write_backs()
    assert dead.status == DeliveryStatus.DEAD
    assert dead.error_code == "authentication_failed"
    assert "revoked-token" not in dead.error

    credential.set_secret(TOKEN)
    credential.save()
    forget_clients()
    with transaction.atomic():
        assert replay(dead)
    assert push_due(progress.integration) == 1
    assert gradebook.grades == {"/grades/c1/77": {"percent": "90.00"}}


def test_one_rows_failure_refuses_that_row_and_pushes_the_others(progress, gradebook):
    stranger = get_user_model().objects.create(username="cy")
    other = Progress.objects.create(
        integration=progress.integration,
        external_id="portal:c1:cy",
        course=progress.course,
        learner=stranger,
        content_hash="x",
    )
    change_percent(other, "10")
    change_percent(progress, "65")

    assert push_due(progress.integration) == 1

    refused, pushed = write_backs()
    assert refused.status == DeliveryStatus.DEAD
    assert refused.error_code == "rejected_by_sink"
    assert "has no account in 'gradebook'" in refused.error
    assert pushed.status == DeliveryStatus.DELIVERED
    assert gradebook.grades == {"/grades/c1/77": {"percent": "65.00"}}


def test_a_push_whose_worker_died_is_sent_again_after_its_lease(progress, gradebook):
    change_percent(progress, "20")
    dispatch_events()
    [claimed] = claim_batch(progress.integration, "worker-that-dies", 10, ordered=False)
    Delivery.objects.filter(pk=claimed.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert recover_expired_leases() == 1
    assert deliver_due(progress.integration, "worker-2") == 1
    assert gradebook.grades == {"/grades/c1/77": {"percent": "20.00"}}


def test_a_change_while_the_lms_is_disabled_waits_for_it(progress, gradebook):
    Integration.objects.filter(pk=progress.integration_id).update(enabled=False)
    change_percent(progress, "30")
    progress.integration.refresh_from_db()

    assert push_due(progress.integration) == 0
    assert [d.status for d in write_backs()] == [DeliveryStatus.PENDING]

    Integration.objects.filter(pk=progress.integration_id).update(enabled=True)
    progress.integration.refresh_from_db()
    assert push_due(progress.integration) == 1
    assert gradebook.grades == {"/grades/c1/77": {"percent": "30.00"}}


def progress_in(progress: Progress, course_id: str) -> Progress:
    """Return the same learner's progress in another course of the gradebook."""
    course = Course.objects.create(
        integration=progress.integration,
        external_id=course_id,
        title=course_id,
        content_hash="x",
    )
    return Progress.objects.create(
        integration=progress.integration,
        external_id=f"portal:{course_id}:77",
        course=course,
        learner=progress.learner,
        content_hash="x",
    )


def test_a_crash_on_one_row_keeps_the_rows_already_pushed(progress, gradebook):
    broken = progress_in(progress, "crashes")
    change_percent(progress, "10")
    change_percent(broken, "20")

    assert push_due(progress.integration) == 1

    pushed, crashed = write_backs()
    assert pushed.status == DeliveryStatus.DELIVERED
    assert (crashed.status, crashed.error_code) == ("failed", "transient_error")
    assert "KeyError" in crashed.error


def test_a_row_the_lms_refuses_for_good_is_dead_and_told_the_rest_go_on(
    progress, gradebook
):
    unset = progress_in(progress, "unset")
    change_percent(unset, "20")
    change_percent(progress, "10")

    assert push_due(progress.integration) == 1

    dead, pushed = write_backs()
    assert (dead.status, dead.error_code) == ("dead", "configuration_error")
    assert pushed.status == DeliveryStatus.DELIVERED
    # Counted against the sink, so repeated refusals flag it for an admin.
    assert SinkState.objects.get(sink=progress.integration).consecutive_dead == 1


def test_missing_rights_stop_the_batch(progress, gradebook):
    forbidden = progress_in(progress, "forbidden")
    change_percent(forbidden, "20")
    change_percent(progress, "10")

    assert push_due(progress.integration) == 0

    assert {(d.status, d.error_code) for d in write_backs()} == {
        ("dead", "permission_denied")
    }
    assert gradebook.count() == 0


def test_provider_without_write_back_gets_no_delivery(db):
    integration = Integration.objects.create(
        name="plain", provider="rest", base_url="https://lms.example.org", settings={}
    )
    learner = get_user_model().objects.create(username="bo")
    course = Course.objects.create(integration=integration, external_id="c", title="C")
    progress = Progress.objects.create(
        integration=integration, external_id="p", course=course, learner=learner
    )
    change_percent(progress, "50")

    dispatch_events()

    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("grade_item", "routed"), [("", False), ("portal-progress", True)]
)
def test_moodle_takes_write_backs_only_with_a_grade_item(grade_item, routed):
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
    change_percent(progress, "50")

    dispatch_events()

    assert bool(write_backs()) is routed


def test_the_retired_write_back_schedule_is_removed(db):
    from integrations.schedules import ensure_maintenance_tasks

    every, _ = IntervalSchedule.objects.get_or_create(
        every=30, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="events: push due write-backs",
        task="events.sweep_write_backs",
        interval=every,
    )

    ensure_maintenance_tasks()

    assert not PeriodicTask.objects.filter(task="events.sweep_write_backs").exists()


def test_the_admin_lists_write_backs_apart_from_routed_deliveries(
    progress, admin_client
):
    change_percent(progress, "45")
    dispatch_events()
    [delivery] = write_backs()

    shown = admin_client.get("/admin/events/delivery/?route=write_back")
    routed = admin_client.get("/admin/events/delivery/?route=rule")

    assert shown.status_code == 200
    assert f"/admin/events/delivery/{delivery.pk}/change/" in shown.content.decode()
    assert (
        f"/admin/events/delivery/{delivery.pk}/change/" not in routed.content.decode()
    )


def test_an_outage_mid_batch_retries_only_the_rows_not_pushed(progress, gradebook):
    other_learner = get_user_model().objects.create(username="dee")
    LearnerIdentity.objects.create(
        integration=progress.integration, user=other_learner, remote_user_id="88"
    )
    other = Progress.objects.create(
        integration=progress.integration,
        external_id="portal:c1:88",
        course=progress.course,
        learner=other_learner,
        content_hash="x",
    )
    change_percent(progress, "35")
    change_percent(other, "45")
    gradebook.reply("PUT", "/grades/c1/88", Reply.json({"error": "down"}, 503))

    assert push_due(progress.integration) == 1

    pushed, failed = write_backs()
    assert (pushed.status, failed.status) == ("delivered", "failed")
    gradebook.route("PUT", "/grades/c1/88", gradebook.put_grade)
    Delivery.objects.filter(pk=failed.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    gradebook.clear()

    assert deliver_due(progress.integration, "worker-1") == 1
    assert [request.path for request in gradebook.requests] == ["/grades/c1/88"]


def test_a_crash_on_the_first_row_leaves_the_next_rows_alone(progress, gradebook):
    broken = progress_in(progress, "crashes")
    change_percent(broken, "20")
    change_percent(progress, "10")

    assert push_due(progress.integration) == 1

    crashed, pushed = write_backs()
    assert (crashed.status, crashed.error_code) == ("failed", "transient_error")
    assert pushed.status == DeliveryStatus.DELIVERED


def test_a_course_the_lms_does_not_know_is_dead_and_counted(progress, gradebook):
    gone = progress_in(progress, "gone")
    change_percent(gone, "20")

    push_due(progress.integration)

    [dead] = write_backs()
    assert (dead.status, dead.error_code) == ("dead", "not_found")
    assert SinkState.objects.get(sink=progress.integration).consecutive_dead == 1


def test_a_lost_lease_is_noticed(progress):
    change_percent(progress, "40")
    dispatch_events()
    batch = claim_batch(
        progress.integration, "worker-1", 10, ordered=False, coalescing=True
    )
    Delivery.objects.filter(pk=batch[0].pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    recover_expired_leases()

    assert renew_lease(batch, WRITE_BACK_LEASE) is False
