"""A fake Vimeo API (version 3.4) on loopback.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces, from
developer.vimeo.com/api/common-formats, the API reference (videos,
showcases) and /work/shared/API_NOTES.md section 8:

- ``GET /me`` and ``GET /users/{user_id}`` (the user resource), ``GET
  /me/videos`` and ``GET /users/{user_id}/videos``, ``GET
  /me/albums/{album_id}`` and ``GET /users/{user_id}/albums/{album_id}`` (a
  showcase), ``GET /me/albums/{album_id}/videos`` and ``GET
  /users/{user_id}/albums/{album_id}/videos`` (its videos, in the
  showcase's order) and ``GET /videos/{video_id}``.
- Auth: ``Authorization: bearer <token>`` (the scheme in any case); tokens
  from :meth:`VimeoFake.add_token`. The Accept header of every request is
  logged; the tests assert ``version=3.4``.
- Collections: ``{"total", "page", "per_page", "paging": {"next",
  "previous", "first", "last"}, "data"}``; ``per_page`` default 25, max
  100; the paging URIs are relative paths carrying the request's query
  with ``page`` replaced (the docs' example: ``/users/101193/videos?page=2
  &per_page=10``); ``next`` is null on the last page.
- The JSON filter ``fields=``: a comma-separated whitelist, nested fields
  separated by periods (``fields=uri,name``, ``metadata.connections``).
- Rate limit: every answer carries ``X-RateLimit-Limit``,
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``; over the limit the
  answer is 429. :meth:`VimeoFake.exhaust` spends the window.
- Errors in Vimeo's shape ``{"error", "link", "developer_message",
  "error_code"}``: 401 for a missing or unknown token, 404 for an unknown
  user, showcase or video.

- OAuth 2 (:class:`VimeoAuthorization`, ``oauth``), from the
  authentication guide and the "Authentication Extras" reference:
  ``GET /oauth/authorize`` (``response_type=code``, ``client_id``,
  ``redirect_uri``, ``state``, ``scope`` space-separated, default ``public
  private``) and ``POST /oauth/access_token`` (``grant_type=
  authorization_code``, ``code``, ``redirect_uri``; the client by HTTP Basic
  as documented, or in the form as allauth sends it [assumed accepted]),
  answering ``{"access_token", "token_type": "bearer", "scope", "user"}``
  (the user resource) with no refresh token and no ``expires_in``: Vimeo's
  tokens last until revoked. ``DELETE /tokens`` revokes the token it is
  sent with (204). The token's user reads the API as itself.

[assumed], not documented or disputed: the format of
``X-RateLimit-Reset`` (``reset_format`` "epoch" seconds, "http" date or
"iso" 8601 date: sources disagree); that ``fields`` on a collection
filters each item of ``data`` and leaves the paging object whole; that
the paging paths carry every query parameter sent (``fields`` and
``per_page`` included; the docs' example shows only ``page`` and
``per_page``); that a
filter on an array field (``pictures.sizes.link``) applies to each of its
elements; the error codes and texts (8003 for a missing or bad token, 5000
for not found, 9000 for the rate limit, 2204 for a bad per_page); that a
private video of another user answers 403 (error_code 3200) rather than
404; that a page past the last answers an empty ``data``; the window
length (60 s) and the numbers of ids (digits here); that ``/me/`` with
a trailing slash (allauth's profile URL) is ``/me``; the token endpoint's
error bodies (RFC 6749's here: Vimeo documents only the 400 statuses).
Scopes are recorded, not enforced: a ``public``-only token sees its own
private videos here.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate
from itertools import count
from typing import Any
from urllib.parse import urlencode

from tests.fakes.oauth import AuthorizationServer, OAuthUser, TokenIssue
from tests.fakes.server import FakeServer, RecordedRequest, Reply

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
WINDOW_SECONDS = 60
RESET_FORMATS = ("epoch", "http", "iso")

_USER = r"(?:/me|/users/(?P<user>[^/]+))"
ROUTES = (
    (re.compile(rf"{_USER}/?"), "user"),
    (re.compile(rf"{_USER}/videos"), "user_videos"),
    (re.compile(rf"{_USER}/albums/(?P<album>[^/]+)"), "showcase"),
    (re.compile(rf"{_USER}/albums/(?P<album>[^/]+)/videos"), "showcase_videos"),
    (re.compile(r"/videos/(?P<video>[^/]+)"), "video"),
)


def error_body(status: int, code: int, text: str, developer: str) -> Reply:
    """Return an error reply in Vimeo's shape."""
    body = {
        "error": text,
        "link": None,
        "developer_message": developer,
        "error_code": code,
    }
    return Reply.json(body, status=status)


