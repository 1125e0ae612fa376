"""Create a course's Slack channel with ``conversations.create``.

Slack channel names may hold only lowercase letters, digits, hyphens and
underscores, at most 80 characters
(https://api.slack.com/methods/conversations.create). A course title is
normalized into such a name; when Slack answers ``name_taken`` the
existing channel is looked up with ``conversations.list``, page by page
(``response_metadata.next_cursor``), so running this twice is harmless.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integrations import errors
from integrations.registry import get_provider

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

logger = logging.getLogger(__name__)

MAX_NAME = 80
VALID_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")
#: Channels per conversations.list page; Slack recommends at most 200.
LIST_PAGE = 200
#: Pages read before giving up the lookup (200 000 channels).
MAX_LIST_PAGES = 1000

_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")


class InvalidChannelName(ValueError):
    """A title holds nothing that can become a Slack channel name."""


@dataclass(frozen=True)
class SlackChannel:
    """A channel the portal created or found: its id, name and whether new."""

    id: str
    name: str
    created: bool


def channel_name(title: str) -> str:
    """Return ``title`` as a valid Slack channel name, or raise InvalidChannelName.

    Accents are dropped, letters lowered, every run of other characters
    becomes one hyphen, and the name is cut to 80 characters.
    """
    if not isinstance(title, str):
        raise InvalidChannelName(f"A channel name needs a text title, not {title!r}.")
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore")
    name = _NOT_ALLOWED.sub("-", ascii_title.decode("ascii").lower()).strip("-_")
    name = name[:MAX_NAME].rstrip("-_")

    if not name:
        raise InvalidChannelName(
            f"The title {title[:100]!r} has no letters or digits Slack allows in a "
            "channel name (a-z, 0-9, - and _); give the course a title with some, "
            "or pass a name."
        )
    return name


def create_channel(
    integration: Integration, name: str, *, is_private: bool = False
) -> SlackChannel:
    """Create the channel ``name`` (already valid), or find it if it exists."""
    if not isinstance(name, str) or not VALID_NAME.match(name):
        raise InvalidChannelName(
            f"{name!r} is not a Slack channel name: use at most 80 lowercase "
            "letters, digits, hyphens and underscores."
        )
    client = get_provider(integration.provider).build_client(integration)

    try:
        response = client.request(
            "POST",
            "conversations.create",
            json={"name": name, "is_private": is_private},
        )
    except errors.ProviderError as error:
        if error.provider_code != "name_taken":
            raise
        return find_channel(client, integration, name)

    channel = response.json()["channel"]
    logger.info(
        "slack.channel.created",
        extra={"integration": integration.name, "channel": channel["id"]},
    )
    return SlackChannel(id=channel["id"], name=channel["name"], created=True)


def find_channel(
    client: HttpClient, integration: Integration, name: str
) -> SlackChannel:
    """Return the channel called ``name``, reading conversations.list page by page."""
    cursor = ""
    for _ in range(MAX_LIST_PAGES):
        params = {
            "limit": LIST_PAGE,
            "types": "public_channel,private_channel",
            "exclude_archived": "true",
        }
        if cursor:
            params["cursor"] = cursor
        body = client.request("GET", "conversations.list", params=params).json()

        for channel in body.get("channels") or []:
            if channel.get("name") == name:
                return SlackChannel(id=channel["id"], name=name, created=False)
        cursor = (body.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            break

    raise errors.ConfigurationError(
        f"Slack says the channel name {name!r} is taken, but the bot cannot see "
        "that channel (it may be archived, or private without the bot): "
        "unarchive it, invite the app, or choose another name.",
        integration=integration.name,
        provider_code="name_taken",
    )


def create_course_channel(
    integration: Integration, title: str, *, is_private: bool = False
) -> SlackChannel:
    """Create (or find) the channel for a course from its title."""
    return create_channel(integration, channel_name(title), is_private=is_private)
