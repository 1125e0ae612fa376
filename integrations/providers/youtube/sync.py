"""The YouTube provider's streams: playlists, playlist_items and videos.

``playlists`` lists the integration's playlists (``playlists.list`` by
``id``, by ``channelId`` or ``mine=true``); ``playlist_items`` walks each
stored playlist's items (``playlistItems.list``, 50 a page, following
``nextPageToken``); ``videos`` reads the details of every video those items
name (``videos.list``, 50 ids a call). Every call costs one quota unit;
docs/providers/youtube.md lists them. Cursors name the source or playlist
and YouTube's page token, so a killed sync resumes at the next page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import Page, Stream
from integrations.providers.items import (
    ItemError,
    map_items,
    mapped_page,
    read_datetime,
    read_text,
)
from integrations.providers.youtube.client import MAX_RESULTS, YouTubeApi
from integrations.providers.youtube.duration import DurationError, parse_duration

if TYPE_CHECKING:
    from integrations.http.pagination import FetchedPage
    from integrations.providers.base import StreamContext
    from integrations.records import PlaylistItemRecord, PlaylistRecord, VideoRecord

logger = logging.getLogger(__name__)

PRIVACY_STATUSES = ("public", "unlisted", "private")
#: Thumbnail sizes, best first (videos resource, snippet.thumbnails).
THUMBNAIL_SIZES = ("maxres", "standard", "high", "medium", "default")
PLAYLIST_PARTS = "snippet,contentDetails,status"
ITEM_PARTS = "snippet,contentDetails"
VIDEO_PARTS = "snippet,contentDetails,statistics"
WATCH_URL = "https://www.youtube.com/watch?v="


@dataclass(frozen=True)
class YouTubeConfig:
    """The checked settings of one YouTube integration."""

    playlist_ids: tuple[str, ...] = ()
    channel_id: str | None = None
    mine: bool = False

    def sources(self) -> list[dict[str, str]]:
        """Return the playlists.list filters to read, in order.

        ``playlist_ids`` go 50 to a call; a channel and ``mine`` page.
        """
        sources = [
            {"id": ",".join(self.playlist_ids[start : start + MAX_RESULTS])}
            for start in range(0, len(self.playlist_ids), MAX_RESULTS)
        ]
        if self.channel_id:
            sources.append({"channelId": self.channel_id})
        if self.mine:
            sources.append({"mine": "true"})
        return sources


def page_size(context: StreamContext) -> int:
    """Return maxResults: 50, or less for previews that read only a little."""
    if context.page_limit:
        return max(1, min(MAX_RESULTS, context.page_limit))
    return MAX_RESULTS


# --- Reading values ---------------------------------------------------------


def _part(item: dict[str, Any], name: str) -> dict[str, Any]:
    value = item.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ItemError(f"{name}: expected an object")
    return value


def _id(item: dict[str, Any]) -> str:
    value = item.get("id")
    if not isinstance(value, str) or not value:
        raise ItemError("id: missing or not an id")
    return value


def read_count(part: dict[str, Any], key: str) -> int | None:
    """Return a count YouTube sends as a string ("1234"); None when absent."""
    value = part.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ItemError(f"{key}: expected a count, got {value!r}")


def best_thumbnail(snippet: dict[str, Any]) -> str:
    """Return the URL of the largest thumbnail YouTube gives ("" if none)."""
    thumbnails = snippet.get("thumbnails")
    if not isinstance(thumbnails, dict):
        return ""
    for size in THUMBNAIL_SIZES:
        thumbnail = thumbnails.get(size)
        if isinstance(thumbnail, dict) and isinstance(thumbnail.get("url"), str):
            return thumbnail["url"]
    return ""


def _privacy(item: dict[str, Any]) -> str:
    value = _part(item, "status").get("privacyStatus") or "public"
    if value not in PRIVACY_STATUSES:
        raise ItemError(
            f"status.privacyStatus: unknown value {value!r}; expected one of "
            f"{', '.join(PRIVACY_STATUSES)}"
        )
    return value


# --- YouTube JSON to records ------------------------------------------------


def playlist_record(item: dict[str, Any]) -> PlaylistRecord:
    """Return the portal playlist for a YouTube playlist resource."""
    snippet = _part(item, "snippet")
    item_count = read_count(_part(item, "contentDetails"), "itemCount")
    return {
        "type": "playlist",
        "external_id": _id(item),
        "title": read_text(snippet, "title"),
        "description": read_text(snippet, "description"),
        "channel_id": read_text(snippet, "channelId"),
        "channel_title": read_text(snippet, "channelTitle"),
        "privacy_status": _privacy(item),
        "item_count": item_count or 0,
        "thumbnail_url": best_thumbnail(snippet),
        "published_at": read_datetime(snippet, "publishedAt"),
    }


def playlist_item_record(item: dict[str, Any]) -> PlaylistItemRecord:
    """Return a video's place in a playlist for a playlistItem resource."""
    snippet = _part(item, "snippet")
    video_id = read_text(_part(item, "contentDetails"), "videoId") or read_text(
        _part(snippet, "resourceId"), "videoId"
    )
    if not video_id:
        raise ItemError("contentDetails.videoId: missing")
    position = snippet.get("position", 0)
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise ItemError(f"snippet.position: expected a position, got {position!r}")
    return {
        "type": "playlist_item",
        "external_id": _id(item),
        "playlist_external_id": read_text(snippet, "playlistId", required=True),
        "video_external_id": video_id,
        "position": position,
    }


