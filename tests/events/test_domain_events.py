"""Domain events the portal emits with its changes: sync failures, health."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.health import check_health
from integrations.models import Integration, SyncRun, SyncStatus
from integrations.redaction import redact_text
from integrations.sync.engine import execute_run
from portal.events.models import Event

pytestmark = pytest.mark.django_db


def test_a_failed_sync_emits_sync_failed_with_its_run(db):
    integration = Integration.objects.create(
        name="lms", provider="rest", base_url="https://lms.example.org", settings={}
    )
    run = SyncRun.objects.create(integration=integration, stream="no-such-stream")

    execute_run(run.pk, owner="worker-1")

    run.refresh_from_db()
    assert run.status == SyncStatus.FAILED
    event = Event.objects.get(kind="sync.failed")
    assert event.subject == "integration:lms"
    assert event.payload["run_id"] == run.pk
    assert event.payload["stream"] == "no-such-stream"
    assert event.payload["error_code"] == run.error_code


def test_health_changes_emit_one_event_per_change(discord_sink, discord_fake):
    check_health(discord_sink)
    check_health(discord_sink)
    discord_fake.delete_webhook()
    check_health(discord_sink)

    changes = [
        (event.payload["previous"], event.payload["status"])
        for event in Event.objects.filter(kind="integration.health_changed").order_by(
            "id"
        )
    ]
    assert changes == [("unknown", "healthy"), ("healthy", "unhealthy")]
    last = Event.objects.filter(kind="integration.health_changed").order_by("id").last()
    assert "create a new webhook" in last.payload["reason"]


def test_health_change_rolled_back_with_its_transaction_leaves_no_event(
    discord_sink, discord_fake
):
    with pytest.raises(RuntimeError), transaction.atomic():
        check_health(discord_sink)
        raise RuntimeError("rolled back")

    assert not Event.objects.exists()
    discord_sink.refresh_from_db()
    assert discord_sink.health_status == "unknown"


# Tokens never revealed as credentials, so the URL pattern alone masks them.
UNSEEN_TOKEN = "Zq9unseenWebhookToken-x1"


@pytest.mark.parametrize(
    "url",
    [
        f"https://discord.com/api/webhooks/112233/{UNSEEN_TOKEN}",
        f"https://discordapp.com/api/webhooks/112233/{UNSEEN_TOKEN}",
        f"https://hooks.slack.com/services/T01/B02/{UNSEEN_TOKEN}",
    ],
)
def test_webhook_urls_are_redacted_from_text(url):
    text = redact_text(f"POST {url}?wait=true failed")

    assert UNSEEN_TOKEN not in text
    assert "***" in text
