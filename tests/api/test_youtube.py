"""/api/v1/playlists/ and /api/v1/videos/: fields, filters, scope."""

from __future__ import annotations

import pytest

from tests.api.helpers import list_rows

SYNCED = {"id", "integration", "external_id", "updated_at", "deleted_at"}
PLAYLIST_FIELDS = SYNCED | {
    "title",
    "description",
    "channel_id",
    "channel_title",
    "privacy_status",
    "item_count",
    "thumbnail_url",
    "published_at",
}
VIDEO_FIELDS = SYNCED | {
    "title",
    "description",
    "channel_id",
    "channel_title",
    "duration_seconds",
    "thumbnail_url",
    "view_count",
    "like_count",
    "comment_count",
    "published_at",
    "url",
}


def test_lists_show_the_contract_fields(world, client_for):
    client = client_for(world.staff)

    playlists = list_rows(client, "playlists")
    videos = list_rows(client, "videos")

    assert {row["external_id"] for row in playlists} == {"PLschool", "PLa", "PLb"}
    assert {row["external_id"] for row in videos} == {"vid-s1", "vid-a1", "vid-b1"}
    assert all(set(row) == PLAYLIST_FIELDS for row in playlists)
    assert all(set(row) == VIDEO_FIELDS for row in videos)
    school = next(row for row in videos if row["external_id"] == "vid-s1")
    assert school["integration"] == "youtube-school"
    assert school["duration_seconds"] == 253
    assert school["view_count"] is None
    assert school["url"] == "https://www.youtube.com/watch?v=vid-s1"


@pytest.mark.parametrize(("learner", "own"), [("a", "PLa"), ("b", "PLb")])
def test_a_learner_sees_the_schools_and_their_own_never_anothers(
    world, client_for, learner, own
):
    me = getattr(world, f"learner_{learner}")
    other = world.playlist_b if learner == "a" else world.playlist_a
    other_video = world.video_b if learner == "a" else world.video_a
    client = client_for(me)

    playlists = {row["external_id"] for row in list_rows(client, "playlists")}
    videos = {row["external_id"] for row in list_rows(client, "videos")}

    assert playlists == {"PLschool", own}
    assert videos == {"vid-s1", f"vid-{learner}1"}
    assert client.get(f"/api/v1/playlists/{other.pk}/").status_code == 404
    assert client.get(f"/api/v1/videos/{other_video.pk}/").status_code == 404


def test_videos_filter_by_playlist(world, client_for):
    client = client_for(world.learner_a)

    school = list_rows(client, "videos", playlist=world.playlist_school.pk)
    with_deleted = list_rows(
        client, "videos", playlist=world.playlist_school.pk, include_deleted="true"
    )
    others = list_rows(client, "videos", playlist=world.playlist_b.pk)

    assert [row["external_id"] for row in school] == ["vid-s1"]
    assert {row["external_id"] for row in with_deleted} == {"vid-s1", "vid-s2"}
    assert others == []


def test_a_bad_playlist_id_is_a_400_naming_the_parameter(world, client_for):
    response = client_for(world.staff).get("/api/v1/videos/", {"playlist": "x"})

    assert response.status_code == 400
    assert "playlist" in response.json()["details"]


def test_filters_by_integration_privacy_and_updated_since(world, client_for):
    client = client_for(world.staff)

    school = list_rows(client, "playlists", integration="youtube-school")
    private = list_rows(client, "playlists", privacy_status="private")
    future = list_rows(client, "videos", updated_since="2999-01-01T00:00:00Z")

    assert [row["external_id"] for row in school] == ["PLschool"]
    assert {row["external_id"] for row in private} == {"PLa", "PLb"}
    assert future == []


def test_anonymous_requests_read_nothing(world, client_for):
    for resource in ("playlists", "videos"):
        assert client_for().get(f"/api/v1/{resource}/").status_code in (401, 403)
