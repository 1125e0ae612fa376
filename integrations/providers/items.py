"""Reading a provider's JSON items into records, one bad item at a time.

A stream maps each item of a page with a mapper that raises
:class:`ItemError` for an item it cannot use; :func:`map_items` keeps the
records and turns each refusal into a failure the sync run counts and
samples, so one odd item never fails the page. The readers name the key at
fault in their reasons.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from integrations.providers.base import Page

logger = logging.getLogger(__name__)


class ItemError(Exception):
    """One item cannot become a record; the sync records it and goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def map_items(
    items: list[Any], mapper: Callable[[dict[str, Any]], Any]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Return the records ``mapper`` makes of ``items`` and a failure per bad item.

    ``mapper(item)`` returns a record, or None for an item deliberately
    skipped; a failure is ``{"external_id", "reason"}``.
    """
    records: list[Any] = []
    failures: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ItemError(f"item {position} of the page is not a JSON object")
            record = mapper(item)
        except ItemError as error:
            external_id = item.get("id") if isinstance(item, dict) else None
            failures.append(
                {"external_id": str(external_id or ""), "reason": error.reason}
            )
            continue
        if record is not None:
            records.append(record)
    return records, failures


def mapped_page(
    records: list[Any],
    failures: list[dict[str, Any]],
    *,
    fetched: int,
    next_cursor: dict[str, Any] | None,
    event: str,
    integration: str,
    stream: str,
) -> Page:
    """Return the Page of a mapped listing page; log ``event`` if items failed.

    ``event`` is the provider's constant message, e.g.
    ``"github.sync.items_failed"``; the context goes in ``extra``.
    """
    if failures:
        logger.warning(
            event,
            extra={
                "integration": integration,
                "stream": stream,
                "failed": len(failures),
                "fetched": fetched,
            },
        )
    return Page(
        records=records, next_cursor=next_cursor, fetched=fetched, failures=failures
    )


def read_text(item: dict[str, Any], key: str, *, required: bool = False) -> str:
    """Return ``item[key]`` as text ("" for null); refuse another type."""
    value = item.get(key)
    if value is None or (required and value == ""):
        if required:
            raise ItemError(f"{key}: missing or empty")
        return ""
    if not isinstance(value, str):
        raise ItemError(f"{key}: expected text, got {type(value).__name__}")
    return value


def read_datetime(item: dict[str, Any], key: str) -> datetime | None:
    """Return ``item[key]`` as an aware datetime (UTC if it names no zone)."""
    value = item.get(key)
    if value in (None, ""):
        return None
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ItemError(f"{key}: {value!r} is not an ISO 8601 date")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
