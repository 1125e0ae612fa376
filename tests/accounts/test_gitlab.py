"""A learner connects a self-hosted GitLab, end to end against GitLabFake.

The GitLab is the fake at its own address under ``/gitlab`` (a relative URL
root), set as the provider app's base URL, exactly as an admin sets up a
self-managed instance: allauth's GitLab provider reads it from the app's
``gitlab_url`` setting (portal/accounts/adapter.py), the portal's refresh and
revocation from ``ProviderApp.base_url`` (portal/accounts/services.py).
Nothing is patched: no URL of gitlab.com is read at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from portal.accounts.models import Connection, ConnectionStatus
from portal.accounts.tokens import (
    ReauthorizationRequired,
    access_token_for,
    renew_after_rejection,
)
from tests.accounts.helpers import (
    CLIENT_SECRET,
    connect,
    make_app,
    make_learner,
    raw_rows,
)
from tests.fakes.gitlab import GitLabFake

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACK = "http://testserver/accounts/gitlab/login/callback/"
TOKEN_TABLES = (
    "accounts_connection",
    "socialaccount_socialaccount",
    "socialaccount_socialtoken",
    "socialaccount_socialapp",
)


@contextmanager
def self_hosted_gitlab(prefix: str) -> Iterator[GitLabFake]:
    """Serve a GitLab at ``prefix`` with the portal's application and Ada.

    The provider app names the fake's address as the instance's base URL.
    """
    with GitLabFake(prefix=prefix) as fake:
        client = fake.oauth.add_client(
            [CALLBACK], client_id="gitlab-application-id", client_secret=CLIENT_SECRET
        )
        fake.add_user(
            4242, "ada.l", name="Ada Lovelace", email="ada@school.example.edu"
        )
        make_app("gitlab", client_id=client.client_id, base_url=fake.base_url)
        yield fake


@pytest.fixture
def gitlab(site, db) -> Iterator[GitLabFake]:
    """A self-managed GitLab under ``/gitlab`` on its own host."""
    with self_hosted_gitlab("/gitlab") as fake:
        yield fake


@pytest.fixture
def signed_in(client):
    client.force_login(make_learner())
    return client


@pytest.fixture
def connected(signed_in, gitlab) -> Connection:
    """Ada's GitLab connection, made through the consent page."""
    connect(signed_in, gitlab.oauth, "gitlab")
    return Connection.objects.get()


def expire_everywhere(gitlab: GitLabFake, connection: Connection) -> None:
    """Let two hours pass at GitLab, and tell the portal its token is due."""
    gitlab.oauth.clock.advance(7200)
    Connection.objects.filter(pk=connection.pk).update(expires_at=timezone.now())


def test_the_authorize_redirect_goes_to_the_self_hosted_gitlab(signed_in, gitlab):
    start = signed_in.post("/accounts/gitlab/login/?process=connect")

    location = start["Location"]
    assert location.startswith(f"{gitlab.url}/gitlab/oauth/authorize?")
    assert "gitlab.com" not in location
    params = dict(parse_qsl(location.partition("?")[2]))
    assert params["client_id"] == "gitlab-application-id"
    assert params["redirect_uri"] == CALLBACK
    assert params["response_type"] == "code"
    assert set(params["scope"].split()) == {"read_user", "read_api"}
    assert params["state"]
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43


def test_connecting_stores_the_profile_and_tokens_encrypted_only(signed_in, gitlab):
    page = connect(signed_in, gitlab.oauth, "gitlab")

    assert page.redirect_chain[-1][0] == "/accounts/connections/"
    assert "Connected as <strong>" in page.content.decode()
    connection = Connection.objects.get()
    assert (connection.provider, connection.uid) == ("gitlab", "4242")
    account = SocialAccount.objects.get()
    assert account.extra_data["username"] == "ada.l"
    assert account.extra_data["web_url"] == f"{gitlab.url}/gitlab/ada.l"
    # The profile came from the instance's API with the new token.
    [profile] = gitlab.requests_to("/gitlab/api/v4/user")
    token = connection.access_token.reveal()
    assert profile.arg("access_token") == token
    # The code went back with the PKCE verifier of the S256 challenge.
    [authorization] = gitlab.oauth.authorizations
    assert authorization.code_challenge_method == "S256"
    assert gitlab.oauth.counters.exchanges == 1
    [exchange] = gitlab.requests_to("/gitlab/oauth/token")
    assert "code_verifier" in dict(parse_qsl(exchange.body.decode()))

    refresh_token = connection.refresh_token.reveal()
    assert gitlab.oauth.user_for(token).id == 4242
    assert refresh_token in gitlab.oauth.refresh_tokens
    assert connection.expires_at > timezone.now() + timedelta(minutes=110)
    for table in TOKEN_TABLES:
        dumped = repr(raw_rows(table))
        assert token not in dumped and refresh_token not in dumped, table
    assert raw_rows("socialaccount_socialtoken") == []


