"""The Vimeo provider's streams: playlists, playlist_items and videos.

``playlists`` reads each showcase (an album in the API) by id;
``playlist_items`` walks each showcase's videos (``.../albums/{id}/videos``,
100 a page, following ``paging.next``); ``videos`` reads the user's videos
(``/users/{id}/videos`` or ``/me/videos``), every showcase's videos and each
video named by id (``/videos/{id}``). Every call asks only for the fields
stored (Vimeo's JSON filter, ``fields=``). Cursors name the source and the
``paging.next`` path, so a killed sync resumes at the next page.
docs/providers/vimeo.md lists the calls.
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
from integrations.providers.vimeo.client import MAX_PER_PAGE, VimeoApi

if TYPE_CHECKING:
    from integrations.providers.base import StreamContext
    from integrations.records import PlaylistItemRecord, PlaylistRecord, VideoRecord

logger = logging.getLogger(__name__)

#: Vimeo's privacy.view values (videos and showcases) as the portal's statuses.
PRIVACY = {
    "anybody": "public",
    "unlisted": "unlisted",
    "disable": "unlisted",
    "embed_only": "unlisted",
    "nobody": "private",
    "contacts": "private",
    "password": "private",
    "users": "private",
    "team": "private",
}
_PICTURES = "pictures.sizes.width,pictures.sizes.link"
VIDEO_FIELDS = (
    "uri,name,description,duration,link,created_time,modified_time,stats.plays,"
    f"user.uri,user.name,{_PICTURES}"
)
SHOWCASE_FIELDS = (
    "uri,name,description,created_time,modified_time,privacy.view,"
    f"metadata.connections.videos.total,user.uri,user.name,{_PICTURES}"
)
ITEM_FIELDS = "uri"


@dataclass(frozen=True)
class VimeoConfig:
    """The checked settings of one Vimeo integration."""

    user_id: str | None = None
    showcase_ids: tuple[str, ...] = ()
    video_ids: tuple[str, ...] = ()

    @property
    def owner(self) -> str:
        """Return the path of the showcases' owner: ``/users/{id}`` or ``/me``."""
        if self.user_id and self.user_id != "me":
            return f"/users/{self.user_id}"
        return "/me"

    def showcase_path(self, showcase_id: str) -> str:
        """Return the path of one showcase."""
        return f"{self.owner}/albums/{showcase_id}"

    def video_sources(self) -> list[tuple[str, str]]:
        """Return the (kind, path) the videos stream reads, in order.

        ``listing`` sources page; ``video`` sources are one resource each.
        """
        sources = []
        if self.user_id:
            sources.append(("listing", f"{self.owner}/videos"))
        sources.extend(
            ("listing", f"{self.showcase_path(showcase_id)}/videos")
            for showcase_id in self.showcase_ids
        )
        sources.extend(("video", f"/videos/{video_id}") for video_id in self.video_ids)
        return sources


def page_size(context: StreamContext) -> int:
    """Return per_page: 100, or less for previews that read only a little."""
    if context.page_limit:
        return max(1, min(MAX_PER_PAGE, context.page_limit))
    return MAX_PER_PAGE


# --- Reading values ---------------------------------------------------------


def _object(item: dict[str, Any], name: str) -> dict[str, Any]:
    value = item.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ItemError(f"{name}: expected an object")
    return value


def id_of(uri: Any, collection: str) -> str:
    """Return the id at the end of a Vimeo ``uri`` (``/videos/123`` -> ``123``).

    An unlisted video's uri may carry its hash (``/videos/123:abc``); the id
    is the part before the colon.
    """
    if not isinstance(uri, str) or f"/{collection}/" not in uri:
        raise ItemError(f"uri: expected a /{collection}/ uri, got {uri!r}")
    last = uri.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
    if not last:
        raise ItemError(f"uri: {uri!r} names no id")
    return last


def best_picture(item: dict[str, Any]) -> str:
    """Return the link of the widest of ``pictures.sizes`` ("" if none)."""
    sizes = _object(item, "pictures").get("sizes")
    if not isinstance(sizes, list):
        return ""
    best, best_width = "", -1
    for size in sizes:
        if not isinstance(size, dict) or not isinstance(size.get("link"), str):
            continue
        width = size.get("width")
        width = width if isinstance(width, int) and not isinstance(width, bool) else 0
        if width > best_width:
            best, best_width = size["link"], width
    return best


def read_count(item: dict[str, Any], key: str) -> int | None:
    """Return a count; None when Vimeo hides it (null or absent)."""
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ItemError(f"{key}: expected a count, got {value!r}")
    return value


