"""The Vimeo provider: identity, settings, auth and the hooks it gives.

A token (credential ``access_token``, sent as ``Authorization: Bearer``) or
a learner's Vimeo connection (``Integration.connection``, allauth's
``vimeo_oauth2``; the client factory authenticates with it) reads a user's
videos (``user_id``, or ``me``), showcases by id (``showcase_ids``) with
their videos, and single videos (``video_ids``). docs/providers/vimeo.md
documents settings, calls, paging and rate limits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from integrations.http.auth import BearerToken
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.vimeo import health
from integrations.providers.vimeo.client import (
    ACCEPT,
    PUBLIC_API,
    VimeoErrors,
    VimeoThrottle,
)
from integrations.providers.vimeo.sync import (
    PlaylistItemsStream,
    PlaylistsStream,
    VideosStream,
    VimeoConfig,
)
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration
    from integrations.providers.base import Stream

#: A user's numeric id, or the custom URL name (vimeo.com/<name>).
USER_ID = re.compile(r"^(?:me|[0-9]{1,20}|[A-Za-z][A-Za-z0-9_]{0,63})$")
#: Showcase (album) and video ids are numbers.
NUMERIC_ID = re.compile(r"^[0-9]{1,20}$")
#: More ids than this is a user's videos or a showcase to sync instead.
MAX_IDS = 500

SETTINGS_SCHEMA = (
    SettingField(
        "user_id",
        help="Sync this user's videos (the number in its /users/ uri, its "
        "vimeo.com name, or me for the token's own account); showcase_ids "
        "are read under this user too (under me without it).",
    ),
    SettingField(
        "showcase_ids",
        type="list",
        default=[],
        help="Sync these showcases (albums) by id, with their videos: the "
        "number in vimeo.com/showcase/<id>.",
    ),
    SettingField(
        "video_ids",
        type="list",
        default=[],
        help="Sync these videos by id: the number in vimeo.com/<id>.",
    ),
)


def _ids(name: str, values: list[Any], problems: list[str]) -> list[str]:
    """Return ``values`` as id strings, adding a problem per bad one."""
    ids = []
    for position, value in enumerate(values):
        text = (
            str(value)
            if isinstance(value, int) and not isinstance(value, bool)
            else value
        )
        if not isinstance(text, str) or not NUMERIC_ID.match(text):
            problems.append(
                f"{name}.{position}: {value!r} is not a Vimeo id (digits, as in "
                "vimeo.com/123456789)"
            )
            continue
        ids.append(text)
    if len(set(ids)) != len(ids):
        problems.append(f"{name}: an id is listed twice")
    if len(values) > MAX_IDS:
        problems.append(f"{name}: at most {MAX_IDS} ids; sync a user (user_id) instead")
    return ids


def parse_settings(values: Any) -> tuple[VimeoConfig | None, list[str]]:
    """Return the config the settings describe and every problem found.

    Each problem names the setting at fault.
    """
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    user_id = cleaned.get("user_id")
    if user_id is not None and not USER_ID.match(user_id):
        problems.append(
            f"user_id: {user_id!r} is not a Vimeo user (its number, its "
            "vimeo.com name, or me)"
        )
    showcase_ids = _ids("showcase_ids", list(cleaned["showcase_ids"]), problems)
    video_ids = _ids("video_ids", list(cleaned["video_ids"]), problems)
    if not user_id and not cleaned["showcase_ids"] and not cleaned["video_ids"]:
        problems.append(
            "user_id: set user_id (or me), showcase_ids or video_ids to say "
            "which videos to sync"
        )

    if problems:
        return None, problems
    config = VimeoConfig(
        user_id=user_id, showcase_ids=tuple(showcase_ids), video_ids=tuple(video_ids)
    )
    return config, []


@register
class VimeoProvider(Provider):
    """Sync showcases, their videos and a user's videos from Vimeo's API."""

    slug = "vimeo"
    title = "Vimeo"
    description = (
        "Vimeo API 3.4: a user's videos, showcases with their videos, and "
        "single videos by id."
    )
    auth_kind = AuthKind.API_KEY
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField(
            "access_token",
            kind="api_key",
            required=True,
            help="A Vimeo access token (an app's personal token with the "
            "'public' scope, 'private' for private videos), sent as "
            "'Authorization: Bearer'. A learner's integration uses the "
            "learner's Vimeo connection instead.",
        ),
    )
    #: Empty means https://api.vimeo.com.
    requires_base_url = False
    #: Vimeo's limit depends on the account's plan and is steered by its
    #: X-RateLimit-* headers (VimeoThrottle); this keeps a burst in check.
    default_rate_limit = (25, 10.0)

    def validate_settings(self, settings: Any) -> None:
        """Raise ValidationError listing every problem, each naming its setting."""
        refuse_bad_settings(parse_settings, settings)

    def config(self, integration: Integration) -> VimeoConfig:
        """Return the integration's checked settings or raise ConfigurationError."""
        return config_of(integration, parse_settings)

    def streams(self, integration: Integration) -> list[Stream]:
        """Return showcases, then their items, then the videos."""
        config = self.config(integration)
        return [
            PlaylistsStream(config),
            PlaylistItemsStream(config),
            VideosStream(config),
        ]

    def auth_for(self, integration: Integration) -> BearerToken:
        """Send the ``access_token`` credential as ``Authorization: Bearer``."""
        return BearerToken(integration.secret("access_token"))

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Ask for API 3.4 in Accept; read Vimeo's errors and rate limits."""
        self.config(integration)
        return {
            "base_url": integration.base_url or PUBLIC_API,
            "default_headers": {"Accept": ACCEPT},
            "error_mapper": VimeoErrors(learner=integration.connection_id is not None),
            "rate_limit_signals": VimeoThrottle(),
        }

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """GET /me and report the account's name and the remaining rate limit."""
        return health.check_vimeo_health(client)
