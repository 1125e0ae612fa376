"""The admin of integrations and learning records, end to end through HTTP."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import tasks
from integrations.http import metrics
from integrations.http.factory import forget_clients
from integrations.models import (
    Credential,
    HealthCheckResult,
    HealthStatus,
    Integration,
    SyncRun,
    SyncStatus,
)
from portal.celery import app as celery_app
from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    LearnerIdentity,
    Playlist,
    PlaylistItem,
    Progress,
    Video,
)
from tests import leakcheck
from tests.fakes.json_api import JsonApiFake

pytestmark = pytest.mark.django_db

TOKEN = leakcheck.secret("admin-test-token-0123456789")
SECRET = leakcheck.secret("sk-live-plaintext-ABCDEFGHIJKL-9876")
BROKER_PASSWORD = leakcheck.secret("broker-password-0123456789")
CHANGELIST = "/admin/integrations/integration/"
RUNS = "/admin/integrations/syncrun/"
ENDPOINTS = [
    {
        "stream": "courses",
        "path": "/api/courses",
        "record_type": "course",
        "fields": {"external_id": "id", "title": "name"},
    },
    {
        "stream": "assignments",
        "path": "/api/assignments",
        "record_type": "assignment",
        "fields": {
            "external_id": "id",
            "course_external_id": "course_id",
            "title": "name",
        },
    },
]


@pytest.fixture(autouse=True)
def _fast_loopback_http(settings) -> Iterator[None]:
    """Let integrations reach loopback fakes, with tiny retry waits."""
    # The admin user's password is hashed once per test; keep that cheap.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    settings.INTEGRATIONS_HTTP_DEFAULTS = {
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "retry_budget": 1.0,
        "max_retries": 1,
        "backoff_base": 0.001,
        "backoff_cap": 0.005,
    }
    forget_clients()
    metrics.reset()
    yield
    forget_clients()
    metrics.reset()


@pytest.fixture
def api() -> Iterator[JsonApiFake]:
    """Serve two courses and one assignment with bearer auth."""
    collections = {
        "courses": [{"id": 1, "name": "Biology"}, {"id": 2, "name": "Chemistry"}],
        "assignments": [{"id": 10, "course_id": 1, "name": "Lab report"}],
    }
    with JsonApiFake(collections=collections, token=TOKEN) as server:
        yield server


@pytest.fixture
def unreachable_broker(monkeypatch) -> Iterator[None]:
    """Make the current Celery app one whose Redis broker refuses connections."""
    # Celery prefers the CELERY_BROKER_URL variable (set in the Redis CI run)
    # over the broker an app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    # A port bound but never listening refuses every connection, and stays
    # ours (no other process can take it) until the test ends.
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        port = refusing.getsockname()[1]
        broker = Celery(
            "unreachable",
            broker=f"redis://:{BROKER_PASSWORD}@127.0.0.1:{port}/0",
            set_as_current=False,
        )
        broker.conf.task_publish_retry_policy = {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.01,
            "interval_max": 0.01,
        }
        broker.set_current()
        try:
            yield
        finally:
            celery_app.set_current()
            broker.close()


def make_integration(name: str, base_url: str = "http://127.0.0.1:9", **fields: Any):
    """Create a REST integration row with a token credential."""
    fields.setdefault("settings", {"endpoints": ENDPOINTS})
    integration = Integration.objects.create(
        name=name, provider="rest", base_url=base_url, **fields
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(fields.pop("token", TOKEN))
    credential.save()
    return integration


def make_run(integration: Integration, status: str = SyncStatus.SUCCEEDED, **fields):
    """Create a sync run with counts."""
    now = timezone.now()
    values = {
        "stream": "courses",
        "status": status,
        "started_at": now - timedelta(seconds=75),
        "finished_at": None if status in SyncRun.ACTIVE_STATUSES else now,
        "fetched": 30,
        "created": 11,
        "updated": 4,
        "unchanged": 15,
    }
    values.update(fields)
    return SyncRun.objects.create(integration=integration, **values)


def every_health_state() -> list[Integration]:
    """Create one integration per health state, each with a different last run."""
    now = timezone.now()
    healthy = make_integration(
        "canvas-main", health_status=HealthStatus.HEALTHY, health_checked_at=now
    )
    make_run(healthy)
    degraded = make_integration(
        "moodle-east",
        health_status=HealthStatus.DEGRADED,
        health_error="Timed out after 10 s; the service may be slow.",
        health_checked_at=now,
    )
    make_run(degraded, SyncStatus.RUNNING, fetched=40)
    unhealthy = make_integration(
        "rest-grades",
        health_status=HealthStatus.UNHEALTHY,
        health_error="authentication failed: check the token",
        health_checked_at=now,
    )
    make_run(unhealthy, SyncStatus.FAILED, error_summary="HTTP 401 from /api/courses")
    unknown = make_integration("fresh-one")
    return [healthy, degraded, unhealthy, unknown]


def messages_of(response) -> list[str]:
    """Return the texts of the messages the response rendered."""
    return [str(message) for message in response.context["messages"]]


def run_action(client, action: str, integrations: list[Integration]):
    """Run a change-list action on ``integrations`` and follow the redirect."""
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(item.pk) for item in integrations]},
        follow=True,
    )


def count_queries(client, url: str) -> int:
    """Return how many SQL queries one GET of ``url`` runs."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


