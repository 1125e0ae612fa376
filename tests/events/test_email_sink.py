"""The email sink, through the real pipeline, into Django's mail outbox."""

from __future__ import annotations

import socket

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction

from integrations.health import check_health
from integrations.models import Integration, SyncRun
from portal.events import domain
from portal.events.models import DeliveryStatus
from tests.events.sinks import emit_many, make_rule, pump, statuses

pytestmark = pytest.mark.django_db

TEMPLATE = "{{ event.kind }} for {{ integration }}\nProvider: {{ provider }}"


def make_email_sink(recipients: list | None = None) -> Integration:
    sink = Integration(name="admins-mail", provider="email")
    sink.settings = {} if recipients is None else {"recipients": recipients}
    sink.full_clean()
    sink.save()
    return sink


def failure_events(lms: Integration) -> None:
    with transaction.atomic():
        run = SyncRun.objects.create(integration=lms, stream="courses")
        domain.sync_failed(run, lms, "authentication_failed", "Token expired")
    with transaction.atomic():
        domain.health_changed(lms, "healthy", "unhealthy", "Canvas refused the token")


@pytest.fixture
def lms(db) -> Integration:
    return Integration.objects.create(name="lms", provider="canvas")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_failures_arrive_as_one_email_per_batch(lms):
    sink = make_email_sink(["ops@example.edu", "dean@example.edu"])
    make_rule(sink, "sync.failed,integration.health_changed", template=TEMPLATE)
    failure_events(lms)

    assert pump(sink) == 2

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ops@example.edu", "dean@example.edu"]
    assert email.subject == "[portal] 2 events: sync.failed for lms"
    assert "sync.failed at " in email.body
    assert "Provider: canvas" in email.body
    assert "integration.health_changed for lms\nProvider: canvas" in email.body
    assert statuses(sink) == {DeliveryStatus.DELIVERED: 2}


def test_without_recipients_the_mail_goes_to_admins(lms, settings):
    settings.ADMINS = [("Ops", "ops@example.edu"), ("Ops again", "ops@example.edu")]
    sink = make_email_sink()
    make_rule(sink, "sync.failed", template=TEMPLATE)
    failure_events(lms)

    pump(sink)

    assert [email.to for email in mail.outbox] == [["ops@example.edu"]]
    assert mail.outbox[0].subject == "[portal] sync.failed for lms"


def test_no_one_to_mail_is_a_configuration_error(lms, settings):
    settings.ADMINS = []
    sink = make_email_sink()
    make_rule(sink, "sync.failed")
    failure_events(lms)

    pump(sink)

    delivery = sink.deliveries.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.error_code == "configuration_error"
    assert "set the recipients setting or the portal's ADMINS" in delivery.error


def test_other_kinds_are_refused_with_the_reason(lms):
    sink = make_email_sink(["ops@example.edu"])
    make_rule(sink, "*")
    emit_many(2)
    failure_events(lms)

    pump(sink)

    assert len(mail.outbox) == 1
    assert statuses(sink) == {DeliveryStatus.DELIVERED: 2, DeliveryStatus.DEAD: 2}
    dead = sink.deliveries.filter(status=DeliveryStatus.DEAD).first()
    assert "not progress.updated; narrow the routing rule" in dead.error


def test_bad_addresses_are_refused_naming_their_place():
    with pytest.raises(ValidationError) as caught:
        make_email_sink(["ops@example.edu", "not-an-address", "ops@example.edu"])

    text = str(caught.value)
    assert "recipients.1: 'not-an-address' is not an email address" in text
    assert "an address is listed twice" in text


def test_an_unreachable_mail_server_is_retried_and_unhealthy(lms, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    sink = make_email_sink(["ops@example.edu"])
    make_rule(sink, "sync.failed")
    failure_events(lms)

    pump(sink)

    delivery = sink.deliveries.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "transient_error"
    assert check_health(sink).status == "unhealthy"


def test_health_is_good_with_a_working_backend_and_sends_nothing():
    sink = make_email_sink(["ops@example.edu"])

    result = check_health(sink)

    assert result.status == "healthy"
    assert mail.outbox == []
