"""Delivery: outages, rate limits, dead letters, replay, broken sinks, crashes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from integrations.http.factory import forget_clients
from integrations.models import HealthStatus, Integration
from integrations.registry import get_provider
from portal.events.delivery import (
    RETRY_DELAYS,
    claim_batch,
    deliver_due,
    messages_for,
    record_success,
    send_batch,
    sweep,
)
from portal.events.models import Delivery, DeliveryStatus, Event, SinkState
from portal.events.outbox import emit
from portal.events.routing import DISPATCH_BATCH
from tests.events.sinks import emit_many, event_key, make_rule, pump, statuses

pytestmark = pytest.mark.django_db


def make_due(sink: Integration) -> None:
    """Advance time for the sink: every waiting retry and pause is due now."""
    past = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(sink=sink, status=DeliveryStatus.FAILED).update(
        next_attempt_at=past
    )
    SinkState.objects.filter(sink=sink).update(paused_until=None)
    # The HTTP layer's own pause after a 429 has passed too by then.
    cache.clear()
    forget_clients()


def test_outage_then_recovery_loses_nothing_and_repeats_nothing(
    discord_sink, discord_fake
):
    make_rule(discord_sink, "*")
    events = emit_many(15)
    discord_fake.fail(3)

    for _ in range(3):
        pump(discord_sink)
        make_due(discord_sink)
    pump(discord_sink)

    keys = discord_fake.delivered_keys()
    assert sorted(keys) == sorted(event_key(e, discord_sink) for e in events)
    assert len(keys) == len(set(keys)) == 15
    assert statuses(discord_sink) == {DeliveryStatus.DELIVERED: 15}
    assert set(Delivery.objects.values_list("attempts", flat=True)) <= {4, 1}


def test_retry_waits_follow_the_backoff_schedule(slack_sink, slack_fake):
    make_rule(slack_sink, "*")
    emit_many(1)
    slack_fake.fail(2)

    before = timezone.now()
    pump(slack_sink)
    first = Delivery.objects.get()
    make_due(slack_sink)
    pump(slack_sink)
    second = Delivery.objects.get()

    assert first.next_attempt_at >= before + RETRY_DELAYS[0]
    assert second.attempts == 2
    assert second.next_attempt_at >= before + RETRY_DELAYS[1]
    assert second.next_attempt_at < timezone.now() + RETRY_DELAYS[2]


def test_discord_429_retry_after_is_stored_and_honoured(discord_sink, discord_fake):
    make_rule(discord_sink, "*")
    emit_many(2)
    discord_fake.rate_limit(7.5)

    before = timezone.now()
    pump(discord_sink)

    delivery = Delivery.objects.order_by("id").first()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "rate_limited"
    assert delivery.attempts == 0
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 7.0 <= wait <= 9.0
    # Not due yet: nothing is sent before retry_after, however often asked.
    assert deliver_due(discord_sink, "worker-2") == 0
    assert discord_fake.count() == 1

    make_due(discord_sink)
    assert deliver_due(discord_sink, "worker-2") == 2


def test_slack_429_retry_after_pauses_the_sink(slack_sink, slack_fake):
    make_rule(slack_sink, "*")
    emit_many(1)
    slack_fake.rate_limit(30)

    pump(slack_sink)
    with transaction.atomic():
        emit("sync.failed", subject="other")
    pump(slack_sink)

    state = SinkState.objects.get(sink=slack_sink)
    assert state.paused_until > timezone.now() + timedelta(seconds=25)
    assert slack_fake.count() == 1
    assert statuses(slack_sink) == {
        DeliveryStatus.FAILED: 1,
        DeliveryStatus.PENDING: 1,
    }


def test_after_the_last_retry_a_delivery_is_dead_with_its_error(slack_sink, slack_fake):
    make_rule(slack_sink, "*")
    emit_many(1)
    slack_fake.fail(len(RETRY_DELAYS) + 1)

    for _ in range(len(RETRY_DELAYS) + 1):
        pump(slack_sink)
        make_due(slack_sink)

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == len(RETRY_DELAYS) + 1
    assert delivery.error_code == "transient_error"
    assert "rollup_error" in delivery.error


def replay_action(admin_client, ids: list[int]):
    return admin_client.post(
        "/admin/events/delivery/",
        {"action": "replay_selected", "_selected_action": [str(i) for i in ids]},
        follow=True,
    )


def test_dead_deliveries_show_in_the_admin_and_replay_one_by_one(
    admin_client, discord_sink, discord_fake, django_capture_on_commit_callbacks
):
    make_rule(discord_sink, "*")
    emit_many(2)
    discord_fake.delete_webhook()
    pump(discord_sink)
    dead = list(Delivery.objects.order_by("id"))

    listing = admin_client.get("/admin/events/delivery/", {"status__exact": "dead"})
    page = admin_client.get(f"/admin/events/delivery/{dead[0].pk}/change/")
    discord_fake.deleted = False
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = replay_action(admin_client, [dead[0].pk])
    pump(discord_sink)

    assert listing.status_code == 200 and "not_found" in listing.content.decode()
    assert "update the webhook_url credential" in page.content.decode()
    assert "1 delivery(ies) queued again" in response.content.decode()
    assert len(callbacks) == 1
    assert discord_fake.delivered_keys() == [dead[0].idempotency_key]
    assert statuses(discord_sink) == {
        DeliveryStatus.DELIVERED: 1,
        DeliveryStatus.DEAD: 1,
    }


def test_bulk_replay_delivers_every_dead_one_once(
    admin_client, slack_sink, slack_fake, django_capture_on_commit_callbacks
):
    make_rule(slack_sink, "*")
    emit_many(4)
    slack_fake.revoke()
    pump(slack_sink)
    slack_fake._state = ""

    ids = list(Delivery.objects.values_list("id", flat=True))
    with django_capture_on_commit_callbacks(execute=False):
        replay_action(admin_client, ids)
        replay_action(admin_client, ids)
    pump(slack_sink)

    assert len(slack_fake.delivered_keys()) == 4
    assert statuses(slack_sink) == {DeliveryStatus.DELIVERED: 4}


def test_a_sink_that_keeps_failing_is_flagged_broken_and_admins_are_emailed(
    settings, slack_sink, slack_fake, django_capture_on_commit_callbacks
):
    settings.EVENTS_SINK_BROKEN_AFTER = 3
    get_user_model().objects.create_superuser("root", "root@example.org", "pw-123456")
    make_rule(slack_sink, "*")
    slack_fake.revoke()

    with django_capture_on_commit_callbacks(execute=True):
        emit_many(2)
        pump(slack_sink)
        assert mail.outbox == []
        emit_many(1)
        pump(slack_sink)
        emit_many(1)
        pump(slack_sink)

    slack_sink.refresh_from_db()
    state = SinkState.objects.get(sink=slack_sink)
    assert state.broken
    assert slack_sink.enabled
    assert slack_sink.health_status == HealthStatus.UNHEALTHY
    assert "3 deliveries in a row" in slack_sink.health_error
    assert "update the webhook_url credential" in slack_sink.health_error
    assert "replay the dead deliveries" in slack_sink.health_error
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["root@example.org"]
    assert "team-slack" in mail.outbox[0].subject
    assert "fakeSlackWebhookSecret" not in mail.outbox[0].body
    changed = Event.objects.filter(kind="integration.health_changed").get()
    assert changed.payload["status"] == "unhealthy"


def test_a_broken_sink_that_delivers_again_is_cleared(
    settings, slack_sink, slack_fake, django_capture_on_commit_callbacks
):
    settings.EVENTS_SINK_BROKEN_AFTER = 1
    make_rule(slack_sink, "*")
    slack_fake.revoke()
    with django_capture_on_commit_callbacks(execute=True):
        emit_many(1)
        pump(slack_sink)
    slack_fake._state = ""

    emit_many(1)
    pump(slack_sink)

    slack_sink.refresh_from_db()
    assert not SinkState.objects.get(sink=slack_sink).broken
    assert slack_sink.health_status == HealthStatus.HEALTHY


def test_crashed_worker_before_sending_is_recovered_exactly_once(
    discord_sink, discord_fake
):
    make_rule(discord_sink, "*")
    events = emit_many(3)
    sweep()
    claimed = claim_batch(discord_sink, "worker-that-dies", 10, ordered=True)
    assert len(claimed) == 3
    # The worker dies holding the lease; nobody else may take the batch.
    assert deliver_due(discord_sink, "worker-2") == 0

    Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sweep() == [discord_sink.pk]
    assert deliver_due(discord_sink, "worker-2") == 3

    assert discord_fake.delivered_keys() == [event_key(e, discord_sink) for e in events]


def test_crashed_worker_after_sending_is_delivered_again_with_the_same_keys(
    discord_sink, discord_fake
):
    make_rule(discord_sink, "*")
    emit_many(2)
    sweep()
    claimed = claim_batch(discord_sink, "worker-that-dies", 10, ordered=True)
    # The sink takes the batch, then the worker stalls before recording it.
    get_provider("discord").deliver(discord_sink, messages_for(claimed))

    Delivery.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    sweep()
    retaken = claim_batch(discord_sink, "worker-2", 10, ordered=True)
    # The stalled worker wakes: the rows are worker-2's now, not its own.
    record_success(discord_sink, claimed)
    assert statuses(discord_sink) == {DeliveryStatus.DELIVERING: 2}
    send_batch(discord_sink, retaken)

    keys = discord_fake.delivered_keys()
    assert len(keys) == 4 and len(set(keys)) == 2
    assert statuses(discord_sink) == {DeliveryStatus.DELIVERED: 2}


def test_ordered_sink_holds_a_subjects_later_event_behind_an_earlier_one(
    discord_sink, discord_fake
):
    make_rule(discord_sink, "*")
    first, second = emit_many(2, subject="progress:7")
    (other,) = emit_many(1, subject="progress:8")
    sweep()
    earlier = Delivery.objects.get(event=first)
    Delivery.objects.filter(pk=earlier.pk).update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )

    deliver_due(discord_sink, "worker-1")

    assert discord_fake.delivered_keys() == [event_key(other, discord_sink)]
    assert Delivery.objects.get(event=second).status == DeliveryStatus.PENDING

    make_due(discord_sink)
    deliver_due(discord_sink, "worker-1")
    assert discord_fake.delivered_keys()[1:] == [
        event_key(first, discord_sink),
        event_key(second, discord_sink),
    ]


def test_a_rolled_back_change_emits_nothing(discord_sink, discord_fake):
    make_rule(discord_sink, "*")

    with pytest.raises(RuntimeError), transaction.atomic():
        emit("progress.updated", subject="progress:1")
        raise RuntimeError("the change failed")
    pump(discord_sink)

    assert not Event.objects.exists()
    assert not Delivery.objects.exists()
    assert discord_fake.count() == 0


def test_a_sink_failing_for_the_whole_window_is_broken_before_anything_dies(
    settings, slack_sink, slack_fake, django_capture_on_commit_callbacks
):
    settings.EVENTS_SINK_FAILING_WINDOW = 600
    settings.ADMINS = [("Ops", "ops@example.org")]
    make_rule(slack_sink, "*")
    emit_many(1)
    slack_fake.fail(10)

    with django_capture_on_commit_callbacks(execute=True):
        pump(slack_sink)
        make_due(slack_sink)
        pump(slack_sink)
        assert not SinkState.objects.get(sink=slack_sink).broken
        SinkState.objects.update(failing_since=timezone.now() - timedelta(minutes=11))
        make_due(slack_sink)
        pump(slack_sink)

    state = SinkState.objects.get(sink=slack_sink)
    assert state.broken
    assert "for 11 minutes no delivery arrived" in state.broken_reason
    assert "check that the service is up" in state.broken_reason
    assert statuses(slack_sink) == {DeliveryStatus.FAILED: 1}
    assert [message.to for message in mail.outbox] == [["ops@example.org"]]


def test_a_claim_takes_due_retries_and_pending_oldest_first_not_waiting_ones(
    slack_sink, slack_fake
):
    make_rule(slack_sink, "*")
    events = emit_many(4)
    sweep()
    now = timezone.now()
    Delivery.objects.filter(event=events[0]).update(
        status=DeliveryStatus.FAILED, next_attempt_at=now - timedelta(seconds=1)
    )
    Delivery.objects.filter(event=events[1]).update(
        status=DeliveryStatus.FAILED, next_attempt_at=now + timedelta(hours=1)
    )

    claimed = claim_batch(slack_sink, "worker-1", 2, ordered=False)

    assert [delivery.event_id for delivery in claimed] == [events[0].pk, events[2].pk]
    assert {delivery.status for delivery in claimed} == {DeliveryStatus.DELIVERING}
    assert Delivery.objects.get(event=events[1]).status == DeliveryStatus.FAILED


def test_one_sweep_dispatches_a_backlog_larger_than_one_pass(slack_sink, slack_fake):
    make_rule(slack_sink, "*")
    Event.objects.bulk_create(
        Event(kind="sync.failed", subject=f"integration:lms-{number}")
        for number in range(DISPATCH_BATCH * 2 + 1)
    )

    assert sweep() == [slack_sink.pk]

    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert statuses(slack_sink) == {DeliveryStatus.PENDING: DISPATCH_BATCH * 2 + 1}
