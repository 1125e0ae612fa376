"""The admin of API tokens: see who has which, revoke; secrets never shown."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from portal.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """List and revoke API tokens; they are created through the API only."""

    list_display = (
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
    )
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username", "user__email")
    # The salt and hash stay out of every page: useless to a person, and
    # one less thing to copy.
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse adding here: only the API can show a new token once."""
        return False
