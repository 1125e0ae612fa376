"""Routing rules: kinds and filters, template validation, the dispatcher."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from integrations.models import Integration
from portal.events.models import Delivery, Event, RoutingRule
from portal.events.outbox import emit
from portal.events.routing import dispatch_events, kind_matches, rule_matches
from portal.learning.models import Course

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink() -> Integration:
    return Integration.objects.create(name="chat", provider="discord")


def rule_for(sink: Integration, **fields) -> RoutingRule:
    return RoutingRule(name="r", sink=sink, **fields)


@pytest.mark.parametrize(
    ("pattern", "kind", "expected"),
    [
        ("sync.failed", "sync.failed", True),
        ("sync.failed", "sync.failed.again", False),
        ("sync.*", "sync.failed", True),
        ("sync.*", "syncing.failed", False),
        ("*", "progress.updated", True),
    ],
)
def test_kind_patterns(pattern, kind, expected):
    assert kind_matches(pattern, kind) is expected


def test_rule_filters_on_integration_and_course_external_id(sink):
    lms = Integration.objects.create(
        name="lms", provider="rest", base_url="https://x.org"
    )
    course = Course.objects.create(
        integration=lms, external_id="LOGIC-1", title="Logic"
    )
    rule = rule_for(
        sink,
        event_kinds="progress.*",
        integration_filter="lms",
        course_filter="LOGIC-1",
    )
    matching = Event(
        kind="progress.updated", payload={"integration": "lms", "course_id": course.pk}
    )
    other_course = Event(
        kind="progress.updated", payload={"integration": "lms", "course_id": 0}
    )
    other_lms = Event(kind="progress.updated", payload={"integration": "moodle"})
    by_external_id = Event(
        kind="progress.updated",
        payload={"integration": "lms", "course_external_id": "LOGIC-1"},
    )
    courses = {course.pk: "LOGIC-1"}

    assert rule_matches(rule, matching, courses)
    assert rule_matches(rule, by_external_id, courses)
    assert not rule_matches(rule, other_course, courses)
    assert not rule_matches(rule, other_lms, courses)


def test_template_syntax_error_is_a_field_error_naming_the_problem(sink):
    rule = rule_for(sink, event_kinds="sync.failed", template="{% if %}broken")

    with pytest.raises(ValidationError) as caught:
        rule.full_clean()

    errors = caught.value.message_dict
    assert list(errors) == ["template"]
    assert "does not compile" in errors["template"][0]
    assert "if" in errors["template"][0]


def test_unknown_filter_in_template_is_refused(sink):
    rule = rule_for(sink, event_kinds="sync.failed", template="{{ x|no_such_filter }}")

    with pytest.raises(ValidationError) as caught:
        rule.full_clean()

    assert "no_such_filter" in caught.value.message_dict["template"][0]


def test_bad_kinds_and_a_sink_that_cannot_receive_are_named(db):
    lms = Integration.objects.create(
        name="lms", provider="rest", base_url="https://x.org"
    )
    rule = RoutingRule(name="r", sink=lms, event_kinds="Sync Failed, sync.ok")

    with pytest.raises(ValidationError) as caught:
        rule.full_clean()

    errors = caught.value.message_dict
    assert "'Sync Failed'" in errors["event_kinds"][0]
    assert "cannot receive events" in errors["sink"][0]


def test_dispatcher_renders_the_template_and_is_idempotent(sink):
    RoutingRule.objects.create(
        name="failures",
        sink=sink,
        event_kinds="sync.failed",
        template="Sync of {{ integration }} failed: {{ error_code }} ({{ event.kind }})",
    )
    with transaction.atomic():
        event = emit(
            "sync.failed", payload={"integration": "lms", "error_code": "boom"}
        )
        emit("progress.updated", payload={"integration": "lms"})

    assert dispatch_events() == [sink.pk]
    # A dispatcher that crashed before marking the events tries again: the
    # unique key turns the repeat into nothing.
    Event.objects.update(dispatched_at=None)
    dispatch_events()

    delivery = Delivery.objects.get()
    assert delivery.event == event
    assert delivery.idempotency_key == f"{event.pk}:{sink.pk}"
    assert delivery.message == "Sync of lms failed: boom (sync.failed)"
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_two_rules_for_one_sink_make_one_delivery(sink):
    RoutingRule.objects.create(name="a", sink=sink, event_kinds="sync.*", template="A")
    RoutingRule.objects.create(name="b", sink=sink, event_kinds="*", template="B")
    with transaction.atomic():
        emit("sync.failed")

    dispatch_events()

    assert list(Delivery.objects.values_list("message", flat=True)) == ["A"]


def test_disabled_rule_routes_nothing(sink):
    RoutingRule.objects.create(name="off", sink=sink, event_kinds="*", enabled=False)
    with transaction.atomic():
        emit("sync.failed")

    assert dispatch_events() == []
    assert not Delivery.objects.exists()
