"""The YouTube provider's streams against YouTubeFake: records, pages, passes."""

from __future__ import annotations

import pytest

from integrations.models import SyncStatus
from integrations.providers.base import StreamContext
from integrations.registry import get_provider
from integrations.sync.runs import run_sync_now
from portal.learning.models import Playlist, PlaylistItem, Video
from tests.providers.youtube.helpers import (
    Channel,
    make_youtube_integration,
    read_pages,
    read_records,
)

pytestmark = pytest.mark.django_db


def test_a_playlist_becomes_a_record(integration, channel):
    records = {record["external_id"]: record for record in read_records(integration)}

    course = records[channel.course]
    assert course["title"] == "Course"
    assert course["description"] == "Lessons"
    assert course["channel_id"] == channel.channel_id
    assert course["channel_title"] == "School Channel"
    assert course["privacy_status"] == "public"
    assert course["item_count"] == 7
    assert course["published_at"].isoformat() == "2024-01-15T10:00:00+00:00"
    assert set(records) == {channel.course, channel.extra}


def test_the_api_key_is_sent_as_the_key_parameter_only(integration, youtube, api_key):
    read_records(integration)

    [request] = youtube.requests_to("/youtube/v3/playlists")
    assert request.arg("key") == api_key
    assert request.header("Authorization") is None
    assert request.arg("part") == "snippet,contentDetails,status"
    assert request.arg("maxResults") == "50"


def test_a_sync_stores_playlists_items_and_videos(integration, channel):
    runs = run_sync_now(integration)

    assert [run.stream for run in runs] == ["playlists", "playlist_items", "videos"]
    assert all(run.status == SyncStatus.SUCCEEDED for run in runs)
    assert [run.created for run in runs] == [2, 9, 9]
    course = Playlist.objects.get(external_id=channel.course)
    positions = list(course.items.values_list("video_external_id", "position"))
    assert positions == [
        (video_id, n) for n, video_id in enumerate(channel.video_ids[:7])
    ]
    first = Video.objects.get(external_id=channel.video_ids[0])
    assert first.title == "Lesson 1"
    assert first.duration_seconds == 3723
    assert first.view_count == 100
    assert first.like_count == 0
    assert first.comment_count == 0
    assert first.thumbnail_url.endswith("/hqdefault.jpg")
    assert first.url == f"https://www.youtube.com/watch?v={channel.video_ids[0]}"
    assert first.channel_title == "School Channel"


def test_playlist_items_follow_next_page_tokens(db, youtube, api_key):
    channel = Channel.build(youtube, course=120, extra=0)
    integration = make_youtube_integration(
        youtube, api_key, playlist_ids=[channel.course]
    )
    run_sync_now(integration)

    pages = read_pages(integration, "playlist_items")

    assert [len(page.records) for page in pages] == [50, 50, 20]
    assert pages[-1].next_cursor is None
    listing = youtube.requests_to("/youtube/v3/playlistItems")
    assert [r.arg("pageToken") is None for r in listing[-3:]] == [True, False, False]
    assert all(r.arg("maxResults") == "50" for r in listing)
    # 120 videos: details in three calls of at most 50 ids.
    videos = youtube.requests_to("/youtube/v3/videos")[:3]
    assert [len(r.arg("id").split(",")) for r in videos] == [50, 50, 20]


def test_a_stored_cursor_resumes_at_its_page(db, youtube, api_key):
    channel = Channel.build(youtube, course=120, extra=0)
    integration = make_youtube_integration(
        youtube, api_key, playlist_ids=[channel.course]
    )
    run_sync_now(integration)
    first, second, _ = read_pages(integration, "playlist_items")
    youtube.clear()

    resumed = read_pages(integration, "playlist_items", first.next_cursor)

    assert [len(page.records) for page in resumed] == [50, 20]
    assert resumed[0].records == second.records
    assert youtube.count("/youtube/v3/playlistItems") == 2


def test_a_channel_lists_its_public_playlists(db, youtube, api_key, channel):
    youtube.add_playlist(channel.channel_id, "Drafts", privacy_status="private")
    integration = make_youtube_integration(
        youtube, api_key, channel_id=channel.channel_id
    )

    records = read_records(integration)

    assert {record["title"] for record in records} == {"Course", "Extras"}
    [request] = youtube.requests_to("/youtube/v3/playlists")
    assert request.arg("channelId") == channel.channel_id


def test_an_unknown_playlist_id_is_a_failure_and_the_rest_is_read(
    db, youtube, api_key, channel
):
    integration = make_youtube_integration(
        youtube, api_key, playlist_ids=[channel.course, "PLgone"]
    )

    [page] = read_pages(integration)

    assert [record["external_id"] for record in page.records] == [channel.course]
    assert page.failures == [
        {
            "external_id": "PLgone",
            "reason": "playlist_ids: YouTube has no such playlist, or it is private",
        }
    ]


