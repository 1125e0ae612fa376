"""Admin pages of the event log and the write-back queue."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.events.models import Event, WriteBack, WriteBackStatus
from portal.events.writeback import replay


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The event log: read-only."""

    list_display = ("occurred_at", "kind", "subject")
    list_filter = ("kind",)
    search_fields = ("subject",)
    date_hierarchy = "occurred_at"
    readonly_fields = ("kind", "subject", "payload", "occurred_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WriteBack)
class WriteBackAdmin(admin.ModelAdmin):
    """Pushes of progress to LMSs; dead ones can be replayed."""

    list_display = (
        "id",
        "integration",
        "progress",
        "status",
        "attempts",
        "next_attempt_at",
        "error_code",
        "updated_at",
    )
    list_filter = ("status", "integration")
    list_select_related = ("integration", "progress__course", "progress__learner")
    readonly_fields = [field.name for field in WriteBack._meta.fields]
    actions = ["replay_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay selected write-backs", permissions=["change"])
    def replay_selected(
        self, request: HttpRequest, queryset: QuerySet[WriteBack]
    ) -> None:
        """Queue dead or failed write-backs again."""
        pending = queryset.filter(
            status__in=(WriteBackStatus.DEAD, WriteBackStatus.FAILED)
        )
        replayed = sum(1 for write_back in pending if replay(write_back))
        self.message_user(
            request, f"{replayed} write-back(s) queued again.", messages.SUCCESS
        )
