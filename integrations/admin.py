"""The admin of integrations: setup, credentials, health, sync history and actions.

Credentials are edited only inline on their integration, through a form whose
secret field is write-only: the page shows a masked hint, never the
plaintext or the ciphertext.

The actions only queue work for the Celery workers: a health check or a
connection test can outlast a web worker's timeout (several calls, each
with a retry budget of up to minutes), so the page says what was queued and
the integration's page shows the results once a worker stored them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from kombu import exceptions as kombu_errors

from integrations import errors, health, tasks
from integrations.forms import CredentialForm, CredentialInlineFormSet, IntegrationForm
from integrations.http.metrics import snapshot
from integrations.models import (
    Credential,
    HealthCheckResult,
    HealthStatus,
    Integration,
    SyncRun,
    SyncStatus,
    latest_runs,
)
from integrations.redaction import redact_text
from integrations.registry import UnknownProvider, all_providers, get_provider
from integrations.sync.runs import cancel_run, enqueue_sync
from portal.exports.actions import export_now

logger = logging.getLogger(__name__)

#: Seconds between reloads of the sync-run pages while a run is active.
AUTO_REFRESH_SECONDS = 5
#: How many health checks and sync runs the integration page lists.
HISTORY_LENGTH = 10

#: What sending a task raises when the broker cannot take it: kombu's
#: connection and channel errors, and socket errors a transport lets through.
BROKER_ERRORS = (
    kombu_errors.KombuError,
    kombu_errors.ConnectionError,
    kombu_errors.ChannelError,
    OSError,
)


# --- Shared helpers -------------------------------------------------------------


def provider_title(slug: str) -> str:
    """Return a provider's display title, or the slug marked as not installed."""
    try:
        return get_provider(slug).title or slug
    except UnknownProvider:
        return f"{slug} (not installed)"


def format_duration(delta: timedelta | None) -> str:
    """Format a duration for people: "850 ms", "12.4 s", "3 min 5 s", "2 h 4 min"."""
    if delta is None:
        return "—"
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def status_badge(status: str, label: str, *, title: str = "") -> SafeString:
    """Render a coloured status badge; the label keeps it readable without colour."""
    if title:
        return format_html(
            '<span class="portal-badge portal-badge--{}" title="{}">{}</span>',
            status,
            title,
            label,
        )
    return format_html(
        '<span class="portal-badge portal-badge--{}">{}</span>', status, label
    )


def time_ago(moment: datetime | None) -> SafeString:
    """Render a timestamp as "5 minutes ago" with the exact time on hover."""
    if moment is None:
        return format_html('<span class="portal-muted">{}</span>', "never")
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}" title="{}">{} ago</time>',
        moment.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        timesince(moment),
    )


def run_counts(run: SyncRun) -> str:
    """Summarise a run's counts in one line."""
    text = (
        f"{run.fetched} fetched, {run.created} created, {run.updated} updated, "
        f"{run.unchanged} unchanged, {run.deleted} deleted"
    )
    if run.failed:
        text += f", {run.failed} failed"
    return text


def _redact(text: str) -> str:
    return redact_text(text) if text else ""


def _error_text(error: BaseException) -> str:
    # The message alone: it already names the integration and what to fix,
    # where str() would repeat the name and add the request's details.
    if isinstance(error, errors.IntegrationError):
        return _redact(error.message)
    if isinstance(error, UnknownProvider):
        return _redact(str(error))
    return (
        f"an internal error ({type(error).__name__}) stopped it; the server log has "
        "the details"
    )


