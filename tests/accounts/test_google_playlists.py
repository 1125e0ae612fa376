"""A learner connects Google and their YouTube playlists sync with their token.

Against GoogleFake (the OAuth flow with the youtube.readonly scope) and
YouTubeFake, which accepts exactly the access tokens GoogleFake issued and
has not expired or revoked, for the scope's owner's channel. The learner's
channel has a playlist of 120 videos (three pages of items), a short one
and a private one that only their own token shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from rest_framework.test import APIClient

from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.accounts.learner_sync import YOUTUBE_SCHEDULE, learner_integration_name
from portal.accounts.models import Connection
from portal.learning.models import Playlist, PlaylistItem, Video
from tests.accounts.helpers import connect, make_learner
from tests.fakes.google import GoogleFake
from tests.fakes.youtube import YouTubeFake

pytestmark = pytest.mark.django_db(transaction=True)

YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube.readonly"
LONG = 120


def google_channels(
    google: GoogleFake, channels: dict[str, str]
) -> Callable[[str], str | None]:
    """Resolve a live GoogleFake token with the YouTube scope to its user's channel."""

    def resolve(token: str) -> str | None:
        user = google.oauth.user_for(token)
        if user is None or YOUTUBE_SCOPE not in google.oauth.scope_of(token):
            return None
        return channels.get(str(user.id))

    return resolve


@pytest.fixture
def ada(client):
    learner = make_learner()
    client.force_login(learner)
    return learner


@pytest.fixture
def youtube(settings, google) -> Iterator[YouTubeFake]:
    """A YouTube whose learner channel has a long, a short and a private playlist."""
    with YouTubeFake() as fake:
        settings.PORTAL_YOUTUBE_API_URL = fake.api_url
        channel = fake.add_channel("Ada's channel")
        fake.accept_tokens_from(google_channels(google, {"g-42": channel}))
        google.add_user("g-42", "ada@school.example.edu", name="Ada Lovelace")
        long = fake.add_playlist(channel, "Lectures")["id"]
        short = fake.add_playlist(channel, "Favourites")["id"]
        private = fake.add_playlist(channel, "Notes", privacy_status="private")["id"]
        for number in range(LONG):
            video = fake.add_video(channel, f"Lecture {number + 1}")
            fake.add_to_playlist(long, video["id"])
            if number < 3:
                fake.add_to_playlist(short, video["id"])
        fake.add_to_playlist(private, fake.add_video(channel, "Draft")["id"])
        yield fake


def connected_integration(client, google) -> Integration:
    connect(client, google.oauth, "google")
    connection = Connection.objects.get()
    return Integration.objects.get(name=learner_integration_name(connection))


def test_connecting_google_syncs_the_learners_playlists(client, ada, google, youtube):
    integration = connected_integration(client, google)

    assert integration.provider == "youtube"
    assert integration.base_url == youtube.api_url
    assert integration.settings == {"mine": True}
    assert integration.schedule == YOUTUBE_SCHEDULE
    assert not integration.credentials.exists()

    runs = run_sync_now(integration)

    assert all(run.status == SyncStatus.SUCCEEDED for run in runs)
    assert [run.created for run in runs] == [3, LONG + 3 + 1, LONG + 1]
    titles = set(Playlist.objects.values_list("title", flat=True))
    assert titles == {"Lectures", "Favourites", "Notes"}
    assert Playlist.objects.get(title="Notes").privacy_status == "private"
    lectures = Playlist.objects.get(title="Lectures")
    assert lectures.items.count() == LONG
    assert lectures.items.order_by("-position").first().position == LONG - 1
    token = Connection.objects.get().access_token.reveal()
    items = youtube.requests_to("/youtube/v3/playlistItems")
    assert len(items) == 3 + 1 + 1  # 120 in three pages of 50, then one each
    assert all(r.header("Authorization") == f"Bearer {token}" for r in youtube.requests)
    assert all(r.arg("key") is None for r in youtube.requests)
    assert youtube.requests_to("/youtube/v3/playlists")[0].arg("mine") == "true"


def test_a_second_sync_finds_everything_unchanged(client, ada, google, youtube):
    integration = connected_integration(client, google)
    run_sync_now(integration)
    youtube.clear()

    runs = run_sync_now(integration)

    assert [(run.created, run.updated, run.deleted) for run in runs] == [(0, 0, 0)] * 3
    assert [run.unchanged for run in runs] == [3, LONG + 4, LONG + 1]


def test_an_expired_token_is_refreshed_through_the_connection(
    client, ada, google, youtube
):
    integration = connected_integration(client, google)
    run_sync_now(integration)
    first = Connection.objects.get().access_token.reveal()
    google.oauth.expire_tokens()
    youtube.clear()

    runs = run_sync_now(integration)

    assert all(run.status == SyncStatus.SUCCEEDED for run in runs)
    assert google.oauth.counters.refreshes == 1
    renewed = Connection.objects.get().access_token.reveal()
    assert renewed != first
    refused, *rest = youtube.requests
    assert refused.header("Authorization") == f"Bearer {first}"
    assert all(r.header("Authorization") == f"Bearer {renewed}" for r in rest)


def test_a_token_without_the_youtube_scope_fails_with_a_reconnect_message(
    client, ada, google, youtube
):
    from portal.accounts.models import ProviderApp

    ProviderApp.objects.filter(provider="google").update(scopes="openid email profile")
    integration = connected_integration(client, google)

    playlists, *_ = run_sync_now(integration)

    assert playlists.status == SyncStatus.FAILED
    assert playlists.error_code == "authentication_failed"
    assert "connect Google again" in playlists.error_summary


def test_learners_see_their_own_playlists_and_the_schools_not_others(
    client, ada, google, youtube
):
    integration = connected_integration(client, google)
    run_sync_now(integration)
    other = make_learner("grace", "grace@school.example.edu")
    api = APIClient()

    api.force_authenticate(ada)
    mine = api.get("/api/v1/playlists/").json()
    videos = api.get("/api/v1/videos/", {"page_size": 200}).json()
    api.force_authenticate(other)
    theirs = api.get("/api/v1/playlists/").json()
    their_videos = api.get("/api/v1/videos/").json()

    assert {row["title"] for row in mine["results"]} == {
        "Lectures",
        "Favourites",
        "Notes",
    }
    assert len(videos["results"]) == LONG + 1
    assert theirs["results"] == [] == their_videos["results"]
    assert PlaylistItem.objects.count() == LONG + 4
    assert Video.objects.count() == LONG + 1