def video_record(item: dict[str, Any]) -> VideoRecord:
    """Return the portal video for a YouTube video resource."""
    video_id = _id(item)
    snippet = _part(item, "snippet")
    statistics = _part(item, "statistics")
    raw_duration = _part(item, "contentDetails").get("duration") or "P0D"
    try:
        duration = parse_duration(raw_duration)
    except DurationError as error:
        raise ItemError(f"contentDetails.duration: {error}") from error
    return {
        "type": "video",
        "external_id": video_id,
        "title": read_text(snippet, "title"),
        "description": read_text(snippet, "description"),
        "channel_id": read_text(snippet, "channelId"),
        "channel_title": read_text(snippet, "channelTitle"),
        "duration_seconds": duration,
        "thumbnail_url": best_thumbnail(snippet),
        "view_count": read_count(statistics, "viewCount"),
        "like_count": read_count(statistics, "likeCount"),
        "comment_count": read_count(statistics, "commentCount"),
        "published_at": read_datetime(snippet, "publishedAt"),
        "url": WATCH_URL + video_id,
    }


# --- The streams ------------------------------------------------------------


def _mapped(
    context: StreamContext,
    stream: str,
    fetched: FetchedPage,
    mapper: Any,
    next_cursor: dict[str, Any] | None,
) -> Page:
    records, failures = map_items(fetched.items, mapper)
    return mapped_page(
        records,
        failures,
        fetched=len(fetched.items),
        next_cursor=next_cursor,
        event="youtube.sync.items_failed",
        integration=context.integration.name,
        stream=stream,
    )


def _position(cursor: dict[str, Any] | None, key: str) -> tuple[Any, Any]:
    """Return the cursor's ``key`` and page token; (None, None) to start over."""
    if not isinstance(cursor, dict) or key not in cursor:
        return None, None
    token = cursor.get("page")
    return cursor[key], token if isinstance(token, str) else None


class YouTubeStream(Stream):
    """Base of the provider's streams."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class PlaylistsStream(YouTubeStream):
    """The playlists named by id, of a channel, or of the signed-in learner."""

    name = "playlists"
    record_type = "playlist"
    prefetch = True

    def __init__(self, config: YouTubeConfig) -> None:
        self.config = config

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of playlists, source by source, from ``cursor``."""
        sources = self.config.sources()
        start, token = _position(cursor, "source")
        if not isinstance(start, int) or not 0 <= start < len(sources):
            start, token = 0, None
        api = YouTubeApi(context.client)

        for index in range(start, len(sources)):
            source = sources[index]
            # Up to 50 ids come on one page whatever the preview's limit, so
            # the ids missing from it are known from that page alone.
            size = MAX_RESULTS if "id" in source else page_size(context)
            params = {"part": PLAYLIST_PARTS, "maxResults": size, **source}
            resume = {"cursor": token} if token else None
            for fetched in api.listing("playlists", params, resume):
                page = _mapped(context, self.name, fetched, playlist_record, None)
                if "id" in source:
                    page.failures.extend(_missing(source["id"], page.records))
                page.next_cursor = _next_source(index, len(sources), fetched)
                yield page
            token = None


def _next_source(index: int, count: int, fetched: FetchedPage) -> dict[str, Any] | None:
    """Return the cursor after ``fetched``: its next page, else the next source."""
    if fetched.next_cursor is not None:
        return {"source": index, "page": fetched.next_cursor["cursor"]}
    if index + 1 < count:
        return {"source": index + 1, "page": None}
    return None


def _missing(ids: str, records: list[Any]) -> list[dict[str, Any]]:
    """Return a failure for each asked-for playlist id YouTube did not return."""
    found = {record["external_id"] for record in records}
    return [
        {
            "external_id": playlist_id,
            "reason": "playlist_ids: YouTube has no such playlist, or it is private",
        }
        for playlist_id in ids.split(",")
        if playlist_id not in found
    ]