def privacy_of(item: dict[str, Any]) -> str:
    """Return the portal's privacy status for ``privacy.view``."""
    view = _object(item, "privacy").get("view") or "anybody"
    if view not in PRIVACY:
        raise ItemError(
            f"privacy.view: unknown value {view!r}; expected one of "
            f"{', '.join(PRIVACY)}"
        )
    return PRIVACY[view]


def _owner(item: dict[str, Any]) -> tuple[str, str]:
    user = _object(item, "user")
    uri = user.get("uri")
    user_id = id_of(uri, "users") if uri is not None else ""
    return user_id, read_text(user, "name")


# --- Vimeo JSON to records --------------------------------------------------


def video_record(item: dict[str, Any]) -> VideoRecord:
    """Return the portal video for a Vimeo video resource."""
    duration = item.get("duration", 0)
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        raise ItemError(f"duration: expected seconds, got {duration!r}")
    user_id, user_name = _owner(item)
    created = read_datetime(item, "created_time")
    record: dict[str, Any] = {
        "type": "video",
        "external_id": id_of(item.get("uri"), "videos"),
        "title": read_text(item, "name"),
        "description": read_text(item, "description"),
        "channel_id": user_id,
        "channel_title": user_name,
        "duration_seconds": duration,
        "thumbnail_url": best_picture(item),
        "view_count": read_count(_object(item, "stats"), "plays"),
        "like_count": None,
        "comment_count": None,
        "published_at": created,
        "url": read_text(item, "link"),
        "remote_created_at": created,
        "remote_updated_at": read_datetime(item, "modified_time"),
    }
    return record  # type: ignore[return-value]


def playlist_record(item: dict[str, Any]) -> PlaylistRecord:
    """Return the portal playlist for a Vimeo showcase (album) resource."""
    user_id, user_name = _owner(item)
    videos = _object(_object(_object(item, "metadata"), "connections"), "videos")
    created = read_datetime(item, "created_time")
    record: dict[str, Any] = {
        "type": "playlist",
        "external_id": id_of(item.get("uri"), "albums"),
        "title": read_text(item, "name"),
        "description": read_text(item, "description"),
        "channel_id": user_id,
        "channel_title": user_name,
        "privacy_status": privacy_of(item),
        "item_count": read_count(videos, "total") or 0,
        "thumbnail_url": best_picture(item),
        "published_at": created,
        "remote_created_at": created,
        "remote_updated_at": read_datetime(item, "modified_time"),
    }
    return record  # type: ignore[return-value]


def playlist_item_record(
    showcase_id: str, position: int, item: dict[str, Any]
) -> PlaylistItemRecord:
    """Return a video's place in a showcase; its id is ``showcase:video``."""
    video_id = id_of(item.get("uri"), "videos")
    return {
        "type": "playlist_item",
        "external_id": f"{showcase_id}:{video_id}",
        "playlist_external_id": showcase_id,
        "video_external_id": video_id,
        "position": position,
    }


# --- The streams ------------------------------------------------------------


def _not_found(
    context: StreamContext, stream: str, external_id: str, path: str, error: Any
) -> dict[str, Any]:
    """Log a source Vimeo does not find and return its failure."""
    logger.warning(
        "vimeo.sync.not_found",
        extra={
            "integration": context.integration.name,
            "stream": stream,
            "external_id": external_id,
            "status": error.status,
        },
    )
    return {
        "external_id": external_id,
        "reason": f"{path}: Vimeo has no such item, or hides it from this token",
    }


def _resume(cursor: Any, count: int) -> tuple[int, dict[str, Any] | None, int]:
    """Return (source index, page cursor, offset) from a stored cursor."""
    if not isinstance(cursor, dict):
        return 0, None, 0
    index = cursor.get("source")
    if not isinstance(index, int) or not 0 <= index < count:
        return 0, None, 0
    path = cursor.get("path")
    offset = cursor.get("offset")
    page = {"path": path} if isinstance(path, str) else None
    return index, page, offset if isinstance(offset, int) and offset >= 0 else 0


def _after(index: int, count: int) -> dict[str, Any] | None:
    return {"source": index + 1, "path": None} if index + 1 < count else None