# --- Integration list and change page ------------------------------------------


def test_changelist_shows_every_health_state_and_last_sync(admin_client):
    every_health_state()

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    for status in ("healthy", "degraded", "unhealthy", "unknown"):
        assert f"portal-badge--{status}" in html
    for status in ("succeeded", "running", "failed"):
        assert f"portal-badge--{status}" in html
    assert 'title="Timed out after 10 s; the service may be slow."' in html
    assert "30 fetched, 11 created, 4 updated, 15 unchanged, 0 deleted" in html
    assert "Generic REST API" in html
    assert "on demand" in html
    assert "never" in html


def test_changelist_filters_by_provider_enabled_and_health(admin_client):
    every_health_state()

    by_health = admin_client.get(CHANGELIST, {"health_status__exact": "degraded"})
    by_provider = admin_client.get(CHANGELIST, {"provider": "rest"})
    by_enabled = admin_client.get(CHANGELIST, {"enabled__exact": "0"})
    by_name = admin_client.get(CHANGELIST, {"q": "moodle"})

    assert [i.name for i in by_health.context["cl"].result_list] == ["moodle-east"]
    assert len(by_provider.context["cl"].result_list) == 4
    assert list(by_enabled.context["cl"].result_list) == []
    assert [i.name for i in by_name.context["cl"].result_list] == ["moodle-east"]


def test_changelist_runs_as_many_queries_for_20_integrations_as_for_1(
    admin_client, django_assert_max_num_queries
):
    make_run(make_integration("first"))
    baseline = count_queries(admin_client, CHANGELIST)

    for number in range(19):
        make_run(make_integration(f"more-{number}"))
    with django_assert_max_num_queries(baseline):
        response = admin_client.get(CHANGELIST)

    assert len(response.context["cl"].result_list) == 20


def test_change_page_shows_status_panels_and_action_buttons(admin_client):
    integration = every_health_state()[2]
    runs = [make_run(integration, fetched=number) for number in range(12)]
    for number in range(12):
        HealthCheckResult.objects.create(
            integration=integration,
            status=HealthStatus.UNHEALTHY,
            latency_ms=100 + number,
            error="authentication failed: check the token",
        )

    response = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    for heading in ("Identity", "Health", "Connection", "Schedule", "HTTP overrides"):
        assert f">{heading}</h2>" in html
    assert "Recent health checks" in html
    assert "Recent sync runs" in html
    assert "HTTP metrics" in html
    assert len(response.context["health_checks"]) == 10
    assert len(response.context["sync_runs"]) == 10
    assert f'href="/admin/integrations/syncrun/{runs[-1].pk}/change/"' in html
    assert f"{RUNS}?integration__id__exact={integration.pk}" in html
    for action in ("sync", "check-health", "test-connection"):
        assert f'action="{CHANGELIST}{integration.pk}/{action}/"' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 4


def test_change_page_of_every_health_state_renders(admin_client):
    for integration in every_health_state():
        response = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")

        assert response.status_code == 200
        assert f"portal-badge--{integration.health_status}" in response.content.decode()