class PlaylistItemsStream(YouTubeStream):
    """The items of every stored playlist, playlist by playlist.

    The playlists are the live rows the ``playlists`` stream stored, in id
    order. A playlist YouTube no longer finds (``playlistNotFound``) is a
    failure of the run; the other playlists are still read.
    """

    name = "playlist_items"
    record_type = "playlist_item"
    depends_on = ("playlists",)
    # The playlists to walk are read from the database.
    prefetch = False

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of items, playlist by playlist, from ``cursor``."""
        playlist_ids = _stored_playlist_ids(context)
        resume_at, token = _position(cursor, "playlist")
        start = playlist_ids.index(resume_at) if resume_at in playlist_ids else 0
        if resume_at not in playlist_ids:
            token = None
        api = YouTubeApi(context.client)

        for index in range(start, len(playlist_ids)):
            playlist_id = playlist_ids[index]
            following = (
                playlist_ids[index + 1] if index + 1 < len(playlist_ids) else None
            )
            yield from self._playlist(context, api, playlist_id, token, following)
            token = None

    def _playlist(
        self,
        context: StreamContext,
        api: YouTubeApi,
        playlist_id: str,
        token: str | None,
        following: str | None,
    ) -> Iterator[Page]:
        params = {
            "part": ITEM_PARTS,
            "playlistId": playlist_id,
            "maxResults": page_size(context),
        }
        after = {"playlist": following, "page": None} if following else None
        resume = {"cursor": token} if token else None
        try:
            for fetched in api.listing("playlistItems", params, resume):
                next_cursor = after
                if fetched.next_cursor is not None:
                    page_token = fetched.next_cursor["cursor"]
                    next_cursor = {"playlist": playlist_id, "page": page_token}
                yield _mapped(
                    context, self.name, fetched, playlist_item_record, next_cursor
                )
        except errors.NotFound as error:
            logger.warning(
                "youtube.sync.playlist_not_found",
                extra={
                    "integration": context.integration.name,
                    "stream": self.name,
                    "playlist": playlist_id,
                    "status": error.status,
                },
            )
            failure = {
                "external_id": playlist_id,
                "reason": "playlistNotFound: YouTube no longer finds the playlist",
            }
            yield Page(records=[], next_cursor=after, failures=[failure])


class VideosStream(YouTubeStream):
    """The details of every video the stored playlist items name.

    The ids are the stored items' videos, sorted; 50 go to each
    ``videos.list`` call and the cursor is the last id read. A video YouTube
    does not return (private, or removed) is counted as a failure.
    """

    name = "videos"
    record_type = "video"
    depends_on = ("playlist_items",)
    prefetch = False

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield a page per 50 videos, after the cursor's last id."""
        after = cursor.get("after") if isinstance(cursor, dict) else None
        video_ids = _stored_video_ids(context, after if isinstance(after, str) else "")
        size = page_size(context)
        api = YouTubeApi(context.client)

        for start in range(0, len(video_ids), size):
            batch = video_ids[start : start + size]
            items = api.videos(batch, VIDEO_PARTS)
            records, failures = map_items(items, video_record)
            found = {record["external_id"] for record in records}
            found.update(failure["external_id"] for failure in failures)
            failures.extend(
                {
                    "external_id": video_id,
                    "reason": "YouTube did not return the video: private or removed",
                }
                for video_id in batch
                if video_id not in found
            )
            more = start + size < len(video_ids)
            yield mapped_page(
                records,
                failures,
                fetched=len(items),
                next_cursor={"after": batch[-1]} if more else None,
                event="youtube.sync.items_failed",
                integration=context.integration.name,
                stream=self.name,
            )


def _stored_playlist_ids(context: StreamContext) -> list[str]:
    """Return the external ids of the integration's live playlists, sorted."""
    from portal.learning.models import Playlist

    rows = Playlist.objects.filter(
        integration=context.integration, deleted_at__isnull=True
    )
    return list(rows.order_by("external_id").values_list("external_id", flat=True))


def _stored_video_ids(context: StreamContext, after: str) -> list[str]:
    """Return the distinct video ids of live playlist items, sorted, after ``after``."""
    from portal.learning.models import PlaylistItem

    rows = PlaylistItem.objects.filter(
        integration=context.integration,
        deleted_at__isnull=True,
        video_external_id__gt=after,
    )
    ids = rows.order_by("video_external_id").values_list("video_external_id", flat=True)
    return list(ids.distinct())