class VimeoStream(Stream):
    """Base of the provider's streams."""

    def __init__(self, config: VimeoConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def _page(
        self,
        context: StreamContext,
        records: list[Any],
        failures: list[dict[str, Any]],
        fetched: int,
        next_cursor: dict[str, Any] | None,
    ) -> Page:
        return mapped_page(
            records,
            failures,
            fetched=fetched,
            next_cursor=next_cursor,
            event="vimeo.sync.items_failed",
            integration=context.integration.name,
            stream=self.name,
        )


class PlaylistsStream(VimeoStream):
    """The showcases named by id, one call each."""

    name = "playlists"
    record_type = "playlist"
    prefetch = True

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield a page per showcase, from the cursor's."""
        showcase_ids = self.config.showcase_ids
        start, _, _ = _resume(cursor, len(showcase_ids))
        api = VimeoApi(context.client)

        for index in range(start, len(showcase_ids)):
            showcase_id = showcase_ids[index]
            path = self.config.showcase_path(showcase_id)
            after = _after(index, len(showcase_ids))
            try:
                body, _ = api.resource(path, SHOWCASE_FIELDS)
            except errors.NotFound as error:
                failure = _not_found(context, self.name, showcase_id, path, error)
                yield Page(records=[], next_cursor=after, failures=[failure])
                continue
            records, failures = map_items([body], playlist_record)
            yield self._page(context, records, failures, 1, after)


class PlaylistItemsStream(VimeoStream):
    """The videos of every showcase, in the showcase's order."""

    name = "playlist_items"
    record_type = "playlist_item"
    depends_on = ("playlists",)
    prefetch = True

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of items, showcase by showcase, from ``cursor``."""
        showcase_ids = self.config.showcase_ids
        start, page_cursor, offset = _resume(cursor, len(showcase_ids))
        api = VimeoApi(context.client)

        for index in range(start, len(showcase_ids)):
            yield from self._showcase(context, api, index, page_cursor, offset)
            page_cursor, offset = None, 0

    def _showcase(
        self,
        context: StreamContext,
        api: VimeoApi,
        index: int,
        page_cursor: dict[str, Any] | None,
        offset: int,
    ) -> Iterator[Page]:
        showcase_id = self.config.showcase_ids[index]
        path = f"{self.config.showcase_path(showcase_id)}/videos"
        after = _after(index, len(self.config.showcase_ids))
        try:
            pages = api.listing(path, ITEM_FIELDS, page_cursor, page_size(context))
            for fetched in pages:
                records, failures = map_items(
                    fetched.items,
                    _ItemMapper.of(showcase_id, offset, fetched.items),
                )
                offset += len(fetched.items)
                next_cursor = after
                if fetched.next_cursor is not None:
                    next_cursor = {
                        "source": index,
                        "path": fetched.next_cursor["path"],
                        "offset": offset,
                    }
                yield self._page(
                    context, records, failures, len(fetched.items), next_cursor
                )
        except errors.NotFound as error:
            failure = _not_found(context, self.name, showcase_id, path, error)
            yield Page(records=[], next_cursor=after, failures=[failure])


@dataclass(frozen=True)
class _ItemMapper:
    """Map a page's items to playlist items, each at its place in the showcase."""

    showcase_id: str
    positions: dict[int, int]

    @classmethod
    def of(cls, showcase_id: str, offset: int, items: list[Any]) -> _ItemMapper:
        """Place ``items`` after the ``offset`` items of the pages before."""
        positions = {id(item): offset + number for number, item in enumerate(items)}
        return cls(showcase_id, positions)

    def __call__(self, item: dict[str, Any]) -> PlaylistItemRecord:
        position = self.positions[id(item)]
        return playlist_item_record(self.showcase_id, position, item)


class VideosStream(VimeoStream):
    """The user's videos, every showcase's videos and the videos named by id.

    A video in several sources is read once per source; the last read wins.
    """

    name = "videos"
    record_type = "video"
    prefetch = True

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of videos, source by source, from ``cursor``."""
        sources = self.config.video_sources()
        start, page_cursor, _ = _resume(cursor, len(sources))
        api = VimeoApi(context.client)

        for index in range(start, len(sources)):
            kind, path = sources[index]
            after = _after(index, len(sources))
            try:
                if kind == "video":
                    body, _ = api.resource(path, VIDEO_FIELDS)
                    records, failures = map_items([body], video_record)
                    yield self._page(context, records, failures, 1, after)
                else:
                    yield from self._listing(
                        context, api, index, path, page_cursor, after
                    )
            except errors.NotFound as error:
                external_id = path.rsplit("/", 1)[-1] if kind == "video" else path
                failure = _not_found(context, self.name, external_id, path, error)
                yield Page(records=[], next_cursor=after, failures=[failure])
            page_cursor = None

    def _listing(
        self,
        context: StreamContext,
        api: VimeoApi,
        index: int,
        path: str,
        page_cursor: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> Iterator[Page]:
        for fetched in api.listing(path, VIDEO_FIELDS, page_cursor, page_size(context)):
            records, failures = map_items(fetched.items, video_record)
            next_cursor = after
            if fetched.next_cursor is not None:
                next_cursor = {"source": index, "path": fetched.next_cursor["path"]}
            yield self._page(
                context, records, failures, len(fetched.items), next_cursor
            )