def test_a_playlist_that_vanished_is_a_failure_and_the_others_are_read(
    integration, youtube, channel
):
    run_sync_now(integration)
    # Deleted at YouTube after the playlists run stored it.
    del youtube.playlists[channel.course]

    pages = read_pages(integration, "playlist_items")

    failed = [page for page in pages if page.failures]
    assert len(failed) == 1
    assert failed[0].failures[0]["external_id"] == channel.course
    assert "playlistNotFound" in failed[0].failures[0]["reason"]
    records = [record for page in pages for record in page.records]
    assert {record["playlist_external_id"] for record in records} == {channel.extra}
    assert pages[-1].next_cursor is None


def test_a_playlist_removed_at_youtube_is_marked_deleted_with_its_videos(
    integration, youtube, channel
):
    run_sync_now(integration)
    del youtube.playlists[channel.course]

    playlists, items, videos = run_sync_now(integration)

    assert (playlists.deleted, playlists.failed) == (1, 1)
    assert items.deleted == 7
    assert videos.deleted == 7
    live = Video.objects.filter(integration=integration, deleted_at__isnull=True)
    assert set(live.values_list("external_id", flat=True)) == set(channel.video_ids[7:])


def test_a_second_sync_is_unchanged_and_revalidates_with_etags(
    integration, youtube, channel
):
    run_sync_now(integration)
    youtube.clear()

    runs = run_sync_now(integration)

    assert [(run.created, run.updated, run.deleted) for run in runs] == [(0, 0, 0)] * 3
    assert [run.unchanged for run in runs] == [2, 9, 9]
    assert youtube.requests
    assert all(r.header("If-None-Match") for r in youtube.requests)
    assert {r.path for r in youtube.requests} == {
        "/youtube/v3/playlists",
        "/youtube/v3/playlistItems",
        "/youtube/v3/videos",
    }


def test_a_changed_video_is_updated_and_a_removed_one_marked_deleted(
    integration, youtube, channel
):
    run_sync_now(integration)
    youtube.update_video(channel.video_ids[1], title="Lesson 2, revised")
    youtube.playlist_items[channel.extra].pop()

    _, items, videos = run_sync_now(integration)

    assert items.deleted == 1
    assert (videos.updated, videos.deleted) == (1, 1)
    assert Video.objects.get(external_id=channel.video_ids[1]).title == (
        "Lesson 2, revised"
    )
    gone = Video.objects.get(external_id=channel.video_ids[-1])
    assert gone.deleted_at is not None
    assert PlaylistItem.objects.filter(deleted_at__isnull=False).count() == 1


def test_a_video_with_a_bad_duration_is_a_failure_and_the_rest_is_stored(
    integration, youtube, channel
):
    youtube.videos[channel.video_ids[2]]["contentDetails"]["duration"] = "4 minutes"

    _, _, videos = run_sync_now(integration)

    assert videos.status == SyncStatus.SUCCEEDED
    assert (videos.created, videos.failed) == (8, 1)
    [failure] = videos.failures
    assert failure["external_id"] == channel.video_ids[2]
    assert (
        "contentDetails.duration: '4 minutes' is not an ISO 8601" in failure["reason"]
    )


def test_missing_counts_are_stored_as_unknown(integration, youtube, channel):
    statistics = youtube.videos[channel.video_ids[0]]["statistics"]
    del statistics["likeCount"], statistics["commentCount"]
    youtube.videos[channel.video_ids[1]]["contentDetails"]["duration"] = "P0D"

    run_sync_now(integration)

    first = Video.objects.get(external_id=channel.video_ids[0])
    assert (first.view_count, first.like_count, first.comment_count) == (
        100,
        None,
        None,
    )
    assert Video.objects.get(external_id=channel.video_ids[1]).duration_seconds == 0


def test_a_private_video_in_a_playlist_is_a_failure_of_the_videos_run(
    integration, youtube, channel
):
    del youtube.videos[channel.video_ids[3]]

    _, items, videos = run_sync_now(integration)

    assert items.created == 9
    assert (videos.created, videos.failed) == (8, 1)
    assert videos.failures[0]["external_id"] == channel.video_ids[3]


def test_a_preview_reads_the_ids_on_one_page_and_pages_a_channel(
    db, youtube, api_key, channel
):
    integration = make_youtube_integration(
        youtube,
        api_key,
        playlist_ids=[channel.course, channel.extra],
        channel_id=channel.channel_id,
    )
    provider = get_provider("youtube")
    context = StreamContext(
        integration, provider.build_client(integration), {}, page_limit=1
    )

    pages = list(provider.stream(integration, "playlists").pages(context, None))

    assert [len(page.records) for page in pages] == [2, 1, 1]
    assert all(not page.failures for page in pages)
    assert [page.next_cursor for page in pages][-1] is None
    assert pages[0].next_cursor == {"source": 1, "page": None}
