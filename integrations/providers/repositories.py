"""What the code-hosting providers (GitHub, GitLab) share.

Readers of repository JSON values and the check that a stored
``Link``-header cursor still continues the configured listing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from integrations.providers.items import ItemError

if TYPE_CHECKING:
    from integrations.providers.base import StreamContext

logger = logging.getLogger(__name__)


def read_flag(item: dict[str, Any], key: str) -> bool:
    """Return ``item[key]`` as a boolean (False for null or absent)."""
    value = item.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ItemError(f"{key}: expected true or false, got {type(value).__name__}")
    return value


def read_count(item: dict[str, Any], key: str) -> int:
    """Return ``item[key]`` as a count (0 for null or absent)."""
    value = item.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ItemError(f"{key}: expected a count, got {value!r}")
    return value


def read_topics(item: dict[str, Any], *keys: str) -> list[str]:
    """Return the sorted topic names under the first of ``keys`` present."""
    value = next((item[key] for key in keys if key in item), None)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ItemError("topics: expected a list of names")
    return sorted(value)


def resume_link_cursor(
    context: StreamContext,
    cursor: dict[str, Any] | None,
    path: str,
    *,
    stream: str,
    event: str,
) -> dict[str, Any] | None:
    """Return the stored cursor if its next-page URL continues ``path``.

    A cursor of another listing (a setting changed) or shape restarts the
    pass, logged as ``event``; rows read again are upserted unchanged.
    """
    if cursor is None:
        return None
    url = cursor.get("url") if isinstance(cursor, dict) else None
    if isinstance(url, str) and urlsplit(url).path.endswith(path):
        return {"url": url}
    logger.warning(
        event, extra={"integration": context.integration.name, "stream": stream}
    )
    return None