def filtered(value: Any, fields: list[list[str]]) -> Any:
    """Return ``value`` with only the dotted ``fields`` (arrays: per element)."""
    if isinstance(value, list):
        return [filtered(element, fields) for element in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for path in fields:
        head, rest = path[0], path[1:]
        if head not in value:
            continue
        inner = filtered(value[head], [rest]) if rest else value[head]
        kept[head] = merged(kept[head], inner) if head in kept else inner
    return kept


def merged(first: Any, second: Any) -> Any:
    """Return two filtered parts of one value joined (objects key by key)."""
    if isinstance(first, dict) and isinstance(second, dict):
        joined = dict(first)
        for key, value in second.items():
            joined[key] = merged(joined[key], value) if key in joined else value
        return joined
    if isinstance(first, list) and isinstance(second, list):
        return [merged(a, b) for a, b in zip(first, second, strict=True)]
    return second


class VimeoAuthorization(AuthorizationServer):
    """Vimeo's authorization code grant at api.vimeo.com/oauth/."""

    authorize_path = "/oauth/authorize"
    token_path = "/oauth/access_token"
    access_token_lifetime = None
    issues_refresh_tokens = False
    service_name = "Vimeo"

    def __init__(self, server: VimeoFake) -> None:
        self.vimeo = server
        super().__init__(server)

    def install(self) -> None:
        """Add ``DELETE /tokens`` to the authorize and token endpoints."""
        super().install()
        self.server.route("DELETE", "/tokens", self._revoke_current)

    def parse_scope(self, raw: str | None) -> list[str]:
        """Return the scopes asked; none means ``public private``."""
        return (raw or "public private").split()

    def token_response(self, issue: TokenIssue) -> dict[str, Any]:
        """Return Vimeo's token JSON: lowercase ``bearer`` and the user."""
        return {
            "access_token": issue.access.token,
            "token_type": "bearer",
            "scope": self.format_scope(issue.access.scope),
            "user": self.vimeo.user_resource(str(issue.access.user.id)),
        }

    def _revoke_current(self, request: RecordedRequest) -> Reply:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not self.revoke(token.strip()):
            return error_body(
                401,
                8003,
                "Something strange occurred. Please try again.",
                "You must provide a valid authenticated access token.",
            )
        return Reply(204, "")


class VimeoFake(FakeServer):
    """Serve users, videos and showcases the test adds, as Vimeo's API does."""

    def __init__(self, *, rate_limit: int = 1000, reset_format: str = "epoch") -> None:
        super().__init__()
        if reset_format not in RESET_FORMATS:
            raise ValueError(f"reset_format must be one of {RESET_FORMATS}")
        self.reset_format = reset_format
        self.rate_limit = rate_limit
        self.remaining = rate_limit
        self.reset_at = int(time.time()) + WINDOW_SECONDS
        self.users: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.showcases: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self._ids = count(100001)
        self._state = threading.Lock()
        self.route("GET", re.compile(r"/.*"), self._answer)
        #: Vimeo's OAuth endpoints on the same host, as at api.vimeo.com.
        self.oauth = VimeoAuthorization(self)

    # --- test set-up ----------------------------------------------------------

    def _next_id(self) -> str:
        return str(next(self._ids))

    def add_user(self, name: str) -> str:
        """Add a user; return its id."""
        user_id = self._next_id()
        self.users[user_id] = {
            "uri": f"/users/{user_id}",
            "name": name,
            "link": f"https://vimeo.com/user{user_id}",
            "_videos": [],
        }
        return user_id

    def add_oauth_user(self, user_id: str) -> OAuthUser:
        """Let ``user_id`` sign in on the consent page; return the OAuth user."""
        user = self.users[user_id]
        return self.oauth.add_user(user_id, user["name"], name=user["name"])

    def user_resource(self, user_id: str) -> dict[str, Any]:
        """Return the user resource of ``user_id``, as ``GET /users/{id}`` does."""
        user = self.users[user_id]
        return {key: value for key, value in user.items() if not key.startswith("_")}

    def add_token(self, user_id: str) -> str:
        """Return a new token of ``user_id``."""
        token = f"vimeo-token-{len(self.tokens) + 1}-{user_id}"
        self.tokens[token] = user_id
        return token

    def add_video(
        self,
        user_id: str,
        name: str,
        *,
        duration: int = 120,
        plays: int | None = 10,
        privacy: str = "anybody",
        description: str | None = "",
        video_id: str | None = None,
    ) -> dict[str, Any]:
        """Add a video of ``user_id``; return its full resource."""
        video_id = video_id or self._next_id()
        user = self.users[user_id]
        created = datetime(2024, 1, 1, tzinfo=UTC).replace(second=len(self.videos) % 60)
        video = {
            "uri": f"/videos/{video_id}",
            "name": name,
            "description": description,
            "type": "video",
            "link": f"https://vimeo.com/{video_id}",
            "duration": duration,
            "width": 1920,
            "height": 1080,
            "created_time": created.isoformat(),
            "modified_time": "2024-06-01T10:00:00+00:00",
            "release_time": created.isoformat(),
            "privacy": {"view": privacy, "embed": "public", "download": False},
            "pictures": {
                "uri": f"/videos/{video_id}/pictures/1",
                "active": True,
                "sizes": [
                    {
                        "width": 100,
                        "height": 75,
                        "link": f"https://i.vimeocdn.com/{video_id}_100x75",
                    },
                    {
                        "width": 1920,
                        "height": 1080,
                        "link": f"https://i.vimeocdn.com/{video_id}_1920x1080",
                    },
                    {
                        "width": 640,
                        "height": 360,
                        "link": f"https://i.vimeocdn.com/{video_id}_640x360",
                    },
                ],
            },
            "stats": {"plays": plays},
            "metadata": {"connections": {"likes": {"total": 0}}},
            "user": {"uri": user["uri"], "name": user["name"], "link": user["link"]},
            "_owner": user_id,
        }
        self.videos[video_id] = video
        user["_videos"].append(video_id)
        return video

    def add_showcase(
        self,
        user_id: str,
        name: str,
        video_ids: list[str],
        *,
        privacy: str = "anybody",
        album_id: str | None = None,
    ) -> str:
        """Add a showcase of ``user_id`` holding ``video_ids`` in order; return its id."""
        album_id = album_id or self._next_id()
        user = self.users[user_id]
        self.showcases[album_id] = {
            "uri": f"/users/{user_id}/albums/{album_id}",
            "name": name,
            "description": f"About {name}",
            "link": f"https://vimeo.com/showcase/{album_id}",
            "created_time": "2024-02-01T09:00:00+00:00",
            "modified_time": "2024-03-01T09:00:00+00:00",
            "privacy": {"view": privacy},
            "pictures": {
                "sizes": [
                    {
                        "width": 960,
                        "height": 540,
                        "link": f"https://i.vimeocdn.com/a{album_id}_960",
                    },
                    {
                        "width": 295,
                        "height": 166,
                        "link": f"https://i.vimeocdn.com/a{album_id}_295",
                    },
                ]
            },
            "metadata": {"connections": {"videos": {"total": len(video_ids)}}},
            "user": {"uri": user["uri"], "name": user["name"], "link": user["link"]},
            "_owner": user_id,
            "_videos": list(video_ids),
        }
        return album_id

    def exhaust(self) -> None:
        """Spend the window's requests: every answer is 429 until :meth:`refill`."""
        with self._state:
            self.remaining = 0

    def refill(self) -> None:
        """Give the window its requests back."""
        with self._state:
            self.remaining = self.rate_limit

    def set_remaining(self, remaining: int) -> None:
        """Set how many requests the window has left."""
        with self._state:
            self.remaining = remaining

    # --- answering ------------------------------------------------------------

    def reset_header(self) -> str:
        """Return ``X-RateLimit-Reset`` in the fake's ``reset_format``."""
        if self.reset_format == "http":
            return formatdate(self.reset_at, usegmt=True)
        if self.reset_format == "iso":
            return datetime.fromtimestamp(self.reset_at, UTC).isoformat()
        return str(self.reset_at)

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": self.reset_header(),
        }

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._state:
            spent = self.remaining <= 0
            if not spent:
                self.remaining -= 1
            headers = self._rate_headers()
        if spent:
            reply = error_body(
                429,
                9000,
                "Too many API requests. Please wait and try again.",
                "The rate limit of this application or user has been exceeded.",
            )
        else:
            reply = self._route(request)
        reply.headers.extend(headers.items())
        return reply

    def _route(self, request: RecordedRequest) -> Reply:
        viewer = self._viewer(request)
        if viewer is None:
            return error_body(
                401,
                8003,
                "Something strange occurred. Please try again.",
                "You must provide a valid authenticated access token.",
            )
        for pattern, kind in ROUTES:
            match = pattern.fullmatch(request.path)
            if match:
                return getattr(self, f"_{kind}")(request, viewer, match.groupdict())
        return _not_found("The requested page couldn't be found.")

    def _viewer(self, request: RecordedRequest) -> str | None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if token in self.tokens:
            return self.tokens[token]
        user = self.oauth.user_for(token)
        return str(user.id) if user is not None else None

    def _owner(self, viewer: str, groups: dict[str, Any]) -> str | None:
        user = groups.get("user")
        user = viewer if user is None else user
        return user if user in self.users else None

    def _user(self, request: RecordedRequest, viewer: str, groups: dict) -> Reply:
        user = self._owner(viewer, groups)
        if user is None:
            return _not_found("The requested user couldn't be found.")
        return self._resource(request, self.users[user])

    def _user_videos(
        self, request: RecordedRequest, viewer: str, groups: dict
    ) -> Reply:
        user = self._owner(viewer, groups)
        if user is None:
            return _not_found("The requested user couldn't be found.")
        videos = [
            self.videos[video_id]
            for video_id in self.users[user]["_videos"]
            if self._visible(viewer, self.videos[video_id])
        ]
        return self._collection(request, videos)

    def _find_showcase(self, viewer: str, groups: dict) -> dict[str, Any] | None:
        user = self._owner(viewer, groups)
        showcase = self.showcases.get(groups["album"])
        if user is None or showcase is None or showcase["_owner"] != user:
            return None
        return showcase

    def _showcase(self, request: RecordedRequest, viewer: str, groups: dict) -> Reply:
        showcase = self._find_showcase(viewer, groups)
        if showcase is None:
            return _not_found("The requested album couldn't be found.")
        return self._resource(request, showcase)

    def _showcase_videos(
        self, request: RecordedRequest, viewer: str, groups: dict
    ) -> Reply:
        showcase = self._find_showcase(viewer, groups)
        if showcase is None:
            return _not_found("The requested album couldn't be found.")
        videos = [self.videos[video_id] for video_id in showcase["_videos"]]
        return self._collection(request, videos)

    def _video(self, request: RecordedRequest, viewer: str, groups: dict) -> Reply:
        video = self.videos.get(groups["video"])
        if video is None:
            return _not_found("The requested video couldn't be found.")
        if not self._visible(viewer, video):
            return error_body(
                403,
                3200,
                "Sorry, you don't have access to this video.",
                "The authenticated user may not view this video.",
            )
        return self._resource(request, video)

    def _visible(self, viewer: str, video: dict[str, Any]) -> bool:
        return video["privacy"]["view"] in ("anybody", "unlisted", "disable") or (
            video["_owner"] == viewer
        )

    def _resource(self, request: RecordedRequest, resource: dict[str, Any]) -> Reply:
        return Reply.json(self._filtered(request, resource))

    def _filtered(self, request: RecordedRequest, resource: dict[str, Any]) -> Any:
        public = {
            key: value for key, value in resource.items() if not key.startswith("_")
        }
        fields = request.arg("fields")
        if not fields:
            return public
        return filtered(
            public, [field.split(".") for field in fields.split(",") if field]
        )

    def _collection(
        self, request: RecordedRequest, items: list[dict[str, Any]]
    ) -> Reply:
        try:
            per_page = int(request.arg("per_page", str(DEFAULT_PER_PAGE)) or 0)
            page = int(request.arg("page", "1") or 0)
        except ValueError:
            per_page, page = 0, 0
        if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
            return error_body(
                400,
                2204,
                "Something strange occurred. Please try again.",
                "The parameters passed to this API endpoint did not pass Vimeo's "
                "validation.",
            )
        total = len(items)
        last = max(1, -(-total // per_page))
        start = (page - 1) * per_page
        data = [
            self._filtered(request, item) for item in items[start : start + per_page]
        ]
        body = {
            "total": total,
            "page": page,
            "per_page": per_page,
            "paging": {
                "next": self._page_path(request, page + 1) if page < last else None,
                "previous": self._page_path(request, page - 1) if page > 1 else None,
                "first": self._page_path(request, 1),
                "last": self._page_path(request, last),
            },
            "data": data,
        }
        return Reply.json(body)

    def _page_path(self, request: RecordedRequest, page: int) -> str:
        query = [
            (name, values[0])
            for name, values in request.query.items()
            if name != "page"
        ]
        query.insert(0, ("page", str(page)))
        return f"{request.path}?{urlencode(query)}"


def _not_found(text: str) -> Reply:
    return error_body(404, 5000, text, "The requested resource could not be found.")
