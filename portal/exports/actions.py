"""The admin action "Export now" of S3 integrations.

It only queues ``exports.export_integration`` on commit, as the other
integration actions queue their work: an upload can outlast a web
worker's timeout. The Exports page shows the result once a worker stored it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest


@admin.action(description="Export now (S3)", permissions=["change"])
def export_now(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> None:
    """Queue an upload of the reports of each selected, enabled S3 integration."""
    from portal.exports.tasks import export_integration

    chosen = list(queryset)
    others = [i.name for i in chosen if i.provider != "s3" or not i.enabled]
    queued = [i for i in chosen if i.provider == "s3" and i.enabled]

    for integration in queued:
        transaction.on_commit(
            lambda pk=integration.pk: export_integration.delay(integration_id=pk)
        )
    if queued:
        names = ", ".join(i.name for i in queued)
        modeladmin.message_user(
            request,
            f"Queued exports of {names}; the Exports page lists them once uploaded.",
            messages.SUCCESS,
        )
    if others:
        modeladmin.message_user(
            request,
            f"Not exported (not an enabled S3 integration): {', '.join(others)}.",
            messages.WARNING,
        )
