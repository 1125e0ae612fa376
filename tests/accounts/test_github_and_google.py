"""GitHub and Google connections, end to end against their fakes.

GitHub: OAuth app tokens that never expire, errors with HTTP 200, PKCE,
revocation of the grant with the app's Basic credentials. Google: OpenID
Connect (an id_token), offline access for a refresh token, one-hour tokens,
revocation by form post.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.utils import timezone

from portal.accounts.models import Connection, ConnectionStatus
from portal.accounts.tokens import access_token_for, renew_after_rejection
from tests.accounts.helpers import connect, make_learner, raw_rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ada(client):
    learner = make_learner()
    client.force_login(learner)
    return learner


def test_github_connects_with_pkce_and_stores_the_token_encrypted(client, ada, github):
    octo = github.add_user(9001, "ada-l", name="Ada L", email="ada@school.example.edu")

    page = connect(client, github.oauth, "github", user=octo)

    assert "Connected as <strong>" in page.content.decode()
    connection = Connection.objects.get()
    assert (connection.provider, connection.uid) == ("github", "9001")
    [authorization] = github.oauth.authorizations
    assert authorization.code_challenge
    assert authorization.params["code_challenge_method"] == "S256"
    assert connection.expires_at is None
    assert not connection.refresh_token
    token = connection.access_token.reveal()
    assert github.oauth.user_for(token) is octo
    assert token not in repr(raw_rows("accounts_connection"))
    assert "read:user" in connection.scopes


def test_github_token_the_learner_revoked_asks_for_reconnection(client, ada, github):
    octo = github.add_user(9001, "ada-l", email="ada@school.example.edu")
    connect(client, github.oauth, "github", user=octo)
    connection = Connection.objects.get()
    github.oauth.revoke(connection.access_token.reveal())

    renewed = renew_after_rejection(connection, connection.token_version)

    # No refresh token to try: the learner must connect again.
    assert renewed is False
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_REAUTHORIZATION
    assert github.oauth.counters.refreshes == 0


def test_github_disconnect_deletes_the_grant(client, ada, github):
    octo = github.add_user(9001, "ada-l", email="ada@school.example.edu")
    connect(client, github.oauth, "github", user=octo)
    connection = Connection.objects.get()
    token = connection.access_token.reveal()

    page = client.post(
        f"/accounts/connections/{connection.pk}/disconnect/", follow=True
    )

    assert "access revoked" in page.content.decode()
    assert github.oauth.user_for(token) is None
    [revocation] = [r for r in github.requests if r.method == "DELETE"]
    assert revocation.path == "/api/v3/applications/github-client-id/grant"
    assert revocation.header("Authorization", "").startswith("Basic ")
    assert not Connection.objects.exists()


def test_google_connects_with_offline_access_and_refreshes(client, ada, google):
    google.add_user("g-42", "ada@school.example.edu", name="Ada Lovelace")

    connect(client, google.oauth, "google")

    connection = Connection.objects.get()
    assert connection.uid == "g-42"
    [authorization] = google.oauth.authorizations
    assert authorization.params["access_type"] == "offline"
    assert "https://www.googleapis.com/auth/youtube.readonly" in authorization.scope
    assert connection.refresh_token
    first = connection.access_token.reveal()

    Connection.objects.filter(pk=connection.pk).update(
        expires_at=timezone.now() + timedelta(seconds=30)
    )
    renewed = access_token_for(connection)

    assert renewed != first
    assert google.oauth.user_for(renewed) is not None
    assert google.oauth.counters.refreshes == 1


def test_google_refused_refresh_marks_the_connection(client, ada, google):
    google.add_user("g-42", "ada@school.example.edu", name="Ada Lovelace")
    connect(client, google.oauth, "google")
    connection = Connection.objects.get()
    google.oauth.refuse_refresh()
    Connection.objects.filter(pk=connection.pk).update(expires_at=timezone.now())

    with pytest.raises(Exception) as caught:
        access_token_for(connection)

    assert caught.value.code == "reauthorization_required"
    connection.refresh_from_db()
    assert connection.needs_reauthorization
    assert "invalid_grant" in connection.status_message


def test_google_disconnect_revokes_the_refresh_token(client, ada, google):
    google.add_user("g-42", "ada@school.example.edu", name="Ada Lovelace")
    connect(client, google.oauth, "google")
    connection = Connection.objects.get()
    access = connection.access_token.reveal()

    client.post(f"/accounts/connections/{connection.pk}/disconnect/")

    assert google.oauth.user_for(access) is None
    assert not Connection.objects.exists()


def test_google_sign_in_links_only_an_address_verified_in_the_portal(client, google):
    grace = get_user_model().objects.create_user("grace", "grace@school.example.edu")
    EmailAddress.objects.create(
        user=grace, email="grace@school.example.edu", verified=True, primary=True
    )
    google.add_user(
        "g-7", "grace@school.example.edu", name="Grace", email_verified=True
    )

    start = client.post("/accounts/google/login/")
    back = google.oauth.approve(start["Location"])
    client.get(back.removeprefix("http://testserver"), follow=True)

    connection = Connection.objects.get()
    assert connection.user == grace
    assert client.session["_auth_user_id"] == str(grace.pk)


def test_google_sign_in_does_not_link_an_unverified_portal_address(client, google):
    mallory_target = get_user_model().objects.create_user(
        "victim", "victim@school.example.edu"
    )
    EmailAddress.objects.create(
        user=mallory_target, email="victim@school.example.edu", verified=False
    )
    google.add_user("g-8", "victim@school.example.edu", name="V", email_verified=True)

    start = client.post("/accounts/google/login/")
    back = google.oauth.approve(start["Location"])
    page = client.get(back.removeprefix("http://testserver"), follow=True)

    assert "_auth_user_id" not in client.session
    assert not Connection.objects.filter(user=mallory_target).exists()
    # Sign-up is closed by default: allauth says so instead of linking.
    assert b"closed" in page.content.lower()
