"""The admin of exports: every upload, read-only, with a download link.

The link goes to a portal URL that answers with a redirect to a presigned
URL made at that moment, valid the integration's ``presign_expires``
seconds: the page never holds a signed URL that could go stale or leak
through the HTML.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from integrations.errors import IntegrationError
from integrations.registry import get_provider
from portal.exports.models import Export, ExportStatus


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    """List uploads; a succeeded one can be downloaded through a fresh link."""

    list_display = (
        "created_at",
        "integration",
        "kind",
        "format",
        "status",
        "rows",
        "size",
        "download",
    )
    list_filter = ("status", "kind", "format", "integration")
    search_fields = ("key",)
    readonly_fields = (
        "integration",
        "kind",
        "format",
        "key",
        "size",
        "rows",
        "status",
        "error_code",
        "error",
        "created_at",
        "finished_at",
        "download",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: exports are made by the Export now action and the schedule."""
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Export | None = None
    ) -> bool:
        """Refuse: an export is a record of what happened."""
        return False

    @admin.display(description="Download")
    def download(self, export: Export) -> str:
        """Link to a fresh presigned URL of a succeeded upload."""
        if export.status != ExportStatus.SUCCEEDED or not export.pk:
            return "–"
        url = reverse("admin:exports_export_download", args=[export.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self) -> list:
        """Add the download view."""
        download = path(
            "<int:export_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name="exports_export_download",
        )
        return [download, *super().get_urls()]

    def download_view(self, request: HttpRequest, export_id: int) -> HttpResponse:
        """Redirect to a presigned GET URL made now, or back with the error."""
        export = (
            Export.objects.filter(pk=export_id).select_related("integration").first()
        )
        if export is None or not self.has_view_permission(request, export):
            return redirect("admin:exports_export_changelist")
        if export.status != ExportStatus.SUCCEEDED:
            self.message_user(request, "Only a succeeded export can be downloaded.")
            return redirect("admin:exports_export_change", export.pk)

        try:
            client = get_provider("s3").s3_client(export.integration)
            url = client.presigned_get(export.key)
        except IntegrationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return redirect("admin:exports_export_change", export.pk)
        return HttpResponseRedirect(url)
