"""A learner connects Canvas through OAuth, syncs with their token, refreshes, disconnects.

Every step runs against CanvasOAuthFake, a real HTTP server that behaves as
Canvas's OAuth 2 endpoints are documented to (doc/api/oauth_endpoints.md).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from integrations.models import Integration, SyncRun
from integrations.sync.runs import run_sync_now
from portal.accounts.learner_sync import learner_integration_name
from portal.accounts.models import Connection, ConnectionStatus
from portal.accounts.tokens import ReauthorizationRequired, access_token_for
from portal.learning.models import Course, Enrollment, Progress
from tests.accounts.helpers import (
    LEARNER_CANVAS_ID,
    add_canvas_learner,
    connect,
    make_learner,
    raw_rows,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ada(canvas):
    """A portal learner, signed in, with a Canvas account in courses 101 and 102."""
    add_canvas_learner(canvas)
    return make_learner()


@pytest.fixture
def signed_in(client, ada):
    client.force_login(ada)
    return client


@pytest.fixture
def connected(signed_in, canvas) -> Connection:
    page = connect(signed_in, canvas.oauth, "canvas")
    assert page.status_code == 200
    return Connection.objects.get()


def test_connecting_canvas_stores_the_tokens_encrypted_only(signed_in, canvas, ada):
    page = connect(signed_in, canvas.oauth, "canvas")

    assert page.redirect_chain[-1][0] == "/accounts/connections/"
    html = page.content.decode()
    assert "Connected as <strong>Ada Lovelace</strong>" in html
    connection = Connection.objects.get()
    assert (connection.user, connection.provider, connection.uid) == (
        ada,
        "canvas",
        str(LEARNER_CANVAS_ID),
    )
    [issued] = canvas.oauth.access_tokens.values()
    assert connection.access_token.reveal() == issued.token
    assert connection.refresh_token.reveal()
    assert connection.expires_at is not None

    # Nothing in any of the tables involved holds a token in plaintext.
    secrets = [issued.token, connection.refresh_token.reveal()]
    for table in (
        "accounts_connection",
        "socialaccount_socialaccount",
        "socialaccount_socialtoken",
        "socialaccount_socialapp",
    ):
        dumped = repr(raw_rows(table))
        assert not any(secret in dumped for secret in secrets), table
    assert raw_rows("socialaccount_socialtoken") == []


def test_the_consent_page_was_asked_with_state_and_the_site_callback(signed_in, canvas):
    connect(signed_in, canvas.oauth, "canvas")

    [authorization] = canvas.oauth.authorizations
    assert authorization.state
    assert authorization.params["redirect_uri"] == (
        "http://testserver/accounts/canvas/login/callback/"
    )
    assert canvas.oauth.counters.exchanges == 1


def test_a_refused_consent_connects_nothing(signed_in, canvas):
    page = connect(signed_in, canvas.oauth, "canvas", deny=True)

    assert "You did not allow the portal access" in page.content.decode()
    assert not Connection.objects.exists()
    assert not SocialAccount.objects.exists()


def test_a_failed_token_exchange_says_so_and_connects_nothing(signed_in, canvas):
    canvas.oauth.fail_token_endpoint(status=500)

    page = connect(signed_in, canvas.oauth, "canvas")

    assert page.status_code == 401
    assert "could not exchange the authorization for access" in page.content.decode()
    assert not Connection.objects.exists()


def test_the_learners_own_courses_sync_with_their_token(connected, canvas):
    integration = Integration.objects.get(name=learner_integration_name(connected))
    assert integration.connection == connected
    assert not integration.credentials.exists()
    # The first sync was queued when the account was connected.
    assert set(
        SyncRun.objects.filter(integration=integration).values_list("status", flat=True)
    ) == {"queued"}

    runs = run_sync_now(integration)

    assert [run.status for run in runs] == ["succeeded"] * len(runs)
    courses = Course.objects.filter(integration=integration, deleted_at__isnull=True)
    assert sorted(courses.values_list("external_id", flat=True)) == ["101", "102"]
    # Only the learner's own enrollments, never the course roster.
    enrollments = Enrollment.objects.filter(integration=integration)
    assert set(enrollments.values_list("learner", flat=True)) == {connected.user_id}
    assert enrollments.count() == 2
    progress = Progress.objects.filter(integration=integration)
    assert set(progress.values_list("learner", flat=True)) == {connected.user_id}
    learner_token = connected.access_token.reveal()
    course_calls = [r for r in canvas.requests if r.path == "/api/v1/courses"]
    assert course_calls
    assert all(
        r.header("Authorization") == f"Bearer {learner_token}" for r in course_calls
    )


def test_a_token_near_expiry_is_refreshed_first(connected, canvas):
    before = connected.access_token.reveal()
    # A minute left: inside the refresh margin (five minutes by default).
    Connection.objects.filter(pk=connected.pk).update(
        expires_at=timezone.now() + timedelta(seconds=60)
    )

    token = access_token_for(connected)

    assert token != before
    assert canvas.oauth.user_for(token).id == LEARNER_CANVAS_ID
    assert canvas.oauth.counters.refreshes == 1
    refresh_token = connected.refresh_token.reveal()
    connected.refresh_from_db()
    assert connected.token_version == 2
    assert connected.expires_at > timezone.now() + timedelta(minutes=50)
    # Canvas sends no new refresh token: the stored one is kept.
    assert connected.refresh_token.reveal() == refresh_token


def test_a_rejected_token_is_refreshed_once_and_the_request_retried(connected, canvas):
    integration = Integration.objects.get(name=learner_integration_name(connected))
    # Canvas stopped accepting the token although it has not expired here.
    canvas.oauth.expire_tokens()

    runs = run_sync_now(integration, streams=["courses"])

    assert [run.status for run in runs] == ["succeeded"]
    assert canvas.oauth.counters.refreshes == 1
    assert Course.objects.filter(integration=integration).count() == 2


def test_a_refused_refresh_asks_the_learner_to_reconnect_and_stops_the_sync(
    connected, canvas, signed_in
):
    integration = Integration.objects.get(name=learner_integration_name(connected))
    canvas.oauth.expire_tokens()
    canvas.oauth.refuse_refresh(times=10)

    runs = run_sync_now(integration, streams=["courses"])

    [run] = runs
    assert run.status == "failed"
    assert run.attempts == 1
    assert canvas.oauth.counters.refreshes + canvas.oauth.counters.failed_refreshes == 1
    connected.refresh_from_db()
    assert connected.status == ConnectionStatus.NEEDS_REAUTHORIZATION
    with pytest.raises(ReauthorizationRequired):
        access_token_for(connected)
    # Asking again spends nothing at Canvas.
    assert canvas.oauth.counters.failed_refreshes == 1
    page = signed_in.get("/accounts/connections/").content.decode()
    assert "Needs re-authorization" in page
    assert "Reconnect Canvas" in page
    # The schedule no longer queues runs that could only fail again.
    integration.refresh_from_db()
    assert not integration.enabled


def test_reconnecting_clears_needs_reauthorization(connected, canvas, signed_in):
    # As a refused refresh leaves it: flagged, its integration paused.
    Connection.objects.filter(pk=connected.pk).update(
        status=ConnectionStatus.NEEDS_REAUTHORIZATION
    )
    Integration.objects.filter(connection=connected).update(enabled=False)

    connect(signed_in, canvas.oauth, "canvas")

    connected.refresh_from_db()
    assert connected.status == ConnectionStatus.ACTIVE
    assert Connection.objects.count() == 1
    integration = Integration.objects.get(name=learner_integration_name(connected))
    assert integration.enabled


def test_disconnect_revokes_at_canvas_then_deletes_the_tokens(
    connected, canvas, signed_in
):
    token = connected.access_token.reveal()
    integration = Integration.objects.get(name=learner_integration_name(connected))

    page = signed_in.post(
        f"/accounts/connections/{connected.pk}/disconnect/", follow=True
    )

    assert "disconnected and its access revoked" in page.content.decode()
    assert canvas.oauth.user_for(token) is None
    assert [r.method for r in canvas.requests if r.path == "/login/oauth2/token"][
        -1
    ] == "DELETE"
    assert not Connection.objects.exists()
    assert not SocialAccount.objects.exists()
    integration.refresh_from_db()
    assert not integration.enabled
    assert integration.connection is None


def test_a_failed_revocation_still_deletes_the_tokens(
    connected, canvas, signed_in, caplog
):
    canvas.stop()

    page = signed_in.post(
        f"/accounts/connections/{connected.pk}/disconnect/", follow=True
    )

    assert "did not confirm the revocation" in page.content.decode()
    assert not Connection.objects.exists()
    assert any(r.msg == "accounts.connection.revoke_failed" for r in caplog.records)


def test_a_learner_cannot_disconnect_someone_elses_account(connected, client):
    other = make_learner("grace", "grace@school.example.edu")
    client.force_login(other)

    response = client.post(f"/accounts/connections/{connected.pk}/disconnect/")

    assert response.status_code == 404
    assert Connection.objects.filter(pk=connected.pk).exists()
