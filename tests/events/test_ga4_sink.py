"""The GA4 sink through the real pipeline, against the loopback fake."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.providers.analytics import pseudonymous_id
from integrations.providers.base import SinkMessage
from integrations.providers.ga4.client import ga4_name, plan_requests
from portal.events.delivery import REJECTED
from portal.events.models import Delivery, DeliveryStatus, SinkState
from tests import leakcheck
from tests.events.analytics import apply_sink, emit_progress, test_command
from tests.events.sinks import make_rule, pump, statuses
from tests.fakes import ga4
from tests.fakes.ga4 import Ga4Fake, validate

pytestmark = pytest.mark.django_db

leakcheck.secret(ga4.API_SECRET)

DOCUMENT = """\
integrations:
  - name: school-ga4
    provider: ga4
    credentials:
      api_secret: ${GA4_API_SECRET}
    settings:
      measurement_id: G-FAKE12345
      endpoint: %s
"""


@pytest.fixture
def ga4_fake(loopback_http):
    with Ga4Fake() as server:
        yield server


@pytest.fixture
def ga4_sink(db, tmp_path, monkeypatch, ga4_fake):
    return apply_sink(
        tmp_path,
        monkeypatch,
        DOCUMENT % ga4_fake.url,
        {"GA4_API_SECRET": ga4.API_SECRET},
    )


def message(key: str, kind: str, payload: dict, age: timedelta = timedelta(0)):
    return SinkMessage(
        key=key,
        kind=kind,
        subject="s",
        text="",
        occurred_at=(timezone.now() - age).isoformat(),
        payload=payload,
    )


def test_progress_events_reach_ga4_valid_and_under_the_pseudonymous_id(
    ga4_sink, ga4_fake
):
    make_rule(ga4_sink, "progress.*")
    events = [emit_progress(learner, 40 + learner) for learner in (7, 7, 8)]

    delivered = pump(ga4_sink)

    assert delivered == 3
    assert ga4_fake.invalid() == []
    assert len(ga4_fake.collected) == 2  # one request per learner
    query = ga4_fake.collected[0][0]
    assert query["measurement_id"] == ["G-FAKE12345"]
    assert query["api_secret"] == [ga4.API_SECRET]
    sent = ga4_fake.events()
    assert {event["name"] for event in sent} == {"progress_updated"}
    assert [e["client_id"] for e in sent].count(pseudonymous_id("7")) == 2
    assert all("learner_id" not in event["params"] for event in sent)
    assert sent[0]["params"]["percent"] == "47"
    keys = {event["params"]["portal_event_key"] for event in sent}
    assert keys == {f"{event.pk}:{ga4_sink.pk}" for event in events}
    assert all("user_id" not in body for _, body, _ in ga4_fake.collected)
    assert statuses(ga4_sink) == {DeliveryStatus.DELIVERED: 3}


def test_the_client_id_is_stable_and_does_not_reveal_the_learner():
    assert pseudonymous_id(7) == pseudonymous_id("7")
    assert pseudonymous_id(7) != pseudonymous_id(8)
    assert "7" != pseudonymous_id(7) and len(pseudonymous_id(7)) == 32


def test_events_older_than_72_hours_are_dead_with_a_reason_and_the_rest_arrive(
    ga4_sink, ga4_fake
):
    make_rule(ga4_sink, "progress.*")
    old = emit_progress(7, 10, occurred_at=timezone.now() - timedelta(hours=73))
    emit_progress(7, 20)

    delivered = pump(ga4_sink)

    assert delivered == 1
    assert len(ga4_fake.events()) == 1
    dead = Delivery.objects.get(event=old)
    assert dead.status == DeliveryStatus.DEAD
    assert dead.error_code == REJECTED
    assert "72 hours" in dead.error
    assert statuses(ga4_sink) == {DeliveryStatus.DELIVERED: 1, DeliveryStatus.DEAD: 1}


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("progress.updated", "progress_updated"),
        ("session.start", "portal_session_start"),
        ("page.view", "portal_page_view"),
        ("9lives", "portal_9lives"),
        ("google.thing", "portal_google_thing"),
        ("a-b c", "a_b_c"),
        ("x" * 60, "x" * 40),
    ],
)
def test_event_kinds_map_to_valid_ga4_names(kind, name):
    assert ga4_name(kind) == name


def test_every_payload_obeys_the_debug_endpoints_rules():
    payload = {f"field.{n}": "v" * 500 for n in range(40)}
    payload.update({"_hidden": 1, "ga_x": True, "nested": {"a": 1}, "empty": None})
    messages = [
        message(f"{n}:1", "k" * 50 if n % 2 else "error", payload) for n in range(60)
    ]

    plan = plan_requests(messages, timezone.now())

    assert plan.rejected == {}
    assert sum(len(body["events"]) for body in plan.bodies) == 60
    for body in plan.bodies:
        assert validate(body) == []
        assert len(body["events"]) <= 25


def test_user_id_is_sent_only_when_switched_on():
    plan = plan_requests(
        [message("1:1", "x", {"learner_id": 3})], timezone.now(), send_user_id=True
    )

    assert plan.bodies[0]["user_id"] == pseudonymous_id("3")


def test_the_fake_flags_what_ga4_would_drop():
    body = {"events": [{"name": "_bad", "params": {"ga_x": "y" * 101}}] * 26}

    codes = {m["validationCode"] for m in validate(body)}

    assert codes == {"VALUE_REQUIRED", "EXCEEDED_MAX_ENTITIES", "NAME_INVALID"}


def test_a_bad_measurement_id_is_refused_by_apply(tmp_path, monkeypatch, ga4_fake):
    monkeypatch.setenv("GA4_API_SECRET", ga4.API_SECRET)
    path = tmp_path / "bad.yaml"
    path.write_text((DOCUMENT % ga4_fake.url).replace("G-FAKE12345", "UA-1234-5"))

    from tests.commands.conftest import run_integrations

    result = run_integrations("apply", str(path))

    assert result.code != 0
    assert "measurement_id" in result.output
    assert ga4.API_SECRET not in result.output


def test_integrations_test_reports_the_validation_server_healthy(ga4_sink, ga4_fake):
    result = test_command("school-ga4")

    assert result.code == 0, result.output
    assert "healthy" in result.output
    assert ga4.API_SECRET not in result.output
    assert ga4_fake.collected == []
    assert [r.path for r in ga4_fake.requests] == ["/debug/mp/collect"]


def test_health_is_unhealthy_when_the_validation_server_finds_faults(
    ga4_sink, ga4_fake
):
    fault = {"fieldPath": "client_id", "description": "bad", "validationCode": "X"}
    ga4_fake.reply(
        "POST", "/debug/mp/collect", ga4.Reply.json({"validationMessages": [fault]})
    )

    result = test_command("school-ga4")

    assert result.code != 0
    assert "bad" in result.output


def test_refused_events_do_not_stop_the_next_batches(ga4_sink, ga4_fake):
    make_rule(ga4_sink, "progress.*")
    for percent in range(3):
        emit_progress(7, percent, occurred_at=timezone.now() - timedelta(days=4))
    for percent in range(30):
        emit_progress(8, percent)

    delivered = pump(ga4_sink)

    assert delivered == 30
    assert len(ga4_fake.events()) == 30
    assert ga4_fake.invalid() == []
    assert statuses(ga4_sink) == {DeliveryStatus.DELIVERED: 30, DeliveryStatus.DEAD: 3}
    state = SinkState.objects.filter(sink=ga4_sink).first()
    assert state is None or not state.broken


def test_a_failed_request_mid_batch_retries_only_what_ga4_did_not_take(
    ga4_sink, ga4_fake
):
    make_rule(ga4_sink, "progress.*")
    emit_progress(7, 40)
    emit_progress(8, 50)
    ga4_fake.failing_calls[2] = 503  # the second learner's request

    assert pump(ga4_sink) == 1

    assert statuses(ga4_sink) == {"delivered": 1, "failed": 1}
    Delivery.objects.filter(status=DeliveryStatus.FAILED).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert pump(ga4_sink) == 1
    # GA4 does not deduplicate: each learner's event arrived exactly once.
    clients = [event["client_id"] for event in ga4_fake.events()]
    assert sorted(clients) == sorted([pseudonymous_id("7"), pseudonymous_id("8")])


def test_an_outage_keeps_the_refusal_of_events_too_old_for_ga4(ga4_sink, ga4_fake):
    make_rule(ga4_sink, "progress.*")
    old = emit_progress(7, 10, occurred_at=timezone.now() - timedelta(hours=73))
    fresh = emit_progress(7, 20)
    ga4_fake.failing_calls[1] = 503

    assert pump(ga4_sink) == 0

    assert Delivery.objects.get(event=old).error_code == REJECTED
    waiting = Delivery.objects.get(event=fresh)
    assert (waiting.status, waiting.error_code) == ("failed", "transient_error")
