"""Admin pages of the event log, routing rules, deliveries and sink states."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.events import delivery as deliveries
from portal.events.models import (
    Delivery,
    DeliveryStatus,
    Event,
    RoutingRule,
    SinkState,
)

#: The kinds the portal writes (docs/events.md), offered as filter choices.
EVENT_KINDS = (
    "progress.updated",
    "course.completed",
    "quiz.completed",
    "assignment.submitted",
    "achievement.earned",
    "progress.written_back",
    "sync.failed",
    "integration.health_changed",
)


class KindFilter(admin.SimpleListFilter):
    """Filter the log by kind from a fixed list.

    Django's own filter would list the kinds with a SELECT DISTINCT over the
    whole log at every page view; the log has no index on kind.
    """

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [(kind, kind) for kind in EVENT_KINDS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]):
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The event log: read-only."""

    list_display = ("occurred_at", "kind", "subject")
    list_filter = (KindFilter,)
    search_fields = ("subject",)
    readonly_fields = ("kind", "subject", "payload", "occurred_at", "dispatched_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Which event kinds go to which sink, and the message template."""

    list_display = ("name", "sink", "event_kinds", "enabled", "updated_at")
    list_filter = ("enabled", "sink")
    search_fields = ("name", "event_kinds")
    list_select_related = ("sink",)


class RouteFilter(admin.SimpleListFilter):
    """Tell routing-rule deliveries from LMS write-backs."""

    title = "route"
    parameter_name = "route"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("rule", "Routing rules"), ("write_back", "LMS write-backs")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]):
        if self.value() == "rule":
            return queryset.filter(rule__isnull=False)
        if self.value() == "write_back":
            return queryset.filter(rule__isnull=True).exclude(coalesce_key="")
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Events on their way to sinks; dead ones show their error and replay."""

    list_display = (
        "id",
        "event",
        "sink",
        "status",
        "attempts",
        "next_attempt_at",
        "error_code",
        "updated_at",
    )
    list_filter = ("status", RouteFilter, "sink", "error_code")
    search_fields = ("idempotency_key", "subject", "coalesce_key")
    list_select_related = ("event", "sink")
    readonly_fields = [field.name for field in Delivery._meta.fields]
    actions = ["replay_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay selected deliveries", permissions=["change"])
    def replay_selected(
        self, request: HttpRequest, queryset: QuerySet[Delivery]
    ) -> None:
        """Queue dead or failed deliveries again, one or many at once."""
        pending = queryset.filter(
            status__in=(DeliveryStatus.DEAD, DeliveryStatus.FAILED)
        ).select_related("rule", "event")
        replayed = sum(1 for delivery in pending if deliveries.replay(delivery))
        skipped = queryset.count() - replayed
        self.message_user(
            request,
            f"{replayed} delivery(ies) queued again; {skipped} skipped (not dead or "
            "failed, or the template still fails).",
            messages.SUCCESS if replayed else messages.WARNING,
        )


@admin.register(SinkState)
class SinkStateAdmin(admin.ModelAdmin):
    """Each sink's standing: broken flag with its reason, rate-limit pause."""

    list_display = ("sink", "broken", "consecutive_dead", "paused_until", "updated_at")
    list_filter = ("broken",)
    readonly_fields = [field.name for field in SinkState._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
