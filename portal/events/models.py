"""The outbox of domain events, routing rules and deliveries to sinks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class Event(models.Model):
    """Something that happened in the portal, recorded with the change itself.

    Written in the same transaction as the change it describes, so an event
    exists if and only if the change was committed (a transactional outbox).
    Sinks (analytics, chat, webhooks) deliver from here.
    """

    # The log's only secondary index is the dispatch queue's (Meta): each
    # index is one more page every event's commit writes, and nothing but
    # the admin reads the log by kind, subject or time (bench/events.py).
    kind = models.CharField(max_length=100)
    subject = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the dispatcher matched the event against the routing rules.",
    )

    class Meta:
        # Newest first by id, which follows the order of writing.
        ordering = ["-id"]
        indexes = [
            # The dispatcher's queue: only the events still to dispatch, so
            # the index stays small however long the log grows.
            models.Index(
                fields=["id"],
                name="events_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}".strip()


class RoutingRule(models.Model):
    """Which events go to which sink, and how their message reads."""

    name = models.CharField(max_length=100, unique=True)
    sink = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.CASCADE,
        related_name="routing_rules",
        help_text="An integration whose provider delivers events (Discord, Slack).",
    )
    event_kinds = models.CharField(
        max_length=500,
        help_text="Event kinds, comma-separated; 'sync.*' matches every sync event, "
        "'*' every event.",
    )
    integration_filter = models.SlugField(
        max_length=100,
        blank=True,
        help_text="Only events about this integration (the payload's 'integration').",
    )
    course_filter = models.CharField(
        max_length=255,
        blank=True,
        help_text="Only events about the course with this external id.",
    )
    template = models.TextField(
        default="{{ event.kind }}: {{ event.subject }}",
        help_text="A Django template rendered with the event's payload; "
        "'event.kind', 'event.subject', 'event.id' and 'event.occurred_at' too.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def kinds(self) -> list[str]:
        """Return the event kinds (patterns) the rule lists."""
        return [kind.strip() for kind in self.event_kinds.split(",") if kind.strip()]

    def clean(self) -> None:
        """Check kinds, sink and template; each error names its field."""
        from portal.events.routing import rule_problems

        problems = rule_problems(self)
        if problems:
            raise ValidationError(problems)


class DeliveryStatus(models.TextChoices):
    """Where a delivery of an event to a sink is in its life."""

    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed, will retry"
    DEAD = "dead", "Dead (gave up)"


class Delivery(models.Model):
    """One event on its way to one sink; the unique key stops duplicates."""

    idempotency_key = models.CharField(max_length=100, unique=True)
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries"
    )
    sink = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="deliveries"
    )
    rule = models.ForeignKey(
        RoutingRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    subject = models.CharField(max_length=255, blank=True, db_index=True)
    ordering_key = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="An ordered sink gets the deliveries of one key in event order: "
        "the event's learner ('learner:<id>'), else its subject.",
    )
    coalesce_key = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
        help_text="Deliveries of one key go out as one message, the newest: an LMS "
        "write-back ('progress:<id>') pushes the row's latest values once.",
    )
    message = models.TextField(blank=True)
    status = models.CharField(
        max_length=20,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    error_code = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["sink", "status", "event"])]

    def __str__(self) -> str:
        return f"event {self.event_id} to {self.sink_id} ({self.status})"


class SinkState(models.Model):
    """How a sink has been doing: consecutive dead deliveries, broken flag."""

    sink = models.OneToOneField(
        "integrations.Integration", on_delete=models.CASCADE, related_name="sink_state"
    )
    consecutive_dead = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(
        null=True, blank=True, help_text="The sink asked to wait (429) until then."
    )
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="The first failure since the last delivery."
    )
    broken = models.BooleanField(default=False)
    broken_reason = models.TextField(blank=True)
    broken_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"sink {self.sink_id}{' (broken)' if self.broken else ''}"
