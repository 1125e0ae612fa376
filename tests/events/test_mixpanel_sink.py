"""The Mixpanel sink through the real pipeline, against the loopback fake."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Credential
from integrations.providers.analytics import pseudonymous_id
from integrations.providers.mixpanel.client import insert_id
from integrations.registry import get_provider
from portal.events.delivery import REJECTED
from portal.events.models import Delivery, DeliveryStatus, SinkState
from tests import leakcheck
from tests.events.analytics import apply_sink, emit_progress, test_command
from tests.events.sinks import make_rule, pump, statuses
from tests.fakes import mixpanel
from tests.fakes.mixpanel import MixpanelFake

pytestmark = pytest.mark.django_db

leakcheck.secret(mixpanel.PROJECT_TOKEN)
leakcheck.secret(mixpanel.API_SECRET)

DOCUMENT = """\
integrations:
  - name: school-mixpanel
    provider: mixpanel
    credentials:
      project_token: ${MIXPANEL_TOKEN}
%s    settings:
      api_host: %s
"""
SECRET_LINE = "      api_secret: ${MIXPANEL_SECRET}\n"
ENV = {"MIXPANEL_TOKEN": mixpanel.PROJECT_TOKEN, "MIXPANEL_SECRET": mixpanel.API_SECRET}


@pytest.fixture
def mixpanel_fake(loopback_http):
    with MixpanelFake() as server:
        yield server


@pytest.fixture
def mixpanel_sink(db, tmp_path, monkeypatch, mixpanel_fake):
    document = DOCUMENT % (SECRET_LINE, mixpanel_fake.url)
    sink = apply_sink(tmp_path, monkeypatch, document, ENV)
    make_rule(sink, "progress.*")
    return sink


@pytest.fixture
def token_only_sink(db, tmp_path, monkeypatch, mixpanel_fake):
    sink = apply_sink(tmp_path, monkeypatch, DOCUMENT % ("", mixpanel_fake.url), ENV)
    make_rule(sink, "progress.*")
    return sink


def days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def test_recent_events_are_tracked_with_insert_ids_and_profiles_set(
    mixpanel_sink, mixpanel_fake
):
    events = [emit_progress(7, 30), emit_progress(8, 60)]

    delivered = pump(mixpanel_sink)

    assert delivered == 2
    tracked = [item["properties"] for item in mixpanel_fake.tracked]
    assert [p["$insert_id"] for p in tracked] == [
        insert_id(f"{event.pk}:{mixpanel_sink.pk}") for event in events
    ]
    assert tracked[0]["distinct_id"] == pseudonymous_id("7")
    assert "learner_id" not in tracked[0]
    assert isinstance(tracked[0]["time"], int) and tracked[0]["time"] < 10**11
    assert [item["event"] for item in mixpanel_fake.tracked] == ["progress.updated"] * 2
    profile = mixpanel_fake.profiles[1]
    assert profile["$distinct_id"] == pseudonymous_id("8")
    assert profile["$set"]["last_progress_percent"] == "60"
    assert profile["$set"]["last_course_id"] == 3
    assert mixpanel_fake.imported == [] and mixpanel_fake.dropped == []
    assert statuses(mixpanel_sink) == {DeliveryStatus.DELIVERED: 2}


def test_a_batch_is_at_most_fifty_events(mixpanel_sink, mixpanel_fake):
    for number in range(60):
        emit_progress(number, 1)

    assert pump(mixpanel_sink) == 60

    tracks = [r for r in mixpanel_fake.requests if r.path == "/track"]
    assert len(tracks) == 2
    assert len(mixpanel_fake.tracked) == 60


def test_events_older_than_five_days_are_imported_in_milliseconds(
    mixpanel_sink, mixpanel_fake
):
    emit_progress(7, 10, occurred_at=days_ago(9))
    emit_progress(7, 20)

    assert pump(mixpanel_sink) == 2

    assert len(mixpanel_fake.tracked) == 1
    assert len(mixpanel_fake.imported) == 1
    assert mixpanel_fake.imported[0]["properties"]["time"] > 10**12
    request = next(r for r in mixpanel_fake.requests if r.path == "/import")
    assert request.arg("strict") == "1"
    assert mixpanel_fake.dropped == []


def test_without_an_api_secret_old_events_are_dead_with_a_reason(
    token_only_sink, mixpanel_fake
):
    old = emit_progress(7, 10, occurred_at=days_ago(6))
    emit_progress(7, 20)

    assert pump(token_only_sink) == 1

    dead = Delivery.objects.get(event=old)
    assert (dead.status, dead.error_code) == (DeliveryStatus.DEAD, REJECTED)
    assert "api_secret" in dead.error
    assert mixpanel_fake.dropped == []
    assert not any(r.path == "/import" for r in mixpanel_fake.requests)


def test_import_failed_records_are_dead_and_the_rest_delivered(
    mixpanel_sink, mixpanel_fake
):
    bad = emit_progress(7, 10, occurred_at=days_ago(8))
    emit_progress(8, 20, occurred_at=days_ago(8))
    mixpanel_fake.refuse_insert_ids.add(insert_id(f"{bad.pk}:{mixpanel_sink.pk}"))

    assert pump(mixpanel_sink) == 1

    assert len(mixpanel_fake.imported) == 1
    dead = Delivery.objects.get(event=bad)
    assert (dead.status, dead.error_code) == (DeliveryStatus.DEAD, REJECTED)
    assert "properties.time" in dead.error
    # The refused event's profile is not updated; the delivered one's is.
    assert [p["$distinct_id"] for p in mixpanel_fake.profiles] == [pseudonymous_id("8")]


def test_status_zero_makes_the_batch_dead(mixpanel_sink, mixpanel_fake):
    emit_progress(7, 10)
    mixpanel_fake.refuse("token, missing or empty")

    assert pump(mixpanel_sink) == 0

    dead = Delivery.objects.get()
    assert (dead.status, dead.error_code) == (DeliveryStatus.DEAD, "provider_error")
    assert "token, missing or empty" in dead.error
    assert mixpanel.PROJECT_TOKEN not in dead.error


def test_a_wrong_secret_is_an_authentication_error(mixpanel_sink, mixpanel_fake):
    emit_progress(7, 10, occurred_at=days_ago(7))
    credential = Credential.objects.get(integration=mixpanel_sink, key="api_secret")
    credential.set_secret("not-the-secret-value-xyz")
    credential.save()

    assert pump(mixpanel_sink) == 0

    dead = Delivery.objects.get()
    assert (dead.status, dead.error_code) == (
        DeliveryStatus.DEAD,
        "authentication_failed",
    )


def test_server_errors_are_retried_later(mixpanel_sink, mixpanel_fake):
    emit_progress(7, 10)
    mixpanel_fake.fail(1, 503)

    assert pump(mixpanel_sink) == 0

    failed = Delivery.objects.get()
    assert failed.status == DeliveryStatus.FAILED
    assert failed.next_attempt_at is not None


def test_429_pauses_the_sink_until_retry_after(mixpanel_sink, mixpanel_fake):
    emit_progress(7, 10)
    mixpanel_fake.rate_limit(3600)

    assert pump(mixpanel_sink) == 0

    failed = Delivery.objects.get()
    assert (failed.status, failed.error_code) == (DeliveryStatus.FAILED, "rate_limited")
    paused = SinkState.objects.get(sink=mixpanel_sink).paused_until
    assert paused > timezone.now() + timedelta(minutes=50)


def test_integrations_test_checks_track_and_import(mixpanel_sink, mixpanel_fake):
    result = test_command("school-mixpanel")

    assert result.code == 0, result.output
    assert "healthy" in result.output
    assert mixpanel.API_SECRET not in result.output
    assert mixpanel.PROJECT_TOKEN not in result.output
    assert [r.path for r in mixpanel_fake.requests] == ["/track", "/import"]
    assert mixpanel_fake.tracked == [] and mixpanel_fake.imported == []


def test_integrations_test_reports_a_refused_secret(mixpanel_sink, mixpanel_fake):
    mixpanel_fake.route(
        "POST", "/import", lambda request: mixpanel.Reply.json({"error": "x"}, 401)
    )

    result = test_command("school-mixpanel")

    assert result.code != 0
    assert "api_secret" in result.output


def test_batches_reuse_the_sinks_client(mixpanel_sink):
    provider = get_provider("mixpanel")

    assert provider.build_client(mixpanel_sink) is provider.build_client(mixpanel_sink)
