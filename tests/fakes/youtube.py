"""A fake YouTube Data API v3 on loopback, under ``/youtube/v3``.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces, from
developers.google.com/youtube/v3 (the ``list`` method pages, "Errors" and
"Getting started") and /work/shared/API_NOTES.md section 7:

- ``GET /youtube/v3/playlists`` (filter: exactly one of ``id``,
  ``channelId``, ``mine=true``), ``GET /youtube/v3/playlistItems``
  (``playlistId`` or ``id``) and ``GET /youtube/v3/videos`` (``id``, a
  comma-separated list); ``part`` is required and chooses the parts
  (``snippet``, ``contentDetails``, ``status``, ``statistics``) next to
  ``kind``, ``etag`` and ``id``.
- Pages: ``maxResults`` 0 to 50, default 5 ("Acceptable values are 0 to
  50, inclusive. The default value is 5."); ``nextPageToken`` only when
  more follow and ``prevPageToken`` only after the first page, both
  opaque; ``pageInfo`` ``{totalResults, resultsPerPage}``. ``videos.list``
  by ``id`` is not paged.
- Auth: an API key in ``key=`` or ``Authorization: Bearer`` (tokens from
  :meth:`add_token`, or those an authorization server issued, through
  :meth:`accept_tokens_from`); ``mine=true``
  needs the bearer token ("This parameter can only be used in a properly
  authorized request"). Private playlists are seen only by their owner.
- Errors in Google's JSON shape ``{"error": {"code", "message", "errors":
  [{"message", "domain", "reason"}], "status"}}``: a bad key gets 400 "API
  key not valid. Please pass a valid API key." (reason ``badRequest``,
  ``status`` ``INVALID_ARGUMENT``, ErrorInfo ``API_KEY_INVALID``, as
  googleapi reports it since about 2021; ``legacy_key_error=True`` gives
  the older ``usageLimits``/``keyInvalid``/"Bad Request" body still seen in
  2018-2020 reports); a bad bearer token 401 ``authError`` "Invalid
  Credentials"; ``mine=true`` without one 401 ``required`` "Login
  Required."; no key and no token 403 "The request is missing a valid API
  key."; an unknown ``playlistId`` 404 ``playlistNotFound`` (domain
  ``youtube.playlistItem``, the playlistItems.list errors table); a bad
  ``pageToken`` 400 ``invalidPageToken``; no filter 400
  ``missingRequiredParameter``; two filters 400 ``incompatibleParameters``.
- Quota ("Quota usage"): each list call costs 1 unit, the default day is
  10,000 units, and invalid requests cost too ("all API requests,
  including invalid requests, incur a quota cost of at least one point").
  When the day is spent, 403 ``quotaExceeded`` in domain ``youtube.quota``
  with the message API_NOTES.md quotes.
- ETags ("Getting started", ETags): every resource and every list has an
  ``etag``; ``If-None-Match`` equal to the current one gets 304 with no
  body. An etag changes exactly when the content it covers changes. The
  list's etag is also sent as the ``ETag`` response header (quoted, as
  HTTP writes it), which Google's APIs send beside the body's.

[assumed], not documented: the wording and ``status`` of the 400 for
``maxResults`` out of range (``invalidParameter``, "Invalid value '51'.
Values must be within the range: [0, 50]") and of a missing ``part``; the
400 ``invalidFilters`` for more than 50 video ids; that a 304 still costs
its unit (reports disagree); that the ``ETag`` header equals the body's
etag; that rejected keys or tokens and requests over
quota cost nothing; ``status`` ``PERMISSION_DENIED`` on the quota error;
the format of page tokens, ids and etags (opaque strings here); that an
``If-None-Match`` etag may come with or without double quotes.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

from tests import leakcheck
from tests.fakes.oauth import bearer_token
from tests.fakes.server import FakeServer, RecordedRequest, Reply

PREFIX = "/youtube/v3"
DOCS = "https://developers.google.com/youtube/v3"
DEFAULT_DAILY_QUOTA = 10_000
DEFAULT_MAX_RESULTS = 5
MAX_RESULTS = 50
MAX_VIDEO_IDS = 50
LIST_COST = 1
PARTS = {
    "playlists": ("snippet", "contentDetails", "status"),
    "playlistItems": ("snippet", "contentDetails", "status"),
    "videos": ("snippet", "contentDetails", "status", "statistics"),
}
FILTERS = {
    "playlists": ("id", "channelId", "mine"),
    "playlistItems": ("id", "playlistId"),
    "videos": ("id",),
}
QUOTA_MESSAGE = (
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.'
)
KEY_INVALID_MESSAGE = "API key not valid. Please pass a valid API key."
CREDENTIALS_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access "
    "token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
LOGIN_REQUIRED_MESSAGE = (
    "Request is missing required authentication credential. Expected OAuth 2 "
    "access token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
PLAYLIST_NOT_FOUND_MESSAGE = (
    "The playlist identified with the request's <code>playlistId</code> "
    "parameter cannot be found."
)
PUBLISHED_AT = "2024-01-15T10:00:00Z"


class YouTubeError(Exception):
    """A refusal the handler turns into Google's JSON error body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        *,
        domain: str = "global",
        status: str = "INVALID_ARGUMENT",
        location: str | None = None,
        location_type: str = "parameter",
        **extra: Any,
    ) -> None:
        super().__init__(message)
        detail: dict[str, Any] = {
            "message": message,
            "domain": domain,
            "reason": reason,
        }
        if location:
            detail.update(location=location, locationType=location_type)
        self.body = {
            "error": {
                "code": code,
                "message": message,
                "errors": [detail],
                "status": status,
                **extra,
            }
        }
        self.code = code

    def reply(self) -> Reply:
        """Return the error as the reply YouTube sends."""
        return Reply.json(self.body, self.code)


