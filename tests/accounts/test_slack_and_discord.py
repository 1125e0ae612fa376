"""A learner connects Slack and Discord, end to end against loopback fakes.

Slack is Sign in with Slack (OpenID Connect) on SlackSignInFake: authorize,
``openid.connect.token``, ``openid.connect.userInfo`` and ``auth.revoke``,
each Web API refusal an HTTP 200 with ``"ok": false``. Discord is
DiscordOAuthFake: ``/api/oauth2/authorize``, ``/api/oauth2/token``,
``/api/users/@me`` and ``/api/oauth2/token/revoke``. allauth's own Slack
and Discord adapters are pointed at the fakes; the portal's revocation
and refresh read the same adapters' URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from portal.accounts.models import Connection, ConnectionStatus
from portal.accounts.tokens import ReauthorizationRequired, access_token_for
from tests.accounts.conftest import callback
from tests.accounts.helpers import CLIENT_SECRET, connect, make_app, raw_rows
from tests.fakes.discord import DISCORD_TOKEN_LIFETIME, DiscordOAuthFake
from tests.fakes.oauth import basic_credentials
from tests.fakes.server import Reply
from tests.fakes.slack import TEAM, SlackSignInFake

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_TABLES = (
    "accounts_connection",
    "socialaccount_socialaccount",
    "socialaccount_socialtoken",
    "socialaccount_socialapp",
)
ADA_SLACK = "U0ADA0001"
ADA_DISCORD = "80351110224678912"


def point_adapter(monkeypatch, adapter: type, fake, **paths: str) -> None:
    """Set the allauth adapter's URL attributes to paths on ``fake``."""
    for name, path in paths.items():
        monkeypatch.setattr(adapter, name, fake.url_for(path))


@pytest.fixture
def slack(site, db, monkeypatch) -> Iterator[SlackSignInFake]:
    """slack.com with the portal's Slack app and Ada, allauth pointed at it."""
    from allauth.socialaccount.providers.slack.views import SlackOAuth2Adapter

    with SlackSignInFake() as fake:
        client = fake.oauth.add_client(
            [callback("slack")],
            client_id="2141029472.691202649728",
            client_secret=CLIENT_SECRET,
        )
        point_adapter(
            monkeypatch,
            SlackOAuth2Adapter,
            fake,
            access_token_url="/api/openid.connect.token",
            authorize_url="/openid/connect/authorize",
            identity_url="/api/openid.connect.userInfo",
        )
        fake.add_user(ADA_SLACK, "Ada Lovelace", "ada@school.example.edu")
        make_app("slack", name="Slack", client_id=client.client_id)
        yield fake


@pytest.fixture
def discord(site, db, monkeypatch) -> Iterator[DiscordOAuthFake]:
    """discord.com with the portal's application and Ada, allauth pointed at it."""
    from allauth.socialaccount.providers.discord.views import DiscordOAuth2Adapter

    with DiscordOAuthFake() as fake:
        client = fake.oauth.add_client(
            [callback("discord")],
            client_id="1100223344556677889",
            client_secret=CLIENT_SECRET,
        )
        point_adapter(
            monkeypatch,
            DiscordOAuth2Adapter,
            fake,
            access_token_url="/api/oauth2/token",
            authorize_url="/api/oauth2/authorize",
            profile_url="/api/users/@me",
        )
        fake.add_user(
            ADA_DISCORD, "ada.l", global_name="Ada", email="ada@school.example.edu"
        )
        make_app("discord", name="Discord", client_id=client.client_id)
        yield fake


def assert_stored_encrypted_only(*tokens: str) -> None:
    for table in TOKEN_TABLES:
        dumped = repr(raw_rows(table))
        assert all(token not in dumped for token in tokens), table
    assert raw_rows("socialaccount_socialtoken") == []


def disconnect(client, connection: Connection):
    return client.post(
        f"/accounts/connections/{connection.pk}/disconnect/", follow=True
    )


# --- Slack ----------------------------------------------------------------


