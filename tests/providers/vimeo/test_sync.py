"""Syncing Vimeo: paging.next followed as given, showcases, videos by id."""

from __future__ import annotations

import pytest

from integrations.models import SyncStatus
from integrations.providers.vimeo.sync import VIDEO_FIELDS
from integrations.sync.runs import run_sync_now
from portal.learning.models import Playlist, PlaylistItem, Video
from tests.providers.vimeo.helpers import (
    Account,
    make_vimeo_integration,
    read_pages,
    read_records,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def big(vimeo) -> Account:
    """An account with 250 videos and a showcase of 130 of them."""
    return Account.build(vimeo, videos=250, showcase=130)


def test_250_videos_come_in_three_pages_following_paging_next(vimeo, big):
    integration = make_vimeo_integration(vimeo, big.token, user_id=big.user_id)

    pages = read_pages(integration)

    path = f"/users/{big.user_id}/videos"
    listing = vimeo.requests_to(path)
    assert [len(page.records) for page in pages] == [100, 100, 50]
    assert len(listing) == 3
    assert listing[0].arg("per_page") == "100"
    assert listing[0].arg("fields") == VIDEO_FIELDS
    for page, following in zip(pages, listing[1:], strict=False):
        assert following.target == page.next_cursor["path"]
        assert following.arg("fields") == VIDEO_FIELDS
    assert pages[-1].next_cursor is None
    ids = [record["external_id"] for page in pages for record in page.records]
    assert ids == big.video_ids


def test_every_call_asks_for_version_3_4_with_a_bearer_token(vimeo, big):
    integration = make_vimeo_integration(vimeo, big.token, user_id=big.user_id)

    read_records(integration)

    for request in vimeo.requests:
        assert request.header("Accept") == "application/vnd.vimeo.*+json;version=3.4"
        assert request.header("Authorization") == f"Bearer {big.token}"


def test_a_stored_cursor_resumes_at_its_page(vimeo, big):
    integration = make_vimeo_integration(vimeo, big.token, user_id=big.user_id)
    first = read_pages(integration)[0]
    vimeo.clear()

    rest = read_pages(integration, cursor=first.next_cursor)

    assert [len(page.records) for page in rest] == [100, 50]
    assert vimeo.requests[0].target == first.next_cursor["path"]
    assert vimeo.requests[0].arg("page") == "2"


def test_a_video_maps_to_the_portal_video(integration, account):
    [first, *_] = read_records(integration)

    assert first["external_id"] == account.video_ids[0]
    assert first["title"] == "Lesson 1"
    assert first["duration_seconds"] == 60
    assert first["thumbnail_url"].endswith("_1920x1080")
    assert first["view_count"] == 10
    assert first["like_count"] is None
    assert first["url"] == f"https://vimeo.com/{account.video_ids[0]}"
    assert first["channel_id"] == account.user_id
    assert first["channel_title"] == "School of Film"
    assert first["remote_updated_at"].isoformat() == "2024-06-01T10:00:00+00:00"
    assert first["published_at"] == first["remote_created_at"]


def test_hidden_plays_read_as_none(db, vimeo, account):
    video = vimeo.add_video(account.user_id, "Quiet", plays=None)
    integration = make_vimeo_integration(
        vimeo, account.token, video_ids=[video["uri"].rsplit("/", 1)[-1]]
    )

    [record] = read_records(integration)

    assert record["view_count"] is None


def test_showcases_become_playlists_with_their_items_in_order(vimeo, big):
    integration = make_vimeo_integration(
        vimeo, big.token, user_id=big.user_id, showcase_ids=[big.showcase]
    )

    [playlist] = read_records(integration, "playlists")
    items = read_pages(integration, "playlist_items")

    assert playlist["external_id"] == big.showcase
    assert playlist["title"] == "Course"
    assert playlist["item_count"] == 130
    assert playlist["privacy_status"] == "public"
    assert playlist["thumbnail_url"].endswith("_960")
    records = [record for page in items for record in page.records]
    assert [record["position"] for record in records] == list(range(130))
    assert [record["video_external_id"] for record in records] == big.video_ids[:130]
    assert records[0]["external_id"] == f"{big.showcase}:{big.video_ids[0]}"
    path = f"/users/{big.user_id}/albums/{big.showcase}/videos"
    assert [request.arg("fields") for request in vimeo.requests_to(path)] == [
        "uri",
        "uri",
    ]


def test_showcases_without_a_user_are_read_under_me(db, vimeo, account):
    integration = make_vimeo_integration(
        vimeo, account.token, showcase_ids=[account.showcase]
    )

    [playlist] = read_records(integration, "playlists")
    videos = read_records(integration, "videos")

    assert playlist["external_id"] == account.showcase
    assert vimeo.count(f"/me/albums/{account.showcase}") == 1
    assert len(videos) == 3
    assert vimeo.count(f"/me/albums/{account.showcase}/videos") == 1
    assert vimeo.count("/me/videos") == 0


def test_user_me_reads_the_tokens_own_videos(db, vimeo, account):
    integration = make_vimeo_integration(vimeo, account.token, user_id="me")

    videos = read_records(integration)

    assert len(videos) == 5
    assert vimeo.count("/me/videos") == 1


def test_single_videos_are_read_by_id_and_a_missing_one_is_a_failure(
    db, vimeo, account
):
    integration = make_vimeo_integration(
        vimeo, account.token, video_ids=[account.video_ids[1], "999999999"]
    )

    pages = read_pages(integration)

    assert [record["title"] for page in pages for record in page.records] == [
        "Lesson 2"
    ]
    [failure] = [failure for page in pages for failure in page.failures]
    assert failure["external_id"] == "999999999"
    assert "Vimeo has no such item" in failure["reason"]
    assert vimeo.count(f"/videos/{account.video_ids[1]}") == 1
    assert vimeo.requests_to("/videos/999999999")[0].arg("fields") == VIDEO_FIELDS


def test_a_missing_showcase_is_a_failure_and_the_others_are_read(db, vimeo, account):
    integration = make_vimeo_integration(
        vimeo, account.token, showcase_ids=["424242", account.showcase]
    )

    playlists = read_pages(integration, "playlists")
    items = read_pages(integration, "playlist_items")

    assert [page.failures[0]["external_id"] for page in playlists[:1]] == ["424242"]
    assert [record["title"] for record in playlists[1].records] == ["Course"]
    assert items[0].failures[0]["external_id"] == "424242"
    assert len(items[1].records) == 3


def test_a_full_sync_stores_playlists_items_and_videos(integration, vimeo, account):
    runs = run_sync_now(integration)

    assert [run.status for run in runs] == [SyncStatus.SUCCEEDED] * 3
    playlist = Playlist.objects.get()
    assert (playlist.external_id, playlist.item_count) == (account.showcase, 3)
    assert PlaylistItem.objects.filter(playlist=playlist).count() == 3
    # The showcase's 3 videos are among the user's 5: each stored once.
    assert Video.objects.count() == 5
    assert Video.objects.get(external_id=account.video_ids[4]).duration_seconds == 64


def test_a_second_sync_marks_a_removed_video_deleted(integration, vimeo, account):
    run_sync_now(integration)
    removed = account.video_ids[4]
    vimeo.users[account.user_id]["_videos"].remove(removed)

    run_sync_now(integration)

    assert Video.objects.get(external_id=removed).deleted_at is not None
    assert Video.objects.filter(deleted_at__isnull=True).count() == 4
