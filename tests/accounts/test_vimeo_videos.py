"""A learner connects Vimeo and their own videos sync with their token.

Against VimeoFake with its OAuth endpoints (``/oauth/authorize``,
``/oauth/access_token``, ``DELETE /tokens``) on the API's host, as at
api.vimeo.com; allauth's Vimeo adapter is pointed at it. The learner has
130 videos (two pages of 100 and 30), one of them private; another Vimeo
user's videos must not reach the learner's integration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.accounts.learner_sync import VIMEO_SCHEDULE, learner_integration_name
from portal.accounts.models import Connection
from portal.learning.models import Video
from tests.accounts.conftest import callback
from tests.accounts.helpers import CLIENT_SECRET, connect, make_app, make_learner
from tests.fakes.vimeo import VimeoFake

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = "vimeo_oauth2"
VIDEOS = 130


@pytest.fixture
def vimeo(site, db, monkeypatch) -> Iterator[VimeoFake]:
    """A Vimeo with an OAuth app, allauth's Vimeo adapter pointed at it."""
    from allauth.socialaccount.providers.vimeo_oauth2.views import VimeoOAuth2Adapter

    with VimeoFake() as fake:
        client = fake.oauth.add_client(
            [callback(PROVIDER)],
            client_id="vimeo-client-id",
            client_secret=CLIENT_SECRET,
        )
        for name, path in {
            "access_token_url": "/oauth/access_token",
            "authorize_url": "/oauth/authorize",
            "profile_url": "/me/",
        }.items():
            monkeypatch.setattr(VimeoOAuth2Adapter, name, fake.url_for(path))
        ada = fake.add_user("Ada Lovelace")
        fake.add_oauth_user(ada)
        for number in range(VIDEOS):
            privacy = "nobody" if number == 0 else "anybody"
            fake.add_video(ada, f"Lecture {number + 1}", privacy=privacy)
        other = fake.add_user("Grace Hopper")
        fake.add_video(other, "Not Ada's")
        make_app(PROVIDER, name="Vimeo", client_id=client.client_id)
        fake.ada = ada
        yield fake


def connected_integration(client, vimeo) -> Integration:
    page = connect(client, vimeo.oauth, PROVIDER)
    assert page.status_code == 200
    connection = Connection.objects.get()
    return Integration.objects.get(name=learner_integration_name(connection))


def test_connecting_vimeo_syncs_the_learners_own_videos(client, ada, vimeo):
    integration = connected_integration(client, vimeo)
    connection = Connection.objects.get()

    assert connection.uid == vimeo.ada
    assert connection.refresh_token.reveal() == ""
    assert integration.provider == "vimeo"
    assert integration.base_url == vimeo.url_for("").rstrip("/")
    assert integration.settings == {"user_id": "me"}
    assert integration.schedule == VIMEO_SCHEDULE
    assert not integration.credentials.exists()
    [authorization] = vimeo.oauth.authorizations
    assert sorted(authorization.scope) == ["private", "public"]
    assert authorization.code_challenge is None

    runs = run_sync_now(integration)

    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    videos = Video.objects.filter(integration=integration)
    assert videos.count() == VIDEOS
    assert not videos.filter(title="Not Ada's").exists()
    assert set(videos.values_list("channel_id", flat=True)) == {vimeo.ada}
    token = connection.access_token.reveal()
    listing = vimeo.requests_to("/me/videos")
    assert [r.arg("page") for r in listing] == [None, "2"]
    assert all(r.header("Authorization") == f"Bearer {token}" for r in listing)
    assert all("version=3.4" in r.header("Accept") for r in listing)


def test_learners_see_their_own_vimeo_videos_only(client, ada, vimeo):
    run_sync_now(connected_integration(client, vimeo))
    other = make_learner("grace", "grace@school.example.edu")
    api = APIClient()

    api.force_authenticate(ada)
    mine = api.get("/api/v1/videos/", {"page_size": 200}).json()
    api.force_authenticate(other)
    theirs = api.get("/api/v1/videos/").json()

    assert len(mine["results"]) == VIDEOS
    assert theirs["results"] == []


def test_a_token_revoked_at_vimeo_asks_the_learner_to_connect_again(client, ada, vimeo):
    integration = connected_integration(client, vimeo)
    vimeo.oauth.revoke(Connection.objects.get().access_token.reveal())

    [playlists, items, videos] = run_sync_now(integration)

    assert videos.status == SyncStatus.FAILED
    assert videos.error_code == "authentication_failed"
    assert "connect Vimeo again" in videos.error_summary
    connection = Connection.objects.get()
    assert connection.needs_reauthorization
    integration.refresh_from_db()
    assert not integration.enabled


def test_disconnecting_revokes_the_token_at_vimeo_and_pauses_the_sync(
    client, ada, vimeo
):
    integration = connected_integration(client, vimeo)
    connection = Connection.objects.get()
    token = connection.access_token.reveal()

    page = client.post(
        f"/accounts/connections/{connection.pk}/disconnect/", follow=True
    )

    assert page.status_code == 200
    [revocation] = vimeo.requests_to("/tokens")
    assert revocation.method == "DELETE"
    assert revocation.header("Authorization") == f"Bearer {token}"
    assert vimeo.oauth.user_for(token) is None
    integration.refresh_from_db()
    assert not integration.enabled
