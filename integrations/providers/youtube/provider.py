"""The YouTube provider: identity, settings, auth and the hooks it gives.

An API key (credential ``api_key``, sent as the ``key`` query parameter)
reads public and unlisted playlists by id (``playlist_ids``) or a channel's
public playlists (``channel_id``); a learner's Google connection
(``Integration.connection``; the client factory sends its token as
``Authorization: Bearer``) also reads the learner's own playlists, private
ones included (``mine``). docs/providers/youtube.md documents settings,
calls, quota and errors.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.http.auth import QueryApiKey
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.youtube import health
from integrations.providers.youtube.client import (
    PUBLIC_API,
    YouTubeErrors,
    YouTubeThrottle,
)
from integrations.providers.youtube.sync import (
    PlaylistItemsStream,
    PlaylistsStream,
    VideosStream,
    YouTubeConfig,
)
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration
    from integrations.providers.base import Stream

#: YouTube's playlist ids: PL..., UU..., OLAK5uy_... (letters, digits, - and _).
PLAYLIST_ID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
#: A channel id is "UC" and 22 more characters.
CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
#: More ids than this is a list to sync from a channel instead.
MAX_PLAYLIST_IDS = 500

SETTINGS_SCHEMA = (
    SettingField(
        "playlist_ids",
        type="list",
        default=[],
        help="Sync these playlists by id (the list= part of a playlist's URL); "
        "public and unlisted ones with an API key.",
    ),
    SettingField(
        "channel_id",
        help="Sync this channel's public playlists (its id starts with UC).",
    ),
    SettingField(
        "mine",
        type="bool",
        default=False,
        help="Sync the signed-in account's own playlists, private ones too; "
        "only for a learner's Google connection, not with an API key.",
    ),
)


def parse_settings(values: Any) -> tuple[YouTubeConfig | None, list[str]]:
    """Return the config the settings describe and every problem found.

    Each problem names the setting at fault.
    """
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    playlist_ids = list(cleaned["playlist_ids"])
    for position, value in enumerate(playlist_ids):
        if not isinstance(value, str) or not PLAYLIST_ID.match(value):
            problems.append(
                f"playlist_ids.{position}: {value!r} is not a YouTube playlist id "
                "(letters, digits, - and _, as in ...?list=PL...)"
            )
    if len(set(map(str, playlist_ids))) != len(playlist_ids):
        problems.append("playlist_ids: an id is listed twice")
    if len(playlist_ids) > MAX_PLAYLIST_IDS:
        problems.append(
            f"playlist_ids: at most {MAX_PLAYLIST_IDS} ids; sync a channel "
            "(channel_id) instead"
        )
    channel_id = cleaned.get("channel_id")
    if channel_id is not None and not CHANNEL_ID.match(channel_id):
        problems.append(
            f"channel_id: {channel_id!r} is not a YouTube channel id (UC and 22 "
            "letters, digits, - or _; a handle such as @name is not an id)"
        )
    mine = cleaned["mine"]
    if not playlist_ids and channel_id is None and not mine:
        problems.append(
            "playlist_ids: set playlist_ids or channel_id (or mine: true for a "
            "learner's Google connection) to say which playlists to sync"
        )

    if problems:
        return None, problems
    config = YouTubeConfig(
        playlist_ids=tuple(playlist_ids), channel_id=channel_id, mine=mine
    )
    return config, []


@register
class YouTubeProvider(Provider):
    """Sync playlists, their items and their videos from YouTube Data API v3."""

    slug = "youtube"
    title = "YouTube"
    description = (
        "YouTube Data API v3: playlists by id, a channel's playlists, or a "
        "learner's own, with their videos' details."
    )
    auth_kind = AuthKind.API_KEY
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "api_key",
            kind="api_key",
            required=True,
            help="A Google Cloud API key of a project with YouTube Data API v3 "
            "enabled, sent as the key= query parameter. A learner's integration "
            "uses the learner's Google connection instead.",
        ),
    )
    #: Empty means https://www.googleapis.com/youtube/v3.
    requires_base_url = False
    #: The day's 10,000 units are the real limit (one a call); this only
    #: keeps a burst from spending them all at once.
    default_rate_limit = (50, 10.0)

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its setting."""
        refuse_bad_settings(parse_settings, settings)

    def config(self, integration: Integration) -> YouTubeConfig:
        """Return the integration's checked settings or raise ConfigurationError.

        ``mine`` needs a signed-in account: a learner's Google connection.
        """
        config = config_of(integration, parse_settings)
        if config.mine and integration.connection_id is None:
            raise errors.ConfigurationError(
                "mine: reads a signed-in account's playlists and needs a learner's "
                "Google connection; with an api_key set playlist_ids or channel_id",
                integration=integration.name,
                details={"field": "settings.mine"},
            )
        return config

    def streams(self, integration: Integration) -> list[Stream]:
        """Return playlists, then their items, then the items' videos."""
        return [
            PlaylistsStream(self.config(integration)),
            PlaylistItemsStream(),
            VideosStream(),
        ]

    def auth_for(self, integration: Integration) -> QueryApiKey:
        """Send the ``api_key`` credential as the ``key`` query parameter."""
        return QueryApiKey("key", integration.secret("api_key"))

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Read Google's errors by reason and its quota refusals as rate limits."""
        self.config(integration)
        return {
            "base_url": integration.base_url or PUBLIC_API,
            "error_mapper": YouTubeErrors(
                learner=integration.connection_id is not None
            ),
            "rate_limit_signals": YouTubeThrottle(),
        }

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """List one playlist id (one quota unit) and report the answer."""
        return health.check_youtube_health(client, self.config(integration))