def test_connecting_slack_signs_in_with_openid_connect(client, ada, slack):
    page = connect(client, slack.oauth, "slack")

    assert page.redirect_chain[-1][0] == "/accounts/connections/"
    assert "Connected as <strong>" in page.content.decode()
    connection = Connection.objects.get()
    assert (connection.provider, connection.uid) == ("slack", f"{TEAM}_{ADA_SLACK}")
    [authorization] = slack.oauth.authorizations
    assert sorted(authorization.scope) == ["email", "openid", "profile"]
    assert authorization.redirect_uri == callback("slack")
    assert authorization.code_challenge is None
    [exchange] = slack.requests_to("/api/openid.connect.token")
    fields = dict(parse_qsl(exchange.body.decode()))
    assert fields["grant_type"] == "authorization_code"
    assert fields["client_id"] == "2141029472.691202649728"
    assert fields["redirect_uri"] == callback("slack")
    token = connection.access_token.reveal()
    [profile] = slack.requests_to("/api/openid.connect.userInfo")
    assert profile.header("Authorization") == f"Bearer {token}"
    account = SocialAccount.objects.get()
    assert account.extra_data["email"] == "ada@school.example.edu"
    # Sign in with Slack's tokens neither expire nor refresh.
    assert connection.expires_at is None
    assert connection.refresh_token.reveal() == ""
    assert_stored_encrypted_only(token)


def test_a_refused_slack_consent_connects_nothing(client, ada, slack):
    page = connect(client, slack.oauth, "slack", deny=True)

    assert "You did not allow the portal access" in page.content.decode()
    assert not Connection.objects.exists()
    assert slack.oauth.counters.token_requests == 0


def test_a_slack_token_refusal_with_http_200_connects_nothing(client, ada, slack):
    # Slack answers a bad code with HTTP 200 and "ok": false, no token.
    slack.oauth.fail_token_endpoint(
        reply=Reply.json({"ok": False, "error": "invalid_code"})
    )

    page = connect(client, slack.oauth, "slack")

    assert page.status_code == 401
    assert "could not exchange the authorization for access" in page.content.decode()
    assert not Connection.objects.exists()


def test_disconnecting_slack_revokes_the_token_with_auth_revoke(client, ada, slack):
    connect(client, slack.oauth, "slack")
    connection = Connection.objects.get()
    token = connection.access_token.reveal()

    page = disconnect(client, connection)

    assert "Slack is disconnected and its access revoked" in page.content.decode()
    [revocation] = slack.requests_to("/api/auth.revoke")
    assert revocation.method == "POST"
    assert revocation.header("Authorization") == f"Bearer {token}"
    assert slack.oauth.user_for(token) is None
    assert not Connection.objects.exists()
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize("failure", ["server_error", "ok_false"])
def test_a_failed_slack_revocation_still_deletes_the_tokens(
    client, ada, slack, caplog, failure
):
    connect(client, slack.oauth, "slack")
    connection = Connection.objects.get()
    token = connection.access_token.reveal()
    if failure == "server_error":
        slack.fail_revocation(status=503)
    else:
        # Revoked by the learner in Slack already: auth.revoke answers
        # HTTP 200 with "ok": false, which is no confirmation.
        slack.oauth.revoke(token)

    page = disconnect(client, connection)

    assert "did not confirm the revocation" in page.content.decode()
    assert slack.count("/api/auth.revoke") == 1
    assert not Connection.objects.exists()
    assert_stored_encrypted_only(token)
    [failed] = [
        r for r in caplog.records if r.msg == "accounts.connection.revoke_failed"
    ]
    assert failed.provider == "slack"
    assert token not in caplog.text


# --- Discord --------------------------------------------------------------


@pytest.fixture
def connected(client, ada, discord) -> Connection:
    """Ada's Discord connection, made through the consent page."""
    connect(client, discord.oauth, "discord")
    return Connection.objects.get()


