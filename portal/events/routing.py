"""Routing rules: which events go to which sink, and the dispatcher.

The dispatcher reads events not yet dispatched, oldest first, matches each
against the enabled rules and creates one Delivery per (event, sink) with
the key ``"<event id>:<sink id>"``; progress changes also get the built-in
route to their LMS (``portal/events/writeback.py``). It is at-least-once and idempotent: a
crash before the event is marked dispatched only makes the next pass try
again, and the unique key turns the repeat into nothing.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from django.db import connection, transaction
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.utils import timezone

from integrations.registry import UnknownProvider, get_provider
from portal.events.models import Delivery, DeliveryStatus, Event, RoutingRule
from portal.events.outbox import notify
from portal.events.writeback import WriteBackTargets, write_back_delivery

logger = logging.getLogger(__name__)

#: A kind pattern: dotted lower-case words, optionally ending in ``.*``.
KIND_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")
#: Events read per dispatcher pass.
DISPATCH_BATCH = 500
MAX_MESSAGE = 8000

# Chat messages are not HTML: no autoescaping (each sink escapes for its own
# markup), and no loaders, so a template cannot include files.
_ENGINE = Engine(autoescape=False, loaders=[], libraries={})


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> Template:
    """Return the compiled message template or raise TemplateSyntaxError.

    Compiled once per source: the dispatcher renders a rule's template for
    every event it routes. A compiled template keeps no state between
    renders, so sharing it is safe; a syntax error is not cached.
    """
    return _ENGINE.from_string(source)


def rule_problems(rule: RoutingRule) -> dict[str, list[str]]:
    """Return the rule's problems by field; empty when it is fine."""
    problems: dict[str, list[str]] = {}
    kinds = rule.kinds()
    if not kinds:
        problems["event_kinds"] = ["List at least one event kind, e.g. 'sync.failed'."]
    bad = [kind for kind in kinds if not KIND_PATTERN.match(kind)]
    if bad:
        problems["event_kinds"] = [
            f"{', '.join(repr(kind) for kind in bad)}: an event kind is dotted lower-case "
            "words such as 'sync.failed', or ends in '.*' such as 'sync.*'."
        ]
    if not rule.template.strip():
        problems["template"] = ["The template is empty: write the message to post."]
    else:
        try:
            compile_template(rule.template)
        except TemplateSyntaxError as error:
            problems["template"] = [f"The template does not compile: {error}"]
    if rule.sink_id is not None:
        problem = sink_problem(rule.sink.provider)
        if problem:
            problems["sink"] = [problem]
    return problems


def sink_problem(slug: str) -> str:
    """Return why a provider cannot be a rule's sink; empty when it can."""
    try:
        provider = get_provider(slug)
    except UnknownProvider as error:
        return str(error)
    if not provider.supports_sink:
        return f"{provider.title} integrations cannot receive events; choose a sink."
    return ""


def kind_matches(pattern: str, kind: str) -> bool:
    """Tell whether an event kind matches a rule's pattern (``x.*``, ``*``)."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return kind.startswith(pattern[:-1])
    return kind == pattern


def rule_matches(rule: RoutingRule, event: Event, course_ids: dict[int, str]) -> bool:
    """Tell whether ``event`` passes the rule's kinds and filters."""
    if not any(kind_matches(pattern, event.kind) for pattern in rule.kinds()):
        return False
    payload = event.payload if isinstance(event.payload, dict) else {}
    if (
        rule.integration_filter
        and payload.get("integration") != rule.integration_filter
    ):
        return False
    if rule.course_filter:
        course = payload.get("course_external_id")
        if course is None and isinstance(payload.get("course_id"), int):
            course = course_ids.get(payload["course_id"])
        if course != rule.course_filter:
            return False
    return True


def render_message(rule: RoutingRule, event: Event) -> str:
    """Render the rule's template with the event (raise on a broken template)."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    context = {
        **payload,
        "payload": payload,
        "event": {
            "id": event.pk,
            "kind": event.kind,
            "subject": event.subject,
            "occurred_at": event.occurred_at.isoformat(),
        },
    }
    text = compile_template(rule.template).render(Context(context, autoescape=False))
    return text.strip()[:MAX_MESSAGE]


def ordering_key(event: Event) -> str:
    """Return the key an ordered sink keeps in order: the learner, else subject.

    One learner's events (several courses, completions after progress) arrive
    in the order they happened; other learners' are not held back by them.
    """
    payload = event.payload if isinstance(event.payload, dict) else {}
    learner = payload.get("learner_id")
    if isinstance(learner, int) and not isinstance(learner, bool):
        return f"learner:{learner}"
    return event.subject


def delivery_key(event: Event, sink_id: int) -> str:
    """Return the idempotency key of an event's delivery to a sink."""
    return f"{event.pk}:{sink_id}"