class YouTubeFake(FakeServer):
    """YouTube's playlists, playlistItems and videos list methods on 127.0.0.1.

    Data comes from :meth:`add_channel`, :meth:`add_playlist`,
    :meth:`add_video` and :meth:`add_to_playlist`; credentials from
    :meth:`add_api_key` and :meth:`add_token`; quota from :meth:`set_quota`.
    """

    def __init__(
        self,
        *,
        daily_quota: int = DEFAULT_DAILY_QUOTA,
        legacy_key_error: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.daily_quota = daily_quota
        self.quota_used = 0
        self.legacy_key_error = legacy_key_error
        self.api_keys: set[str] = set()
        #: Bearer token -> the id of the channel it signs in.
        self.tokens: dict[str, str] = {}
        #: Callables that map a bearer token to the channel it signs in.
        self.token_resolvers: list[Callable[[str], str | None]] = []
        #: Channel id -> channel title.
        self.channels: dict[str, str] = {}
        self.playlists: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        #: Playlist id -> its items, in position order.
        self.playlist_items: dict[str, list[dict[str, Any]]] = {}
        self._data_lock = threading.RLock()
        self.route("GET", f"{PREFIX}/playlists", self._playlists)
        self.route("GET", f"{PREFIX}/playlistItems", self._playlist_items)
        self.route("GET", f"{PREFIX}/videos", self._videos)

    @property
    def api_url(self) -> str:
        """Return the API's base URL, e.g. ``http://127.0.0.1:5432/youtube/v3``."""
        return f"{self.url}{PREFIX}"

    # --- credentials and quota ---------------------------------------------

    def add_api_key(self, key: str | None = None) -> str:
        """Accept ``key`` (or a new one) as an API key; return it, registered."""
        key = leakcheck.secret(key or "AIza" + secrets.token_urlsafe(26))
        self.api_keys.add(key)
        return key

    def add_token(self, channel_id: str, token: str | None = None) -> str:
        """Accept a bearer token that signs in ``channel_id``; return it."""
        token = leakcheck.secret(token or "ya29." + secrets.token_urlsafe(32))
        self.tokens[token] = channel_id
        return token

    def accept_tokens_from(self, resolve: Callable[[str], str | None]) -> None:
        """Also accept bearer tokens ``resolve`` maps to a channel id.

        ``resolve(token)`` returns the channel the token signs in, or None
        to refuse it (unknown, expired, revoked or without the scope): how a
        test lets the access tokens of an OAuth fake (GoogleFake) in.
        """
        self.token_resolvers.append(resolve)

    def set_quota(self, daily_quota: int, used: int = 0) -> None:
        """Set the day's quota in units and how many are already spent."""
        with self._data_lock:
            self.daily_quota = daily_quota
            self.quota_used = used

    # --- data ----------------------------------------------------------------

    def add_channel(
        self, title: str = "Test Channel", channel_id: str | None = None
    ) -> str:
        """Add a channel; return its id."""
        channel_id = channel_id or "UC" + _random_id(22)
        with self._data_lock:
            self.channels[channel_id] = title
        return channel_id

    def add_playlist(
        self,
        channel_id: str,
        title: str = "Playlist",
        *,
        playlist_id: str | None = None,
        description: str = "",
        privacy_status: str = "public",
    ) -> dict[str, Any]:
        """Add a playlist owned by ``channel_id``; return the stored resource."""
        playlist_id = playlist_id or "PL" + _random_id(32)
        playlist = {
            "kind": "youtube#playlist",
            "id": playlist_id,
            "snippet": {
                "publishedAt": PUBLISHED_AT,
                "channelId": channel_id,
                "title": title,
                "description": description,
                "thumbnails": {},
                "channelTitle": self.channels.get(channel_id, ""),
                "localized": {"title": title, "description": description},
            },
            "status": {"privacyStatus": privacy_status},
            "contentDetails": {"itemCount": 0},
        }
        with self._data_lock:
            self.playlists[playlist_id] = playlist
            self.playlist_items.setdefault(playlist_id, [])
        return playlist

    def add_video(
        self,
        channel_id: str,
        title: str = "Video",
        *,
        video_id: str | None = None,
        duration: str = "PT4M13S",
        view_count: int = 0,
        like_count: int = 0,
        comment_count: int = 0,
        description: str = "",
        privacy_status: str = "public",
    ) -> dict[str, Any]:
        """Add a video; ``duration`` is ISO 8601 (``PT1H2M3S``, ``PT0S`` live)."""
        video_id = video_id or _random_id(11)
        video = {
            "kind": "youtube#video",
            "id": video_id,
            "snippet": {
                "publishedAt": PUBLISHED_AT,
                "channelId": channel_id,
                "title": title,
                "description": description,
                "thumbnails": _thumbnails(video_id),
                "channelTitle": self.channels.get(channel_id, ""),
                "categoryId": "27",
                "liveBroadcastContent": "none",
            },
            "contentDetails": {
                "duration": duration,
                "dimension": "2d",
                "definition": "hd",
                "caption": "false",
                "licensedContent": False,
                "projection": "rectangular",
            },
            "status": {
                "uploadStatus": "processed",
                "privacyStatus": privacy_status,
                "embeddable": True,
            },
            # The API sends the counts as strings (videos resource).
            "statistics": {
                "viewCount": str(view_count),
                "likeCount": str(like_count),
                "favoriteCount": "0",
                "commentCount": str(comment_count),
            },
        }
        with self._data_lock:
            self.videos[video_id] = video
        return video

    def add_to_playlist(self, playlist_id: str, video_id: str) -> dict[str, Any]:
        """Append video ``video_id`` to playlist ``playlist_id``; return the item."""
        with self._data_lock:
            playlist, video = self.playlists[playlist_id], self.videos[video_id]
            items = self.playlist_items[playlist_id]
            item = {
                "kind": "youtube#playlistItem",
                "id": _random_id(40),
                "snippet": {
                    "publishedAt": PUBLISHED_AT,
                    "channelId": playlist["snippet"]["channelId"],
                    "title": video["snippet"]["title"],
                    "description": video["snippet"]["description"],
                    "thumbnails": video["snippet"]["thumbnails"],
                    "channelTitle": playlist["snippet"]["channelTitle"],
                    "playlistId": playlist_id,
                    "position": len(items),
                    "resourceId": {"kind": "youtube#video", "videoId": video_id},
                    "videoOwnerChannelTitle": video["snippet"]["channelTitle"],
                    "videoOwnerChannelId": video["snippet"]["channelId"],
                },
                "contentDetails": {
                    "videoId": video_id,
                    "videoPublishedAt": video["snippet"]["publishedAt"],
                },
                "status": {"privacyStatus": video["status"]["privacyStatus"]},
            }
            items.append(item)
            playlist["contentDetails"]["itemCount"] = len(items)
        return item

    def update_video(self, video_id: str, **snippet: Any) -> None:
        """Change snippet fields of a video (its etag changes with them)."""
        with self._data_lock:
            self.videos[video_id]["snippet"].update(snippet)

    # --- handlers ------------------------------------------------------------

    def _playlists(self, request: RecordedRequest) -> Reply:
        return self._answer(request, "playlists", self._find_playlists)

    def _playlist_items(self, request: RecordedRequest) -> Reply:
        return self._answer(request, "playlistItems", self._find_playlist_items)

    def _videos(self, request: RecordedRequest) -> Reply:
        return self._answer(request, "videos", self._find_videos)

    def _answer(self, request: RecordedRequest, method: str, find: Any) -> Reply:
        """Authenticate, charge, validate, list and page one list call."""
        try:
            viewer = self._authenticate(request)
            self._charge()
            parts = _parts(request, method)
            filter_name = _filter(request, method)
            with self._data_lock:
                resources = find(request, filter_name, viewer)
                body = self._page(request, method, resources, parts)
        except YouTubeError as error:
            return error.reply()

        headers = {"ETag": f'"{body["etag"]}"'}
        if _etag_matches(request.header("If-None-Match"), body["etag"]):
            return Reply(304, headers=headers)
        return Reply.json(body, headers=headers)

    def _authenticate(self, request: RecordedRequest) -> str | None:
        """Return the signed-in channel id (None for an API key) or refuse."""
        token = bearer_token(request)
        if token is not None:
            channel_id = self._channel_for(token)
            if channel_id is None:
                raise YouTubeError(
                    401,
                    CREDENTIALS_MESSAGE,
                    "authError",
                    status="UNAUTHENTICATED",
                    location="Authorization",
                    location_type="header",
                )
            return channel_id

        key = request.arg("key")
        if key is None:
            raise YouTubeError(
                403,
                "The request is missing a valid API key.",
                "forbidden",
                status="PERMISSION_DENIED",
            )
        if key not in self.api_keys:
            raise self._key_invalid()
        if request.arg("mine") == "true":
            raise YouTubeError(
                401,
                LOGIN_REQUIRED_MESSAGE,
                "required",
                status="UNAUTHENTICATED",
                location="Authorization",
                location_type="header",
            )
        return None

    def _channel_for(self, token: str) -> str | None:
        if token in self.tokens:
            return self.tokens[token]
        for resolve in self.token_resolvers:
            channel_id = resolve(token)
            if channel_id is not None:
                return channel_id
        return None

    def _key_invalid(self) -> YouTubeError:
        if self.legacy_key_error:
            error = YouTubeError(400, "Bad Request", "keyInvalid", domain="usageLimits")
            del error.body["error"]["status"]
            return error
        return YouTubeError(
            400,
            KEY_INVALID_MESSAGE,
            "badRequest",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "youtube.googleapis.com"},
                }
            ],
        )

    def _charge(self) -> None:
        with self._data_lock:
            if self.quota_used + LIST_COST > self.daily_quota:
                raise YouTubeError(
                    403,
                    QUOTA_MESSAGE,
                    "quotaExceeded",
                    domain="youtube.quota",
                    status="PERMISSION_DENIED",
                )
            self.quota_used += LIST_COST

    def _find_playlists(
        self, request: RecordedRequest, filter_name: str, viewer: str | None
    ) -> list[dict[str, Any]]:
        if filter_name == "id":
            wanted = _ids(request)
            found = [self.playlists[id_] for id_ in wanted if id_ in self.playlists]
        else:
            owner = viewer if filter_name == "mine" else request.arg("channelId")
            found = [
                playlist
                for playlist in self.playlists.values()
                if playlist["snippet"]["channelId"] == owner
            ]
        return [playlist for playlist in found if _visible(playlist, viewer)]

    def _find_playlist_items(
        self, request: RecordedRequest, filter_name: str, viewer: str | None
    ) -> list[dict[str, Any]]:
        if filter_name == "id":
            wanted = set(_ids(request))
            return [
                item
                for playlist_id, items in self.playlist_items.items()
                if _visible(self.playlists[playlist_id], viewer)
                for item in items
                if item["id"] in wanted
            ]

        playlist = self.playlists.get(request.arg("playlistId") or "")
        if playlist is None or not _visible(playlist, viewer):
            raise YouTubeError(
                404,
                PLAYLIST_NOT_FOUND_MESSAGE,
                "playlistNotFound",
                domain="youtube.playlistItem",
                status="NOT_FOUND",
                location="playlistId",
            )
        return self.playlist_items[playlist["id"]]

    def _find_videos(
        self, request: RecordedRequest, filter_name: str, viewer: str | None
    ) -> list[dict[str, Any]]:
        wanted = _ids(request)
        if len(wanted) > MAX_VIDEO_IDS:
            raise YouTubeError(
                400,
                "The request specifies an invalid filter parameter.",
                "invalidFilters",
            )
        return [self.videos[id_] for id_ in wanted if id_ in self.videos]

    def _page(
        self,
        request: RecordedRequest,
        method: str,
        resources: list[dict[str, Any]],
        parts: list[str],
    ) -> dict[str, Any]:
        """Return the list response body for one page of ``resources``."""
        paged = method != "videos"
        size = _max_results(request) if paged else len(resources)
        offset = _decode_page_token(request.arg("pageToken")) if paged else 0
        window = resources[offset : offset + size]

        kind = {
            "playlists": "youtube#playlistListResponse",
            "playlistItems": "youtube#playlistItemListResponse",
            "videos": "youtube#videoListResponse",
        }[method]
        body: dict[str, Any] = {"kind": kind}
        if size and offset + size < len(resources):
            body["nextPageToken"] = _encode_page_token(offset + size)
        if offset > 0:
            body["prevPageToken"] = _encode_page_token(max(0, offset - size))
        body["pageInfo"] = {"totalResults": len(resources), "resultsPerPage": size}
        body["items"] = [_shaped(resource, parts) for resource in window]
        return {"kind": kind, "etag": _etag(body), **body}