def _runs_url(**params: str) -> str:
    url = reverse("admin:integrations_syncrun_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _health_checks_url(integration: Integration) -> str:
    url = reverse("admin:integrations_healthcheckresult_changelist")
    return f"{url}?{urlencode({'integration__id__exact': integration.pk})}"


def _send_on_commit(task: Any, *args: Any, **kwargs: Any) -> list[BaseException]:
    """Send ``task`` once the current transaction commits; return broker errors.

    Outside a transaction (the admin's requests) the task is sent at once and
    the list holds the broker's error, if any, for the page to show. Inside
    one the send waits for the commit, after the caller has looked; the error
    is logged either way and never raised, so a commit cannot fail over it.
    """
    failures: list[BaseException] = []

    def send() -> None:
        try:
            task.delay(*args, **kwargs)
        except BROKER_ERRORS as error:
            logger.error(
                "integrations.admin.enqueue_failed",
                extra={
                    "task": task.name,
                    "error_type": type(error).__name__,
                    "error": _redact(str(error)),
                },
            )
            failures.append(error)

    transaction.on_commit(send)
    return failures


# --- Integration ------------------------------------------------------------------


class CredentialInline(admin.StackedInline):
    """Credentials of an integration; the secret is write-only."""

    model = Credential
    form = CredentialForm
    formset = CredentialInlineFormSet
    extra = 0
    readonly_fields = ("masked_value", "last_used_at")
    fields = (
        ("key", "kind"),
        "masked_value",
        "secret",
        "new_refresh_token",
        "expires_at",
        "last_used_at",
    )
    verbose_name_plural = "credentials (stored encrypted; only a masked hint is shown)"

    @admin.display(description="stored value")
    def masked_value(self, credential: Credential) -> str:
        """Show the masked hint of the stored secret."""
        if credential.pk is None:
            return "(not set)"
        return credential.masked()


class ProviderListFilter(admin.SimpleListFilter):
    """Filter integrations by provider, listed by title."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        registered = {
            provider.slug: provider.title or provider.slug
            for provider in all_providers()
        }
        in_use = set(Integration.objects.values_list("provider", flat=True).distinct())
        for slug in in_use - set(registered):
            registered[slug] = f"{slug} (not installed)"
        return sorted(registered.items(), key=lambda item: item[1].lower())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(provider=self.value())
        return queryset


class IntegrationChangeList(ChangeList):
    """Change list that loads the last run of every listed integration at once."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        runs = latest_runs(self.result_list)
        for integration in self.result_list:
            integration.latest_run = runs.get(integration.pk)


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Set up integrations, see their health and history, sync and test them."""

    form = IntegrationForm
    inlines = [CredentialInline]
    list_display = (
        "name",
        "provider_display",
        "enabled",
        "health_display",
        "last_sync_display",
        "schedule_display",
    )
    list_filter = (ProviderListFilter, "enabled", "health_status")
    search_fields = ("name",)
    actions = ("sync_now", "check_health", "test_connection", export_now)
    readonly_fields = ("health_panel",)
    change_form_template = "admin/integrations/integration/change_form.html"

    identity_fieldsets = (("Identity", {"fields": ("name", "provider", "enabled")}),)
    config_fieldsets = (
        (
            "Connection",
            {
                "fields": ("base_url", "settings"),
                "description": "Where the service is and the provider's own settings.",
            },
        ),
        (
            "Schedule",
            {
                "fields": ("schedule",),
                "description": "A cron expression; empty: sync only on demand.",
            },
        ),
        (
            "HTTP overrides",
            {
                "fields": (
                    ("connect_timeout", "read_timeout"),
                    "retry_budget",
                    ("rate_limit_requests", "rate_limit_window"),
                ),
                "classes": ("collapse",),
                "description": (
                    "Empty fields use the environment's defaults and the "
                    "provider's rate limit."
                ),
            },
        ),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Integration | None = None):
        """Group the fields; the current health leads on an existing integration."""
        if obj is None:
            return self.identity_fieldsets + self.config_fieldsets
        health = (("Health", {"fields": ("health_panel",)}),)
        return self.identity_fieldsets + health + self.config_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Integration | None = None):
        """Show the health panel only on existing integrations."""
        return self.readonly_fields if obj is not None else ()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        """Use the change list that loads last runs in one query."""
        return IntegrationChangeList

    # Columns ----------------------------------------------------------------------

    @admin.display(description="provider", ordering="provider")
    def provider_display(self, integration: Integration) -> str:
        """Show the provider's title."""
        return provider_title(integration.provider)

    @admin.display(description="health", ordering="health_status")
    def health_display(self, integration: Integration) -> SafeString:
        """Show a health badge with the last check time; the error on hover."""
        badge = status_badge(
            integration.health_status,
            integration.get_health_status_display(),
            title=_redact(integration.health_error),
        )
        if integration.health_checked_at is None:
            return format_html('{}<div class="portal-small">never checked</div>', badge)
        return format_html(
            '{}<div class="portal-small">checked {}</div>',
            badge,
            time_ago(integration.health_checked_at),
        )

    @admin.display(description="last sync")
    def last_sync_display(self, integration: Integration) -> SafeString:
        """Show the newest run: when, its status and its counts."""
        # The change list attaches latest_run to every row in one query.
        if hasattr(integration, "latest_run"):
            run = integration.latest_run
        else:
            run = integration.last_run()
        if run is None:
            return format_html('<span class="portal-muted">{}</span>', "never")
        moment = run.finished_at or run.started_at or run.created_at
        return format_html(
            '{} <span class="portal-muted">{}</span> {}'
            '<div class="portal-small">{}</div>',
            status_badge(
                run.status, run.get_status_display(), title=_redact(run.error_summary)
            ),
            run.stream,
            time_ago(moment),
            run_counts(run),
        )

    @admin.display(description="schedule", ordering="schedule")
    def schedule_display(self, integration: Integration) -> SafeString:
        """Show the cron schedule, or that the integration syncs on demand only."""
        if integration.schedule:
            return format_html("<code>{}</code>", integration.schedule)
        return format_html('<span class="portal-muted">{}</span>', "on demand")

    @admin.display(description="current health")
    def health_panel(self, integration: Integration) -> SafeString:
        """Show the current health, when it was checked and the error, if any."""
        badge = status_badge(
            integration.health_status, integration.get_health_status_display()
        )
        error = ""
        if integration.health_error:
            error = format_html(
                '<div class="portal-error">{}</div>', _redact(integration.health_error)
            )
        if integration.health_checked_at is None:
            checked = "not checked yet"
        else:
            checked = format_html("checked {}", time_ago(integration.health_checked_at))
        return format_html("{} {}{}", badge, checked, error)

    # Change page --------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Add the health history, run history and HTTP metrics panels."""
        extra_context = dict(extra_context or {})
        integration = self.get_object(request, unquote(object_id))
        if integration is not None:
            extra_context.update(self._status_panels(request, integration))
        return super().change_view(request, object_id, form_url, extra_context)

    def _status_panels(
        self, request: HttpRequest, integration: Integration
    ) -> dict[str, Any]:
        health_checks = list(
            HealthCheckResult.objects.filter(integration=integration).order_by(
                "-checked_at", "-id"
            )[:HISTORY_LENGTH]
        )
        runs = list(
            SyncRun.objects.filter(integration=integration).order_by(
                "-created_at", "-id"
            )[:HISTORY_LENGTH]
        )
        for check in health_checks:
            check.safe_error = _redact(check.error)
        last_test = (
            HealthCheckResult.objects.filter(
                integration=integration, details__has_key="preview"
            )
            .select_related("integration")
            .order_by("-checked_at", "-id")
            .first()
        )
        for run in runs:
            run.duration_text = format_duration(run.duration)
            run.safe_error = _redact(run.error_summary)

        return {
            "health_checks": health_checks,
            "last_test": last_test and connection_test_panel(last_test),
            "sync_runs": runs,
            "runs_url": _runs_url(integration__id__exact=str(integration.pk)),
            "health_checks_url": _health_checks_url(integration),
            "http_metrics": http_metrics_rows(integration),
            "can_run_actions": self.has_change_permission(request, integration),
        }

    def get_urls(self) -> list:
        """Add POST-only URLs for the buttons of the change page."""
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        custom = [
            path(
                "<path:object_id>/sync/",
                wrap(self.sync_view),
                name=f"{prefix}_sync",
            ),
            path(
                "<path:object_id>/check-health/",
                wrap(self.check_health_view),
                name=f"{prefix}_check_health",
            ),
            path(
                "<path:object_id>/test-connection/",
                wrap(self.test_connection_view),
                name=f"{prefix}_test_connection",
            ),
        ]
        return custom + super().get_urls()

    def sync_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Queue a sync of one integration (the change page's button)."""
        return self._object_action(request, object_id, self._sync_integrations)

    def check_health_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Queue a health check of one integration (the change page's button)."""
        return self._object_action(request, object_id, self._check_integrations)

    def test_connection_view(
        self, request: HttpRequest, object_id: str
    ) -> HttpResponse:
        """Queue a connection test of one integration (the change page's button)."""
        return self._object_action(request, object_id, self._test_integrations)

    def _object_action(
        self,
        request: HttpRequest,
        object_id: str,
        run_action: Callable[[HttpRequest, list[Integration]], None],
    ) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        integration = self.get_object(request, unquote(object_id))
        if integration is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, integration):
            raise PermissionDenied

        run_action(request, [integration])
        return redirect("admin:integrations_integration_change", integration.pk)

    # Actions -----------------------------------------------------------------

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Queue a sync of every stream of the selected integrations."""
        self._sync_integrations(request, list(queryset))

    @admin.action(description="Check health", permissions=["change"])
    def check_health(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Queue a health check of each selected integration."""
        self._check_integrations(request, list(queryset))

    @admin.action(description="Test connection (dry-run sync)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Queue a connection test (health plus a sync preview) of each selected one."""
        self._test_integrations(request, list(queryset))

    def _sync_integrations(
        self, request: HttpRequest, integrations: list[Integration]
    ) -> None:
        for integration in integrations:
            if not integration.enabled:
                self.message_user(
                    request,
                    f"'{integration.name}' is disabled, so it was not synced; tick "
                    "“Enabled” on its page first.",
                    messages.WARNING,
                )
                continue
            try:
                runs = enqueue_sync(integration, trigger="admin")
            except Exception as error:
                self._report_failure(request, integration, "sync", error)
                continue
            if not runs:
                self.message_user(
                    request,
                    f"'{integration.name}' has no streams to sync.",
                    messages.WARNING,
                )
                continue
            streams = ", ".join(run.stream for run in runs)
            ids = ",".join(str(run.pk) for run in runs)
            self.message_user(
                request,
                format_html(
                    "'{}': {} sync run{} queued or already running ({}). "
                    '<a href="{}">Follow the runs</a>.',
                    integration.name,
                    len(runs),
                    "" if len(runs) == 1 else "s",
                    streams,
                    _runs_url(id__in=ids),
                ),
                messages.SUCCESS,
            )

    def _check_integrations(
        self, request: HttpRequest, integrations: list[Integration]
    ) -> None:
        for integration in integrations:
            self._queue(request, integration, "Health check", tasks.check_health)

    def _test_integrations(
        self, request: HttpRequest, integrations: list[Integration]
    ) -> None:
        for integration in integrations:
            self._queue(
                request, integration, "Connection test", tasks.test_connection, pages=1
            )

    def _queue(
        self,
        request: HttpRequest,
        integration: Integration,
        action: str,
        task: Any,
        **options: Any,
    ) -> None:
        failures = _send_on_commit(task, integration.pk, **options)

        if failures:
            error = failures[0]
            detail = _redact(str(error)) or type(error).__name__
            self.message_user(
                request,
                f"The {action.lower()} of '{integration.name}' could not be queued: "
                f"the task broker did not accept it ({detail}). Check that the "
                "broker named by CELERY_BROKER_URL is running, then try again.",
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            format_html(
                "{} queued for '{}'; the result appears under Health checks on "
                '<a href="{}">its page</a>.',
                action,
                integration.name,
                reverse("admin:integrations_integration_change", args=[integration.pk]),
            ),
            messages.SUCCESS,
        )

    def _report_failure(
        self,
        request: HttpRequest,
        integration: Integration,
        action: str,
        error: BaseException,
    ) -> None:
        if not isinstance(error, errors.IntegrationError | UnknownProvider):
            logger.error(
                "integrations.admin.action_failed",
                extra={"integration": integration.name, "action": action},
                exc_info=error,
            )
        self.message_user(
            request,
            f"The {action} of '{integration.name}' failed: {_error_text(error)}",
            messages.ERROR,
        )


def connection_test_panel(result: HealthCheckResult) -> dict[str, Any]:
    """Return what the page shows of a stored connection test: health and streams."""
    previews = health.stored_previews(result) or []
    rows = []
    for preview in previews:
        if preview.would_delete is None:
            deletions = "unknown until a full pass"
        elif preview.note:
            deletions = f"{preview.would_delete} ({preview.note})"
        else:
            deletions = str(preview.would_delete)
        rows.append(
            {
                "stream": preview.stream,
                "fetched": preview.fetched,
                "would_create": preview.would_create,
                "would_update": preview.would_update,
                "unchanged": preview.unchanged,
                "would_delete": deletions,
                "failed": preview.failed,
                "error": _redact(preview.error),
            }
        )
    report = health.ConnectionTestReport(
        integration=result.integration.name, health=result, streams=previews
    )
    return {
        "result": result,
        "healthy": result.status == HealthStatus.HEALTHY,
        "ok": report.ok,
        "error": _redact(result.error),
        "streams": rows,
    }


def http_metrics_rows(integration: Integration) -> dict[str, Any]:
    """Return the integration's HTTP metrics as label/value rows for a panel."""
    data = snapshot(integration.name)
    if not data.get("count"):
        return {"rows": []}

    rows = [
        ("Calls", str(data["count"])),
        ("Succeeded", str(data.get("successes", 0))),
        ("Failed", str(data.get("failures", 0))),
        ("Halted", str(data.get("halted", 0))),
        ("Retries", str(data.get("retries", 0))),
        ("Latency p50", _milliseconds(data.get("latency_p50_ms"))),
        ("Latency p95", _milliseconds(data.get("latency_p95_ms"))),
        ("Latency average", _milliseconds(data.get("latency_avg_ms"))),
        ("Cache hits", str(data.get("cache_hits", 0))),
        ("Cache misses", str(data.get("cache_misses", 0))),
        ("Cache revalidated", str(data.get("cache_revalidated", 0))),
    ]
    for status_class, count in (data.get("status") or {}).items():
        if count:
            label = "No response" if status_class == "error" else f"HTTP {status_class}"
            rows.append((label, str(count)))
    last_call = data.get("last_call_at")
    if last_call is not None:
        rows.append(("Last call", f"{timesince(last_call)} ago"))
    return {"rows": rows}


def _milliseconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


# --- Sync runs ----------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin for rows the portal writes itself: view, and delete for superusers."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse adding: only the portal creates these rows."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse changing: only the portal writes these rows."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Let superusers delete history; nobody else."""
        return request.user.is_active and request.user.is_superuser


def _active_runs_exist() -> bool:
    now = timezone.now()
    return SyncRun.objects.filter(
        Q(status=SyncStatus.RUNNING)
        | (
            Q(status=SyncStatus.QUEUED)
            & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        )
    ).exists()


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    """Sync history; the list reloads itself while runs are active."""

    list_display = (
        "id",
        "integration",
        "stream",
        "status_display",
        "trigger",
        "started_at",
        "duration_display",
        "fetched",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "failed",
        "error_display",
    )
    list_display_links = ("id",)
    list_filter = ("status", "integration", "stream", "trigger")
    list_select_related = ("integration",)
    search_fields = ("integration__name", "stream", "error_code")
    date_hierarchy = "created_at"
    actions = ("cancel_runs",)
    change_list_template = "admin/integrations/syncrun/change_list.html"
    change_form_template = "admin/integrations/syncrun/change_form.html"
    fieldsets = (
        (
            "Run",
            {
                "fields": (
                    "integration",
                    "stream",
                    "status_display",
                    "trigger",
                    "full",
                    "pass_number",
                    "resumed_from",
                    "attempts",
                )
            },
        ),
        (
            "Counts",
            {
                "fields": (
                    "pages",
                    ("fetched", "created", "updated"),
                    ("unchanged", "deleted", "failed"),
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "started_at",
                    "finished_at",
                    "duration_display",
                    "next_attempt_at",
                )
            },
        ),
        ("Error", {"fields": ("error_code", "error_display_full", "failures")}),
        (
            "Internals",
            {
                "fields": ("cursor", "offered_at", "lease_owner", "lease_expires_at"),
                "classes": ("collapse",),
            },
        ),
    )
    readonly_fields = ("status_display", "duration_display", "error_display_full")

    @admin.display(description="status", ordering="status")
    def status_display(self, run: SyncRun) -> SafeString:
        """Show the run's status as a badge."""
        return status_badge(run.status, run.get_status_display())

    @admin.display(description="duration")
    def duration_display(self, run: SyncRun) -> str:
        """Show how long the run took, or has taken so far."""
        return format_duration(run.duration)

    @admin.display(description="error")
    def error_display(self, run: SyncRun) -> SafeString | str:
        """Show the start of the error summary; all of it on hover."""
        if not run.error_summary:
            return ""
        text = _redact(run.error_summary)
        short = text if len(text) <= 80 else text[:79] + "…"
        return format_html('<span title="{}">{}</span>', text, short)

    @admin.display(description="error summary")
    def error_display_full(self, run: SyncRun) -> str:
        """Show the whole error summary, redacted."""
        return _redact(run.error_summary) if run.error_summary else "—"

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """Let whoever may change integrations cancel their runs."""
        return request.user.has_perm("integrations.change_integration")

    @admin.action(description="Cancel selected runs", permissions=["cancel"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Cancel queued or running runs; a running one stops after its page."""
        cancelled = sum(1 for run in queryset if cancel_run(run))
        skipped = queryset.count() - cancelled
        if cancelled:
            self.message_user(
                request,
                f"Cancelled {cancelled} run{'' if cancelled == 1 else 's'}.",
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                f"{skipped} run{' was' if skipped == 1 else 's were'} already finished "
                "and stay as they are.",
                messages.WARNING,
            )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Reload the list every few seconds while any run is active."""
        extra_context = dict(extra_context or {})
        if _active_runs_exist():
            extra_context["auto_refresh_seconds"] = AUTO_REFRESH_SECONDS
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Reload a run's page every few seconds while it is active."""
        extra_context = dict(extra_context or {})
        run = self.get_object(request, unquote(object_id))
        if run is not None and run.status in SyncRun.ACTIVE_STATUSES:
            extra_context["auto_refresh_seconds"] = AUTO_REFRESH_SECONDS
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(HealthCheckResult)
class HealthCheckResultAdmin(ReadOnlyAdmin):
    """History of health checks."""

    list_display = (
        "checked_at",
        "integration",
        "status_display",
        "latency_ms",
        "error_display",
    )
    list_filter = ("status", "integration")
    list_select_related = ("integration",)
    search_fields = ("integration__name",)
    date_hierarchy = "checked_at"
    fields = (
        "integration",
        "status_display",
        "checked_at",
        "latency_ms",
        "error_display",
        "details",
    )
    readonly_fields = ("status_display", "error_display")

    @admin.display(description="status", ordering="status")
    def status_display(self, result: HealthCheckResult) -> SafeString:
        """Show the status as a badge."""
        return status_badge(result.status, result.get_status_display())

    @admin.display(description="error")
    def error_display(self, result: HealthCheckResult) -> str:
        """Show the error, redacted."""
        return _redact(result.error) if result.error else ""