#: The PostgreSQL advisory lock held by the one dispatcher pass at a time.
DISPATCH_LOCK = 5_318_008_120_261_204


def dispatch_events(limit: int = DISPATCH_BATCH) -> list[int]:
    """Turn undispatched events into deliveries; return the sinks given work."""
    return dispatch_pass(limit)[1]


def dispatch_pass(limit: int = DISPATCH_BATCH) -> tuple[int, list[int]]:
    """Dispatch up to ``limit`` of the oldest events; return (events, sinks).

    One transaction per pass: the events are read, routed, handed to the
    outbox's listeners and marked dispatched together, so a pass that dies
    leaves them all for the next one. Passes run one at a time (SQLite's
    write lock; an advisory lock on PostgreSQL, where a pass that finds it
    taken returns at once): two passes at once would route a learner's
    later event before an earlier one still in the other pass, and ordered
    sinks would get them out of order.
    """
    with transaction.atomic():
        if not _dispatcher_lock():
            return 0, []
        return _dispatch(limit)


def _dispatcher_lock() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DISPATCH_LOCK])
        return bool(cursor.fetchone()[0])


def _dispatch(limit: int) -> tuple[int, list[int]]:
    undispatched = Event.objects.filter(dispatched_at__isnull=True).order_by("id")
    events = list(undispatched[:limit])
    if not events:
        return 0, []
    rules = list(
        RoutingRule.objects.filter(enabled=True, sink__enabled=True).order_by("id")
    )
    course_ids = (
        _course_external_ids(events) if any(r.course_filter for r in rules) else {}
    )

    write_back_targets = WriteBackTargets()
    deliveries = []
    for event in events:
        routed = _deliveries_for(event, rules, course_ids)
        target = write_back_targets.target_for(event)
        if target is not None and all(d.sink_id != target.pk for d in routed):
            key = delivery_key(event, target.pk)
            routed.append(write_back_delivery(event, target, key))
        deliveries.extend(routed)
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    notify(events)
    Event.objects.filter(pk__in=[event.pk for event in events]).update(
        dispatched_at=timezone.now()
    )
    sinks = sorted({delivery.sink_id for delivery in deliveries})
    logger.info(
        "events.dispatch.completed",
        extra={
            "events": len(events),
            "deliveries": len(deliveries),
            "sinks": len(sinks),
        },
    )
    return len(events), sinks


def _deliveries_for(
    event: Event, rules: list[RoutingRule], course_ids: dict[int, str]
) -> list[Delivery]:
    # The first matching rule of a sink decides its message: one delivery
    # per (event, sink), however many of its rules match.
    chosen: dict[int, Delivery] = {}
    for rule in rules:
        if rule.sink_id in chosen or not rule_matches(rule, event, course_ids):
            continue
        delivery = Delivery(
            idempotency_key=delivery_key(event, rule.sink_id),
            event=event,
            sink_id=rule.sink_id,
            rule=rule,
            subject=event.subject,
            ordering_key=ordering_key(event),
        )
        try:
            delivery.message = render_message(rule, event)
        except Exception as error:
            # A template that compiles can still fail on a payload (a filter
            # given the wrong type): park the delivery where the admin sees it.
            delivery.status = DeliveryStatus.DEAD
            delivery.error_code = "template_error"
            delivery.error = (
                f"Rule '{rule.name}': the template failed on this event "
                f"({type(error).__name__}); fix the template and replay."
            )
            logger.warning(
                "events.dispatch.template_failed",
                extra={"event_id": event.pk, "rule": rule.name},
            )
        chosen[rule.sink_id] = delivery
    return list(chosen.values())


def _course_external_ids(events: list[Event]) -> dict[int, str]:
    from portal.learning.models import Course

    ids: set[Any] = {
        event.payload.get("course_id")
        for event in events
        if isinstance(event.payload, dict)
    }
    ids = {value for value in ids if isinstance(value, int)}
    return dict(Course.objects.filter(pk__in=ids).values_list("pk", "external_id"))