def _shaped(resource: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    """Return ``resource`` with only the requested parts and its etag."""
    shaped = {"kind": resource["kind"], "etag": _etag(resource), "id": resource["id"]}
    for part in parts:
        if part in resource:
            shaped[part] = copy.deepcopy(resource[part])
    return shaped


def _parts(request: RecordedRequest, method: str) -> list[str]:
    raw = request.arg("part")
    if not raw:
        raise YouTubeError(400, "Required parameter: part", "required", location="part")
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    for part in parts:
        if part != "id" and part not in PARTS[method]:
            raise YouTubeError(400, f"'{part}'", "unknownPart", location="part")
    return parts


def _filter(request: RecordedRequest, method: str) -> str:
    """Return the one filter parameter the request uses, or refuse."""
    given = [name for name in FILTERS[method] if request.arg(name)]
    if not given:
        raise YouTubeError(
            400,
            "No filter selected. Expected one of: " + ", ".join(FILTERS[method]),
            "missingRequiredParameter",
        )
    if len(given) > 1:
        raise YouTubeError(
            400,
            "Incompatible parameters specified in the request: " + ", ".join(given),
            "incompatibleParameters",
        )
    return given[0]


def _max_results(request: RecordedRequest) -> int:
    raw = request.arg("maxResults")
    if raw is None:
        return DEFAULT_MAX_RESULTS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_RESULTS:
        raise YouTubeError(
            400,
            f"Invalid value '{raw}'. Values must be within the range: [0, {MAX_RESULTS}]",
            "invalidParameter",
            location="maxResults",
        )
    return value


def _encode_page_token(offset: int) -> str:
    raw = json.dumps({"o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["o"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise YouTubeError(
            400,
            "The request specifies an invalid page token.",
            "invalidPageToken",
            location="pageToken",
        )
    return offset


def _etag(content: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).digest()[:20]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return any(candidate.strip().strip('"') == etag for candidate in header.split(","))


def _ids(request: RecordedRequest) -> list[str]:
    return [id_.strip() for id_ in (request.arg("id") or "").split(",") if id_.strip()]


def _visible(playlist: dict[str, Any], viewer: str | None) -> bool:
    if playlist["status"]["privacyStatus"] == "public":
        return True
    return viewer == playlist["snippet"]["channelId"]


def _thumbnails(video_id: str) -> dict[str, dict[str, Any]]:
    base = f"https://i.ytimg.com/vi/{video_id}"
    return {
        "default": {"url": f"{base}/default.jpg", "width": 120, "height": 90},
        "medium": {"url": f"{base}/mqdefault.jpg", "width": 320, "height": 180},
        "high": {"url": f"{base}/hqdefault.jpg", "width": 480, "height": 360},
    }


def _random_id(length: int) -> str:
    return secrets.token_urlsafe(length)[:length]
