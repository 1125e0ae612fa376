"""The OAuth flows' guards: state, redirect URIs, rate limits, stored secrets."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.db import connection as db_connection

from portal.accounts.models import Connection, ProviderApp
from tests.accounts.helpers import CLIENT_SECRET, make_app, make_learner

pytestmark = pytest.mark.django_db


@pytest.fixture
def learner_client(client):
    learner = make_learner()
    client.force_login(learner)
    return client


def start_connect(client, provider: str = "github", **extra):
    """Start connecting ``provider``; return the authorize URL's query."""
    response = client.post(f"/accounts/{provider}/login/?process=connect", **extra)
    assert response.status_code == 302, response.content[:500]
    return parse_qs(urlsplit(response["Location"]).query)


def test_redirect_uri_comes_from_the_site_url_not_the_host_header(
    learner_client, settings
):
    settings.PORTAL_SITE_URL = "https://portal.school.example.edu"
    settings.ALLOWED_HOSTS = ["portal.school.example.edu", "evil.example.com"]
    make_app("github")

    query = start_connect(learner_client, HTTP_HOST="evil.example.com")

    assert query["redirect_uri"] == [
        "https://portal.school.example.edu/accounts/github/login/callback/"
    ]
    assert query["state"][0]


def test_pkce_is_sent_where_the_service_supports_it(learner_client):
    make_app("github")

    query = start_connect(learner_client)

    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43


@pytest.mark.parametrize(
    "state",
    [None, "not-a-state-this-browser-started"],
    ids=["missing", "foreign"],
)
def test_a_callback_without_its_own_state_is_refused_and_changes_nothing(
    learner_client, state
):
    make_app("github")
    start_connect(learner_client)
    query = {"code": "some-code"}
    if state:
        query["state"] = state

    response = learner_client.get("/accounts/github/login/callback/", query)

    assert response.status_code == 401
    assert b"This sign-in link is not valid" in response.content
    assert not SocialAccount.objects.exists()
    assert not Connection.objects.exists()


def test_a_state_cannot_be_used_twice(learner_client):
    make_app("github")
    state = start_connect(learner_client)["state"][0]
    # The first callback reports a refusal; that still spends the state.
    learner_client.get(
        "/accounts/github/login/callback/", {"state": state, "error": "server_error"}
    )

    again = learner_client.get(
        "/accounts/github/login/callback/", {"state": state, "code": "a-code"}
    )

    assert again.status_code == 401
    assert b"This sign-in link is not valid" in again.content
    assert not Connection.objects.exists()


def test_a_refused_consent_says_so(learner_client):
    make_app("github")
    state = start_connect(learner_client)["state"][0]

    response = learner_client.get(
        "/accounts/github/login/callback/",
        {"state": state, "error": "access_denied"},
        follow=True,
    )

    assert b"You did not allow the portal access" in response.content
    assert not Connection.objects.exists()


def test_connecting_needs_a_post(learner_client):
    make_app("github")

    response = learner_client.get("/accounts/github/login/?process=connect")

    # allauth shows a confirmation page instead of redirecting on a GET, so a
    # link on another site cannot start a connection.
    assert response.status_code == 200
    assert "Location" not in response


def test_starting_connections_is_rate_limited(learner_client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"oauth_start": "3/m/user"}
    make_app("github")

    statuses = [
        learner_client.post("/accounts/github/login/?process=connect").status_code
        for _ in range(5)
    ]

    assert statuses == [302, 302, 302, 429, 429]


def test_callbacks_are_rate_limited(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"oauth_callback": "2/m/ip"}
    make_app("github")

    statuses = [
        client.get("/accounts/github/login/callback/", {"state": "x"}).status_code
        for _ in range(4)
    ]

    assert statuses == [401, 401, 429, 429]


def test_the_client_secret_is_stored_encrypted():
    make_app("github")

    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM accounts_providerapp")
        (stored,) = cursor.fetchone()

    assert CLIENT_SECRET not in stored
    assert ProviderApp.objects.get().secret.reveal() == CLIENT_SECRET


def test_allauth_plaintext_tables_are_not_in_the_admin(admin_client):
    response = admin_client.get("/admin/")

    assert b"/admin/socialaccount/socialapp/" not in response.content
    assert b"/admin/socialaccount/socialtoken/" not in response.content
    assert b"/admin/accounts/providerapp/" in response.content


def test_signing_in_through_a_service_is_limited_per_address(client, settings):
    # Anonymous: the per-user part of the limit cannot apply, the per-address
    # part does.
    settings.ACCOUNT_RATE_LIMITS = {"oauth_start": "2/m/ip,1/m/user"}
    make_app("github")

    statuses = [client.post("/accounts/github/login/").status_code for _ in range(3)]

    assert statuses == [302, 302, 429]