def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_kept(
    connected, gitlab
):
    old_access = connected.access_token.reveal()
    old_refresh = connected.refresh_token.reveal()
    expire_everywhere(gitlab, connected)

    token = access_token_for(connected)

    assert token != old_access
    assert gitlab.oauth.user_for(token).id == 4242
    assert gitlab.oauth.user_for(old_access) is None
    [refresh] = gitlab.requests_to("/gitlab/oauth/token")[1:]
    fields = dict(parse_qsl(refresh.body.decode()))
    assert fields["grant_type"] == "refresh_token"
    assert fields["client_id"] == "gitlab-application-id"
    connected.refresh_from_db()
    # GitLab retired the refresh token it was given and sent a new one.
    assert gitlab.oauth.refresh_tokens[old_refresh].revoked
    new_refresh = connected.refresh_token.reveal()
    assert new_refresh != old_refresh
    assert not gitlab.oauth.refresh_tokens[new_refresh].revoked
    assert connected.token_version == 2
    assert connected.expires_at > timezone.now() + timedelta(minutes=110)
    assert new_refresh not in repr(raw_rows("accounts_connection"))


def test_a_token_gitlab_stopped_accepting_is_renewed_once(connected, gitlab):
    old_access = connected.access_token.reveal()
    gitlab.oauth.expire_tokens()

    renewed = renew_after_rejection(connected, connected.token_version)

    assert renewed is True
    token = access_token_for(connected)
    assert token != old_access
    assert gitlab.oauth.counters.refreshes == 1
    assert gitlab.oauth.user_for(token) is not None


def test_a_refused_refresh_asks_the_learner_to_reconnect(connected, gitlab, signed_in):
    gitlab.oauth.refuse_refresh()
    expire_everywhere(gitlab, connected)

    with pytest.raises(ReauthorizationRequired):
        access_token_for(connected)

    connected.refresh_from_db()
    assert connected.status == ConnectionStatus.NEEDS_REAUTHORIZATION
    assert "invalid_grant" in connected.status_message
    page = signed_in.get("/accounts/connections/").content.decode()
    assert "Needs re-authorization" in page


def test_an_application_the_learner_revoked_in_gitlab_needs_reconnecting(
    connected, gitlab
):
    # "Authorized applications" > Revoke in the learner's GitLab settings.
    user = gitlab.oauth.users["4242"]
    gitlab.oauth.revoke_grant("gitlab-application-id", user)
    expire_everywhere(gitlab, connected)

    with pytest.raises(ReauthorizationRequired):
        access_token_for(connected)

    connected.refresh_from_db()
    assert connected.needs_reauthorization
    assert gitlab.oauth.counters.failed_refreshes == 1


def test_disconnect_revokes_with_the_application_credentials(
    connected, gitlab, signed_in
):
    access = connected.access_token.reveal()
    refresh = connected.refresh_token.reveal()

    page = signed_in.post(
        f"/accounts/connections/{connected.pk}/disconnect/", follow=True
    )

    assert "disconnected and its access revoked" in page.content.decode()
    [revocation] = gitlab.requests_to("/gitlab/oauth/revoke", "POST")
    assert dict(parse_qsl(revocation.body.decode())) == {
        "client_id": "gitlab-application-id",
        "client_secret": CLIENT_SECRET,
        "token": access,
    }
    assert gitlab.oauth.user_for(access) is None
    assert gitlab.oauth.refresh_tokens[refresh].revoked
    assert not Connection.objects.exists()
    assert not SocialAccount.objects.exists()


def test_a_failed_revocation_still_deletes_the_tokens(
    connected, gitlab, signed_in, caplog
):
    access = connected.access_token.reveal()
    gitlab.fail_revocation(status=500)

    page = signed_in.post(
        f"/accounts/connections/{connected.pk}/disconnect/", follow=True
    )

    assert "did not confirm the revocation" in page.content.decode()
    assert gitlab.count("/gitlab/oauth/revoke") == 1
    # GitLab still honours the token; the portal holds it no more.
    assert gitlab.oauth.user_for(access) is not None
    assert not Connection.objects.exists()
    for table in TOKEN_TABLES:
        assert access not in repr(raw_rows(table)), table
    assert any(r.msg == "accounts.connection.revoke_failed" for r in caplog.records)


def test_a_gitlab_at_the_root_of_its_host_connects_too(site, signed_in):
    with self_hosted_gitlab("") as gitlab:
        connect(signed_in, gitlab.oauth, "gitlab")
        connection = Connection.objects.get()
        token = connection.access_token.reveal()
        expire_everywhere(gitlab, connection)

        renewed = access_token_for(connection)

        assert gitlab.count("/api/v4/user") == 1
        assert renewed != token
        assert gitlab.oauth.user_for(renewed).login == "ada.l"
