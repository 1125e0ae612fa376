"""The home page and the liveness and readiness probes."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from integrations.redaction import redact_text

logger = logging.getLogger(__name__)

API_DOCS_URL = "/api/v1/docs/"
#: Seconds the broker check may spend connecting, over all its attempts.
BROKER_CHECK_TIMEOUT = 2.0

# Credentials embedded in a URL ("scheme://user:password@host"), masked in
# probe errors because driver messages sometimes echo the URL they used.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^/@\s]+@")
_MAX_ERROR_LENGTH = 200


# --- Home page ----------------------------------------------------------------


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Render the home page for an anonymous visitor, a staff member or a learner."""
    user = request.user
    if not user.is_authenticated:
        return render(request, "home.html", {"role": "anonymous"})

    if user.is_staff:
        context = {"role": "staff", **_staff_context(request)}
    else:
        context = {"role": "learner", **_learner_context(request)}
    return render(request, "home.html", context)


def _staff_context(request: HttpRequest) -> dict[str, Any]:
    from integrations.admin import provider_title
    from integrations.models import HealthStatus, Integration, latest_runs

    context: dict[str, Any] = {
        "api_docs_url": API_DOCS_URL,
        "can_view_integrations": request.user.has_perm("integrations.view_integration"),
        "can_view_runs": request.user.has_perm("integrations.view_syncrun"),
    }
    if not context["can_view_integrations"]:
        return context

    integrations = list(Integration.objects.order_by("name"))
    runs = latest_runs(integrations)
    context["integration_rows"] = [
        {
            "integration": integration,
            "provider_title": provider_title(integration.provider),
            "last_run": runs.get(integration.pk),
        }
        for integration in integrations
    ]

    # Good news first, then what needs attention, then what is unknown.
    order = (
        HealthStatus.HEALTHY,
        HealthStatus.DEGRADED,
        HealthStatus.UNHEALTHY,
        HealthStatus.UNKNOWN,
    )
    counts = Counter(integration.health_status for integration in integrations)
    context["health_summary"] = [
        {"status": status.value, "label": status.label, "count": counts[status.value]}
        for status in order
    ]
    return context


def _learner_context(request: HttpRequest) -> dict[str, Any]:
    from allauth.socialaccount.models import SocialAccount

    from portal.learning.models import Enrollment, LearnerIdentity, Progress

    user = request.user
    enrollments = (
        Enrollment.objects.filter(
            learner=user, deleted_at__isnull=True, course__deleted_at__isnull=True
        )
        .select_related("course")
        .order_by("course__title", "pk")
    )
    progress = (
        Progress.objects.filter(
            learner=user, deleted_at__isnull=True, course__deleted_at__isnull=True
        )
        .select_related("course")
        .order_by("course__title", "pk")
    )
    # A learner's own integrations show as their connection, not as an
    # account at a platform named "learner-<id>-canvas".
    identities = (
        LearnerIdentity.objects.filter(user=user, integration__connection__isnull=True)
        .select_related("integration")
        .order_by("integration__name")
    )
    social_accounts = [
        {
            "provider": _social_provider_name(account.provider),
            "account": account,
            "connection": getattr(account, "portal_connection", None),
        }
        for account in SocialAccount.objects.filter(user=user)
        .select_related("portal_connection")
        .order_by("provider", "pk")
    ]

    return {
        "enrollments": enrollments,
        "progress_rows": progress,
        "identities": identities,
        "social_accounts": social_accounts,
        "connections_url": _optional_url("accounts_connections"),
    }


def _social_provider_name(provider_id: str) -> str:
    # The provider class carries the display name; asking the account for it
    # may look up a SocialApp row per account.
    from allauth.socialaccount import providers

    providers.registry.load()
    provider_class = providers.registry.get_class(provider_id)
    return getattr(provider_class, "name", "") or provider_id


def _optional_url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


# --- Probes -------------------------------------------------------------------


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer the liveness probe: the process serves requests (no I/O)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Answer the readiness probe: database, cache and broker all work."""
    checks = {
        "database": _run_check(_check_database),
        "cache": _run_check(_check_cache),
        "broker": _run_check(_check_broker),
    }

    failed = [name for name, result in checks.items() if not result["ok"]]
    body: dict[str, Any] = {
        "status": "unavailable" if failed else "ok",
        "checks": checks,
    }
    if failed:
        body["failed"] = failed
        logger.warning(
            "portal.readyz.failed",
            extra={
                "failed_checks": failed,
                "errors": {name: checks[name].get("error", "") for name in failed},
            },
        )
    if not (request.user.is_authenticated and request.user.is_staff):
        # Driver messages can name internal hosts; only staff see them. The
        # log line above keeps them for operators.
        for result in checks.values():
            if "error" in result:
                result["error"] = "unavailable"
    return JsonResponse(body, status=503 if failed else 200)


def _run_check(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = {"ok": True, **check()}
    except ProbeFailed as error:
        result = {"ok": False, "error": str(error)}
    except Exception as error:  # any failure of a dependency means not ready
        result = {"ok": False, "error": describe_error(error)}
    result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


class ProbeFailed(Exception):
    """A readiness check ran but found its dependency unusable."""


def describe_error(error: BaseException) -> str:
    """Describe an exception in one line with URL credentials masked."""
    message = _URL_CREDENTIALS.sub(r"\g<scheme>***@", redact_text(str(error))).strip()
    message = " ".join(message.split())
    if len(message) > _MAX_ERROR_LENGTH:
        message = message[: _MAX_ERROR_LENGTH - 1] + "…"
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def _check_database() -> dict[str, Any]:
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row = cursor.fetchone()
    if not row or row[0] != 1:
        raise ProbeFailed("SELECT 1 did not return 1.")
    return {"vendor": connection.vendor}


def _check_cache() -> dict[str, Any]:
    cache = caches["default"]
    key = f"portal:readyz:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex

    cache.set(key, value, timeout=30)
    stored = cache.get(key)
    cache.delete(key)

    if stored != value:
        raise ProbeFailed(
            "The cache did not return a value just written to it; check CACHE_URL."
        )
    return {"backend": type(cache).__name__}


def _check_broker() -> dict[str, Any]:
    from portal.celery import app

    with app.connection_for_write(connect_timeout=BROKER_CHECK_TIMEOUT) as connection:
        transport = connection.transport_cls
        transport_name = (
            transport if isinstance(transport, str) else type(transport).__name__
        )
        if str(app.conf.broker_url or "").startswith("filesystem"):
            transport_name = "filesystem"
            _check_broker_folders(app.conf.broker_transport_options or {})
        else:
            connection.ensure_connection(
                max_retries=1,
                interval_start=0,
                interval_step=0.2,
                timeout=BROKER_CHECK_TIMEOUT,
            )
    return {"transport": transport_name}


def _check_broker_folders(options: dict[str, Any]) -> None:
    folders = {options.get("data_folder_in"), options.get("data_folder_out")} - {None}
    if not folders:
        raise ProbeFailed(
            "The filesystem broker has no data_folder_in/data_folder_out in "
            "CELERY_BROKER_TRANSPORT_OPTIONS."
        )
    if options.get("control_folder"):
        folders.add(options["control_folder"])
    for folder in sorted(str(folder) for folder in folders):
        if not os.path.isdir(folder):
            raise ProbeFailed(f"The broker folder {folder} does not exist; create it.")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ProbeFailed(
                f"The broker folder {folder} is not writable by this process."
            )