def test_add_page_renders_without_status_panels(admin_client):
    response = admin_client.get(f"{CHANGELIST}add/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Recent sync runs" not in html
    assert "Sync now" not in html


def test_change_page_never_shows_a_credential_plaintext_or_ciphertext(admin_client):
    integration = make_integration("canvas-main")
    credential = integration.credentials.get(key="token")
    credential.set_secret(SECRET)
    credential.save()
    credential.refresh_from_db()
    ciphertext = credential.value.ciphertext
    assert ciphertext and SECRET not in ciphertext

    pages = [
        f"{CHANGELIST}{integration.pk}/change/",
        f"{CHANGELIST}{integration.pk}/history/",
        f"{CHANGELIST}{integration.pk}/delete/",
        CHANGELIST,
    ]
    for page in pages:
        html = admin_client.get(page).content.decode()

        assert SECRET not in html, page
        assert ciphertext not in html, page
        assert ciphertext[:24] not in html, page
    change_html = admin_client.get(pages[0]).content.decode()
    assert "••••9876" in change_html
    assert 'type="password"' in change_html


def admin_form_data(response) -> dict[str, Any]:
    """Return the POST data that saves the change form as the page shows it."""
    data: dict[str, Any] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            value = management[name].value()
            data[management.add_prefix(name)] = "" if value is None else value
        forms.extend(formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            if isinstance(value, list | tuple):
                data[form.add_prefix(name)] = list(value)
            else:
                data[form.add_prefix(name)] = value
    return data


def save_schedule(client, integration: Integration, data: dict, schedule: str) -> None:
    """Post the change form with ``schedule`` and check that it was saved."""
    data["schedule"] = schedule

    response = client.post(f"{CHANGELIST}{integration.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    integration.refresh_from_db()
    assert integration.schedule == schedule


def test_saving_with_an_empty_secret_keeps_the_stored_one(admin_client):
    integration = make_integration("canvas-main")
    data = admin_form_data(admin_client.get(f"{CHANGELIST}{integration.pk}/change/"))

    save_schedule(admin_client, integration, data, "*/30 * * * *")

    assert integration.secret("token") == TOKEN


def test_credential_key_the_provider_does_not_take_is_refused_on_the_page(
    admin_client,
):
    integration = make_integration("school")
    url = f"{CHANGELIST}{integration.pk}/change/"
    data = admin_form_data(admin_client.get(url))
    data["credentials-TOTAL_FORMS"] = "2"
    data.update(
        {
            "credentials-1-integration": str(integration.pk),
            "credentials-1-key": "api_token",
            "credentials-1-kind": "api_key",
            "credentials-1-secret": SECRET,
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {}
    html = response.content.decode()
    assert (
        "Unknown credential &#x27;api_token&#x27; for provider &#x27;rest&#x27;; "
        "known credentials: password, token." in html
    )
    assert SECRET not in html
    assert list(integration.credentials.values_list("key", flat=True)) == ["token"]


def make_canvas_integration() -> Integration:
    """Create a Canvas integration with the access token it requires."""
    integration = Integration.objects.create(
        name="canvas-main", provider="canvas", base_url="https://canvas.example.edu"
    )
    credential = Credential(integration=integration, key="access_token")
    credential.set_secret(SECRET)
    credential.save()
    return integration


def test_deleting_a_required_credential_is_refused_and_keeps_it(admin_client):
    integration = make_canvas_integration()
    url = f"{CHANGELIST}{integration.pk}/change/"
    data = admin_form_data(admin_client.get(url))
    data["credentials-0-DELETE"] = "on"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {}
    [formset] = [inline.formset for inline in response.context["inline_admin_formsets"]]
    assert formset.non_form_errors() == [
        "Provider 'canvas' needs credential 'access_token': add it with its secret "
        "below."
    ]
    assert "needs credential &#x27;access_token&#x27;" in response.content.decode()
    assert integration.secret("access_token") == SECRET


def test_staff_who_may_only_view_credentials_can_still_save_the_integration(
    client, django_user_model
):
    integration = make_canvas_integration()
    editor = django_user_model.objects.create_user("editor", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_integration", "change_integration", "view_credential"]
        )
    )
    client.force_login(editor)
    page = client.get(f"{CHANGELIST}{integration.pk}/change/")
    # The page shows the credential read-only, so the browser posts none of
    # its fields.
    data = {
        name: value
        for name, value in admin_form_data(page).items()
        if not name.startswith("credentials-0-") or name == "credentials-0-id"
    }

    save_schedule(client, integration, data, "0 3 * * *")

    assert integration.secret("access_token") == SECRET


# --- Actions --------------------------------------------------------------------


def test_sync_now_queues_a_run_per_stream_without_running_it(
    admin_client, django_capture_on_commit_callbacks
):
    integration = make_integration("canvas-main")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = run_action(admin_client, "sync_now", [integration])

    runs = list(SyncRun.objects.filter(integration=integration).order_by("stream"))
    assert [run.stream for run in runs] == ["assignments", "courses"]
    assert {run.status for run in runs} == {SyncStatus.QUEUED}
    assert {run.trigger for run in runs} == {"admin"}
    assert callbacks, "the task is sent after the commit"
    [message] = messages_of(response)
    assert "'canvas-main': 2 sync runs queued or already running" in message
    ids = ",".join(str(run.pk) for run in sorted(runs, key=lambda run: run.pk))
    assert f'href="{RUNS}?id__in=' in message
    assert all(str(run.pk) in message for run in runs)
    assert admin_client.get(f"{RUNS}?id__in={ids}").status_code == 200


def test_sync_now_button_queues_runs_and_returns_to_the_page(
    admin_client, django_capture_on_commit_callbacks
):
    integration = make_integration("canvas-main")

    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(f"{CHANGELIST}{integration.pk}/sync/")

    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}{integration.pk}/change/"
    assert SyncRun.objects.filter(integration=integration).count() == 2


def test_action_urls_refuse_get(admin_client):
    integration = make_integration("canvas-main")

    for action in ("sync", "check-health", "test-connection"):
        response = admin_client.get(f"{CHANGELIST}{integration.pk}/{action}/")

        assert response.status_code == 405
    assert not SyncRun.objects.exists()
    assert not HealthCheckResult.objects.exists()


def test_action_url_of_a_missing_integration_redirects_with_a_message(admin_client):
    response = admin_client.post(f"{CHANGELIST}999/sync/", follow=True)

    assert response.status_code == 200
    assert any("doesn’t exist" in text for text in messages_of(response))


def test_sync_now_names_what_to_fix_when_settings_are_invalid(admin_client):
    integration = make_integration("broken", settings={"pagination": "sideways"})

    response = run_action(admin_client, "sync_now", [integration])

    [message] = messages_of(response)
    assert message.startswith("The sync of 'broken' failed:")
    assert "invalid settings" in message
    assert "endpoints" in message
    assert "Traceback" not in response.content.decode()
    assert not SyncRun.objects.exists()


def test_sync_now_skips_a_disabled_integration(admin_client):
    integration = make_integration("paused", enabled=False)

    response = run_action(admin_client, "sync_now", [integration])

    [message] = messages_of(response)
    assert "'paused' is disabled" in message
    assert not SyncRun.objects.exists()


def test_check_health_queues_a_task_and_a_worker_stores_the_result(
    admin_client, api, django_capture_on_commit_callbacks
):
    integration = make_integration("school", base_url=api.base_url)

    with django_capture_on_commit_callbacks(execute=False) as sends:
        response = run_action(admin_client, "check_health", [integration])

    assert len(sends) == 1
    assert not HealthCheckResult.objects.exists()
    assert api.request_count() == 0
    [message] = messages_of(response)
    assert message == (
        "Health check queued for 'school'; the result appears under Health checks "
        f'on <a href="{CHANGELIST}{integration.pk}/change/">its page</a>.'
    )

    assert tasks.check_health.run(integration.pk) == HealthStatus.HEALTHY

    result = HealthCheckResult.objects.get(integration=integration)
    assert result.status == HealthStatus.HEALTHY
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.HEALTHY
    assert api.request_count() >= 1


def test_check_health_button_queues_and_the_page_shows_the_result_later(
    admin_client, api, django_capture_on_commit_callbacks
):
    integration = make_integration("school", base_url=api.base_url)
    credential = integration.credentials.get(key="token")
    credential.set_secret("wrong-token-that-must-not-show-123")
    credential.save()

    with django_capture_on_commit_callbacks(execute=False) as sends:
        response = admin_client.post(
            f"{CHANGELIST}{integration.pk}/check-health/", follow=True
        )
    tasks.check_health.run(integration.pk)
    page = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")

    assert len(sends) == 1
    assert response.redirect_chain == [(f"{CHANGELIST}{integration.pk}/change/", 302)]
    [message] = messages_of(response)
    assert message.startswith("Health check queued for 'school'")
    assert HealthCheckResult.objects.get().status == HealthStatus.UNHEALTHY
    html = page.content.decode()
    assert "wrong-token-that-must-not-show-123" not in html
    assert "Recent health checks" in html
    assert "portal-badge--unhealthy" in html
    assert "authentication failed" in html.lower()


def test_check_health_queues_one_task_per_selected_integration(
    admin_client, api, django_capture_on_commit_callbacks
):
    good = make_integration("school", base_url=api.base_url)
    down = make_integration("offline", base_url="http://127.0.0.1:1")

    with django_capture_on_commit_callbacks(execute=False) as sends:
        response = run_action(admin_client, "check_health", [good, down])
    for integration in (good, down):
        tasks.check_health.run(integration.pk)

    assert len(sends) == 2
    assert sorted(text.split(";")[0] for text in messages_of(response)) == [
        "Health check queued for 'offline'",
        "Health check queued for 'school'",
    ]
    good.refresh_from_db()
    down.refresh_from_db()
    assert good.health_status == HealthStatus.HEALTHY
    assert down.health_status == HealthStatus.UNHEALTHY
    assert HealthCheckResult.objects.count() == 2


def test_test_connection_queues_and_the_page_shows_the_preview(
    admin_client, api, django_capture_on_commit_callbacks
):
    integration = make_integration("school", base_url=api.base_url)
    Course.objects.create(integration=integration, external_id="2", title="Old")

    with django_capture_on_commit_callbacks(execute=False) as sends:
        response = run_action(admin_client, "test_connection", [integration])

    assert len(sends) == 1
    [message] = messages_of(response)
    assert message.startswith("Connection test queued for 'school'; the result")
    assert not HealthCheckResult.objects.exists()
    before = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")
    assert "No connection test yet." in before.content.decode()

    assert tasks.test_connection.run(integration.pk) == "ok"

    page = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")
    panel = page.context["last_test"]
    assert panel["ok"] is True
    streams = {row["stream"]: row for row in panel["streams"]}
    assert set(streams) == {"courses", "assignments"}
    courses = streams["courses"]
    assert (courses["fetched"], courses["would_create"], courses["would_update"]) == (
        2,
        1,
        1,
    )
    assert courses["would_delete"] == "0"
    assert streams["assignments"]["would_create"] == 1
    html = page.content.decode()
    assert "Last connection test" in html
    assert '<span class="portal-badge portal-badge--healthy">OK</span>' in html
    assert "<td>courses</td>" in html
    assert not SyncRun.objects.exists()
    assert Course.objects.count() == 1


def test_test_connection_page_says_why_an_empty_pass_would_delete_nothing(
    admin_client, django_capture_on_commit_callbacks
):
    empty = {"courses": [], "assignments": []}
    with JsonApiFake(collections=empty, token=TOKEN) as api:
        integration = make_integration("emptied", base_url=api.base_url)
        Course.objects.create(integration=integration, external_id="1", title="Kept")
        with django_capture_on_commit_callbacks(execute=False):
            run_action(admin_client, "test_connection", [integration])
        assert tasks.test_connection.run(integration.pk) == "ok"

    page = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")
    streams = {row["stream"]: row for row in page.context["last_test"]["streams"]}
    assert streams["courses"]["would_delete"] == (
        "0 (The source returned no records, so a sync would mark nothing deleted.)"
    )
    assert streams["assignments"]["would_delete"] == "0"
    assert "a sync would mark nothing deleted" in page.content.decode()


def test_test_connection_page_shows_a_failed_health_check(
    admin_client, django_capture_on_commit_callbacks
):
    integration = make_integration("offline", base_url="http://127.0.0.1:1")

    with django_capture_on_commit_callbacks(execute=False) as sends:
        admin_client.post(f"{CHANGELIST}{integration.pk}/test-connection/")
    status = tasks.test_connection.run(integration.pk)
    page = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")

    assert len(sends) == 1
    assert status == HealthStatus.UNHEALTHY
    assert page.context["last_test"]["healthy"] is False
    assert page.context["last_test"]["streams"] == []
    html = page.content.decode()
    assert "Failed at the health check" in html
    assert "127.0.0.1:1" in html


def test_the_last_connection_test_stays_shown_after_later_health_checks(
    admin_client, api
):
    integration = make_integration("school", base_url=api.base_url)
    tasks.test_connection.run(integration.pk)
    tasks.check_health.run(integration.pk)

    page = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")

    tested = HealthCheckResult.objects.filter(details__has_key="preview").get()
    assert HealthCheckResult.objects.count() == 2
    assert page.context["last_test"]["result"] == tested
    assert len(page.context["last_test"]["streams"]) == 2


# Outside a test transaction, as in production, the task is sent while the
# view runs, so a broker error reaches the page.
@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_is_reported_without_a_traceback_or_secret(
    admin_client, unreachable_broker, caplog
):
    integration = make_integration("school")
    caplog.set_level(logging.ERROR, logger="integrations.admin")

    response = admin_client.post(
        f"{CHANGELIST}{integration.pk}/check-health/", follow=True
    )

    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith(
        "The health check of 'school' could not be queued: the task broker did not "
        "accept it (Error 111 connecting to 127.0.0.1:"
    )
    assert "CELERY_BROKER_URL" in message
    html = response.content.decode()
    assert "Traceback" not in html
    assert BROKER_PASSWORD not in html
    assert [record.msg for record in caplog.records] == [
        "integrations.admin.enqueue_failed"
    ]
    assert caplog.records[0].task == "integrations.check_health"
    assert not HealthCheckResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_test_connection_action_reports_an_unreachable_broker(
    admin_client, unreachable_broker
):
    integration = make_integration("school")

    response = run_action(admin_client, "test_connection", [integration])

    [message] = messages_of(response)
    assert message.startswith(
        "The connection test of 'school' could not be queued: the task broker"
    )
    assert BROKER_PASSWORD not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_eager_mode_runs_the_test_in_the_request_without_crashing(
    admin_client, api, eager_celery
):
    integration = make_integration("school", base_url=api.base_url)

    response = admin_client.post(
        f"{CHANGELIST}{integration.pk}/test-connection/", follow=True
    )

    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("Connection test queued for 'school'")
    assert response.context["last_test"]["ok"] is True
    assert HealthCheckResult.objects.get().details["preview"]


def test_change_page_shows_http_metrics_after_calls(admin_client, api):
    integration = make_integration("school", base_url=api.base_url)
    # A worker in this process: metrics are counted per process.
    tasks.check_health.run(integration.pk)

    response = admin_client.get(f"{CHANGELIST}{integration.pk}/change/")

    rows = dict(response.context["http_metrics"]["rows"])
    assert int(rows["Calls"]) >= 1
    assert rows["HTTP 2xx"] == rows["Calls"]
    assert rows["Latency p50"].endswith(" ms")


# --- Who may do what ------------------------------------------------------------


def test_non_staff_users_cannot_reach_the_admin(client, django_user_model):
    integration = make_integration("canvas-main")
    learner = django_user_model.objects.create_user("ada", password="pw-123456789")
    client.force_login(learner)

    pages = [CHANGELIST, f"{CHANGELIST}{integration.pk}/change/", RUNS]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    response = client.post(f"{CHANGELIST}{integration.pk}/sync/")

    assert response.status_code == 302
    assert not SyncRun.objects.exists()


def test_staff_with_view_permission_only_cannot_run_actions(client, django_user_model):
    integration = make_integration("canvas-main")
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_integration"))
    client.force_login(viewer)

    page = client.get(f"{CHANGELIST}{integration.pk}/change/")
    response = client.post(f"{CHANGELIST}{integration.pk}/sync/")

    assert page.status_code == 200
    assert "Sync now" not in page.content.decode()
    assert response.status_code == 403
    assert not SyncRun.objects.exists()
    changelist = client.get(CHANGELIST)
    assert "sync_now" not in changelist.content.decode()


def test_actions_need_a_csrf_token(admin_user):
    from django.test import Client

    integration = make_integration("canvas-main")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)

    response = strict.post(f"{CHANGELIST}{integration.pk}/sync/")

    assert response.status_code == 403
    assert not SyncRun.objects.exists()


def test_credentials_have_no_admin_of_their_own(admin_client):
    assert admin_client.get("/admin/integrations/credential/").status_code == 404


# --- Sync runs and health checks --------------------------------------------------


def test_run_list_shows_counts_and_reloads_while_a_run_is_running(admin_client):
    integration = make_integration("canvas-main")
    running = make_run(integration, SyncStatus.RUNNING, fetched=250, created=120)

    response = admin_client.get(RUNS)

    html = response.content.decode()
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "reloads every 5 seconds" in html
    assert "portal-badge--running" in html
    assert ">250<" in html and ">120<" in html
    assert "1 min 15 s" in html

    SyncRun.objects.filter(pk=running.pk).update(
        status=SyncStatus.SUCCEEDED, finished_at=timezone.now()
    )
    assert 'http-equiv="refresh"' not in admin_client.get(RUNS).content.decode()


def test_run_list_does_not_reload_for_runs_waiting_on_a_rate_limit(admin_client):
    integration = make_integration("canvas-main")
    make_run(
        integration,
        SyncStatus.QUEUED,
        started_at=None,
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )

    html = admin_client.get(RUNS).content.decode()

    assert 'http-equiv="refresh"' not in html


def test_run_list_filters_by_status_integration_and_stream(admin_client):
    first = make_integration("first")
    second = make_integration("second")
    make_run(first, SyncStatus.FAILED, error_summary="HTTP 500 from the API")
    make_run(second, stream="assignments")

    failed = admin_client.get(RUNS, {"status__exact": "failed"})
    of_second = admin_client.get(RUNS, {"integration__id__exact": str(second.pk)})
    assignments = admin_client.get(RUNS, {"stream": "assignments"})

    assert [run.integration.name for run in failed.context["cl"].result_list] == [
        "first"
    ]
    assert [run.integration.name for run in of_second.context["cl"].result_list] == [
        "second"
    ]
    assert [run.stream for run in assignments.context["cl"].result_list] == [
        "assignments"
    ]
    assert "HTTP 500 from the API" in failed.content.decode()


def test_run_list_runs_as_many_queries_for_20_runs_as_for_1(
    admin_client, django_assert_max_num_queries
):
    make_run(make_integration("first"))
    baseline = count_queries(admin_client, RUNS)

    for number in range(19):
        make_run(make_integration(f"more-{number}"))
    with django_assert_max_num_queries(baseline):
        response = admin_client.get(RUNS)

    assert response.context["cl"].result_count == 20


def test_runs_are_read_only(admin_client):
    run = make_run(make_integration("canvas-main"))

    page = admin_client.get(f"{RUNS}{run.pk}/change/")
    post = admin_client.post(f"{RUNS}{run.pk}/change/", {"status": "failed"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(f"{RUNS}add/").status_code == 403
    assert post.status_code == 403
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED


def test_running_run_page_reloads_itself(admin_client):
    run = make_run(make_integration("canvas-main"), SyncStatus.RUNNING)

    html = admin_client.get(f"{RUNS}{run.pk}/change/").content.decode()

    assert '<meta http-equiv="refresh" content="5">' in html


def test_only_superusers_may_delete_runs(client, admin_client, django_user_model):
    run = make_run(make_integration("canvas-main"))
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_syncrun"),
        Permission.objects.get(codename="delete_syncrun"),
    )
    client.force_login(staff)

    assert client.get(f"{RUNS}{run.pk}/delete/").status_code == 403
    assert admin_client.get(f"{RUNS}{run.pk}/delete/").status_code == 200


def test_cancel_action_cancels_active_runs_only(admin_client):
    integration = make_integration("canvas-main")
    queued = make_run(integration, SyncStatus.QUEUED, started_at=None)
    done = make_run(integration)

    response = admin_client.post(
        RUNS,
        {"action": "cancel_runs", "_selected_action": [str(queued.pk), str(done.pk)]},
        follow=True,
    )

    queued.refresh_from_db()
    done.refresh_from_db()
    assert queued.status == SyncStatus.CANCELLED
    assert done.status == SyncStatus.SUCCEEDED
    assert messages_of(response) == [
        "Cancelled 1 run.",
        "1 run was already finished and stay as they are.",
    ]


def test_health_check_results_are_listed_read_only(admin_client):
    integration = make_integration("canvas-main")
    result = HealthCheckResult.objects.create(
        integration=integration,
        status=HealthStatus.DEGRADED,
        latency_ms=950,
        error="HTTP 503 from /api/courses",
    )

    listing = admin_client.get("/admin/integrations/healthcheckresult/")
    page = admin_client.get(
        f"/admin/integrations/healthcheckresult/{result.pk}/change/"
    )

    assert listing.status_code == 200
    assert "portal-badge--degraded" in listing.content.decode()
    assert "HTTP 503 from /api/courses" in listing.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert (
        admin_client.get("/admin/integrations/healthcheckresult/add/").status_code
        == 403
    )


# --- Learning records -------------------------------------------------------------


def learning_rows(number: int, integration: Integration, user) -> None:
    """Create a course with an assignment, enrollment, progress and identity."""
    course = Course.objects.create(
        integration=integration, external_id=f"c{number}", title=f"Course {number}"
    )
    Assignment.objects.create(
        integration=integration, external_id=f"a{number}", course=course, title="Quiz"
    )
    Enrollment.objects.create(
        integration=integration, external_id=f"e{number}", course=course, learner=user
    )
    Progress.objects.create(
        integration=integration, external_id=f"p{number}", course=course, learner=user
    )
    LearnerIdentity.objects.create(
        user=user, integration=integration, remote_user_id=f"u{number}"
    )
    playlist = Playlist.objects.create(
        integration=integration, external_id=f"PL{number}", title="Lectures"
    )
    PlaylistItem.objects.create(
        integration=integration,
        external_id=f"i{number}",
        playlist=playlist,
        video_external_id=f"v{number}",
    )
    Video.objects.create(
        integration=integration, external_id=f"v{number}", title="Talk"
    )


@pytest.mark.parametrize(
    "model_path",
    [
        "course",
        "assignment",
        "enrollment",
        "progress",
        "learneridentity",
        "playlist",
        "playlistitem",
        "video",
    ],
)
def test_learning_lists_run_as_many_queries_for_20_rows_as_for_1(
    admin_client, django_user_model, django_assert_max_num_queries, model_path
):
    url = f"/admin/learning/{model_path}/"
    integration = make_integration("canvas-main")
    learning_rows(0, integration, django_user_model.objects.create_user("learner-0"))
    baseline = count_queries(admin_client, url)

    for number in range(1, 20):
        user = django_user_model.objects.create_user(f"learner-{number}")
        learning_rows(number, make_integration(f"lms-{number}"), user)
    with django_assert_max_num_queries(baseline):
        response = admin_client.get(url)

    assert len(response.context["cl"].result_list) == 20


@pytest.mark.parametrize(
    "model_path",
    [
        "course",
        "assignment",
        "enrollment",
        "progress",
        "playlist",
        "playlistitem",
        "video",
    ],
)
def test_synced_learning_records_are_read_only(
    admin_client, django_user_model, model_path
):
    integration = make_integration("canvas-main")
    learning_rows(0, integration, django_user_model.objects.create_user("learner-0"))
    model = {
        "course": Course,
        "assignment": Assignment,
        "enrollment": Enrollment,
        "progress": Progress,
        "playlist": Playlist,
        "playlistitem": PlaylistItem,
        "video": Video,
    }[model_path]
    row = model.objects.get()

    page = admin_client.get(f"/admin/learning/{model_path}/{row.pk}/change/")

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(f"/admin/learning/{model_path}/add/").status_code == 403