def test_connecting_discord_stores_the_profile_and_tokens_encrypted(
    client, ada, discord
):
    page = connect(client, discord.oauth, "discord")

    assert page.redirect_chain[-1][0] == "/accounts/connections/"
    connection = Connection.objects.get()
    assert (connection.provider, connection.uid) == ("discord", ADA_DISCORD)
    [authorization] = discord.oauth.authorizations
    assert sorted(authorization.scope) == ["email", "identify"]
    assert authorization.code_challenge is None
    token = connection.access_token.reveal()
    refresh = connection.refresh_token.reveal()
    assert discord.oauth.user_for(token).id == ADA_DISCORD
    assert refresh in discord.oauth.refresh_tokens
    [profile] = discord.requests_to("/api/users/@me")
    assert profile.header("Authorization") == f"Bearer {token}"
    account = SocialAccount.objects.get()
    assert account.extra_data["username"] == "ada.l"
    assert account.extra_data["email"] == "ada@school.example.edu"
    lifetime = timedelta(seconds=DISCORD_TOKEN_LIFETIME)
    assert connection.expires_at > timezone.now() + lifetime - timedelta(minutes=5)
    assert_stored_encrypted_only(token, refresh)


def test_a_refused_discord_consent_connects_nothing(client, ada, discord):
    page = connect(client, discord.oauth, "discord", deny=True)

    assert "You did not allow the portal access" in page.content.decode()
    assert not Connection.objects.exists()


def test_an_expiring_discord_token_is_refreshed_and_the_new_refresh_token_kept(
    connected, discord
):
    old_access = connected.access_token.reveal()
    old_refresh = connected.refresh_token.reveal()
    discord.oauth.clock.advance(DISCORD_TOKEN_LIFETIME)
    Connection.objects.filter(pk=connected.pk).update(expires_at=timezone.now())

    token = access_token_for(connected)

    assert token != old_access
    assert discord.oauth.user_for(token).id == ADA_DISCORD
    [refresh] = discord.requests_to("/api/oauth2/token")[1:]
    fields = dict(parse_qsl(refresh.body.decode()))
    assert fields["grant_type"] == "refresh_token"
    assert fields["refresh_token"] == old_refresh
    connected.refresh_from_db()
    new_refresh = connected.refresh_token.reveal()
    assert new_refresh != old_refresh
    assert discord.oauth.refresh_tokens[old_refresh].revoked
    assert connected.token_version == 2
    assert_stored_encrypted_only(token, new_refresh)


def test_a_refused_discord_refresh_asks_the_learner_to_reconnect(
    connected, discord, client
):
    discord.oauth.refuse_refresh()
    Connection.objects.filter(pk=connected.pk).update(expires_at=timezone.now())

    with pytest.raises(ReauthorizationRequired):
        access_token_for(connected)

    connected.refresh_from_db()
    assert connected.status == ConnectionStatus.NEEDS_REAUTHORIZATION
    assert "invalid_grant" in connected.status_message
    page = client.get("/accounts/connections/").content.decode()
    assert "Needs re-authorization" in page


def test_disconnecting_discord_revokes_with_the_client_credentials(
    connected, discord, client
):
    access = connected.access_token.reveal()
    refresh = connected.refresh_token.reveal()

    page = disconnect(client, connected)

    assert "Discord is disconnected and its access revoked" in page.content.decode()
    [revocation] = discord.requests_to("/api/oauth2/token/revoke", "POST")
    assert basic_credentials(revocation) == ("1100223344556677889", CLIENT_SECRET)
    assert dict(parse_qsl(revocation.body.decode())) == {
        "token": access,
        "token_type_hint": "access_token",
    }
    assert discord.oauth.user_for(access) is None
    assert discord.oauth.refresh_tokens[refresh].revoked
    assert not Connection.objects.exists()


def test_a_failed_discord_revocation_still_deletes_the_tokens(
    connected, discord, client, caplog
):
    access = connected.access_token.reveal()
    refresh = connected.refresh_token.reveal()
    discord.fail_revocation(status=502)

    page = disconnect(client, connected)

    assert "did not confirm the revocation" in page.content.decode()
    assert discord.oauth.user_for(access) is not None
    assert not Connection.objects.exists()
    assert_stored_encrypted_only(access, refresh)
    assert any(r.msg == "accounts.connection.revoke_failed" for r in caplog.records)
    assert access not in caplog.text and refresh not in caplog.text
