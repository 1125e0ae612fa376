"""The pipeline's Celery tasks end to end, and the routing rule admin form."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from integrations.models import Integration
from portal.events.models import DeliveryStatus, RoutingRule
from portal.events.tasks import deliver_to_sink, sweep_deliveries
from tests.events.sinks import emit_many, make_rule, pump, statuses

pytestmark = pytest.mark.django_db


def test_sweeper_task_dispatches_and_sends_each_sink_with_work(
    eager_celery, discord_sink, discord_fake, slack_sink, slack_fake
):
    make_rule(discord_sink, "progress.*")
    make_rule(slack_sink, "progress.*")
    emit_many(3)

    assert sweep_deliveries() == 2

    assert len(discord_fake.delivered_keys()) == 3
    assert len(slack_fake.delivered_keys()) == 3
    assert statuses(slack_sink) == {DeliveryStatus.DELIVERED: 3}


def test_delivery_task_for_a_deleted_sink_does_nothing(db):
    assert deliver_to_sink.run(987654) == 0


def test_admin_form_names_the_template_error(admin_client, discord_sink):
    response = admin_client.post(
        "/admin/events/routingrule/add/",
        {
            "name": "broken",
            "sink": discord_sink.pk,
            "event_kinds": "sync.failed",
            "template": "{% for x in %}",
            "enabled": "on",
        },
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.errors) == ["template"]
    assert "does not compile" in form.errors["template"][0]
    assert not RoutingRule.objects.exists()


def test_sinks_from_the_integrations_file_deliver(
    tmp_path, monkeypatch, discord_fake, slack_fake
):
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", discord_fake.webhook_url)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_fake.webhook_url)
    path = tmp_path / "integrations.yaml"
    path.write_text(
        "integrations:\n"
        "  - name: team-discord\n"
        "    provider: discord\n"
        "    credentials:\n"
        "      webhook_url: ${DISCORD_WEBHOOK_URL}\n"
        "  - name: team-slack\n"
        "    provider: slack_webhook\n"
        "    credentials:\n"
        "      webhook_url: ${SLACK_WEBHOOK_URL}\n"
    )

    call_command("integrations", "apply", str(path), stdout=StringIO())
    for name in ("team-discord", "team-slack"):
        sink = Integration.objects.get(name=name)
        sink.rate_limit_requests, sink.rate_limit_window = 1000, 1
        sink.save()
        make_rule(sink, "*")
    emit_many(2)
    for sink in Integration.objects.all():
        pump(sink)

    assert len(discord_fake.delivered_keys()) == 2
    assert len(slack_fake.delivered_keys()) == 2
