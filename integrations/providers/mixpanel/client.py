"""Mixpanel's ingestion calls on the portal's shared HttpClient.

- ``POST /track``: form field ``data`` (a JSON array of events) and
  ``verbose=1``, so the answer is ``{"status": 1}`` or ``{"status": 0,
  "error": ...}`` instead of a bare ``1``/``0``. Mixpanel drops events
  older than 5 days here without saying so.
- ``POST /import?strict=1``: a JSON array, HTTP Basic auth with the project
  API secret as username and an empty password; ``time`` in milliseconds.
  A 400 with ``failed_records`` is a partial success: the other events
  were ingested.
- ``POST /engage``: form field ``data`` (a JSON array of profile updates,
  ``$set``), ``verbose=1``.

Mixpanel docs: https://docs.mixpanel.com/reference/import-events,
https://docs.mixpanel.com/troubleshooting/errors/400-bad-request and
https://docs.mixpanel.com/troubleshooting/errors/historical-events-not-appearing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.analytics import (
    actor_id,
    learner_of,
    occurred,
    scalar_params,
)
from integrations.redaction import redact_text, register_secret

if TYPE_CHECKING:
    from integrations.http.response import HttpResponse
    from integrations.providers.base import SinkMessage

#: Events per request the server takes (both /track and /import).
SERVER_MAX_EVENTS = 2000
#: The portal's batch: the official library's buffer size, small enough
#: that one refused batch costs little and far below every server limit.
DEFAULT_BATCH = 50
#: Bytes per request kept under /import's older 2 MB cap (10 MB today).
MAX_BODY_BYTES = 2 * 1024 * 1024
#: /track keeps events up to this old; older ones need /import.
TRACK_MAX_AGE = timedelta(days=5)
#: Properties per event Mixpanel takes (fewer than 255), with room for ours.
MAX_PROPERTIES = 250
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


def insert_id(key: str) -> str:
    """Return the ``$insert_id`` of a delivery key (Mixpanel dedupes on it).

    ``12:3`` becomes ``12-3``; a key that would not fit Mixpanel's 36
    letters, digits and dashes [S] becomes the first 36 hex digits of its
    SHA-256, stable across retries either way.
    """
    candidate = key.replace(":", "-")
    if _INSERT_ID.fullmatch(candidate):
        return candidate
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:36]


def event_of(message: SinkMessage, token: str, *, milliseconds: bool) -> dict:
    """Return the Mixpanel event of one portal event."""
    when = occurred(message)
    properties: dict[str, Any] = {
        "token": token,
        "distinct_id": actor_id(message),
        "time": int(when.timestamp() * 1000) if milliseconds else int(when.timestamp()),
        "$insert_id": insert_id(message.key),
        "mp_lib": "portal",
        "portal_subject": message.subject,
    }
    for key, value in scalar_params(message.payload).items():
        if len(properties) >= MAX_PROPERTIES:
            break
        properties.setdefault(key, value)
    return {"event": message.kind, "properties": properties}


def profile_update(message: SinkMessage, token: str) -> dict[str, Any] | None:
    """Return the ``$set`` of a learner's profile a progress event implies."""
    if learner_of(message) is None or not message.kind.startswith("progress."):
        return None
    changes = {"last_progress_at": message.occurred_at}
    for source, target in (
        ("course_id", "last_course_id"),
        ("percent", "last_progress_percent"),
    ):
        if message.payload.get(source) is not None:
            changes[target] = message.payload[source]
    return {"$token": token, "$distinct_id": actor_id(message), "$set": changes}


def split_by_age(
    messages: Sequence[SinkMessage], now: datetime
) -> tuple[list[SinkMessage], list[SinkMessage]]:
    """Return the messages /track keeps and those older than its 5 days."""
    recent, old = [], []
    for message in messages:
        (old if now - occurred(message) > TRACK_MAX_AGE else recent).append(message)
    return recent, old


def chunks(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut a list of objects into requests under the count and size limits."""
    found: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 2
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":")).encode("utf-8")) + 1
        if current and (
            len(current) == SERVER_MAX_EVENTS or size + item_size > MAX_BODY_BYTES
        ):
            found.append(current)
            current, size = [], 2
        current.append(item)
        size += item_size
    if current:
        found.append(current)
    return found


def form_data(items: list[dict[str, Any]]) -> dict[str, str]:
    """Return the form fields of a /track or /engage call."""
    return {"data": json.dumps(items, separators=(",", ":")), "verbose": "1"}


def import_headers(api_secret: str) -> dict[str, str]:
    """Return the Basic auth header of /import: the secret, empty password."""
    encoded = base64.b64encode(f"{api_secret}:".encode()).decode("ascii")
    register_secret(api_secret)
    register_secret(encoded)
    return {"Authorization": f"Basic {encoded}"}


def check_verbose(response: HttpResponse, call: str) -> None:
    """Raise ProviderError unless a verbose answer says ``status: 1``."""
    body = response.json()
    if isinstance(body, dict) and body.get("status") == 1:
        return
    reason = body.get("error") if isinstance(body, dict) else None
    raise errors.ProviderError(
        f"Mixpanel refused the {call} batch: "
        + (redact_text(str(reason))[:200] if reason else "no reason given"),
        status=response.status,
    )


def failed_records(response: HttpResponse) -> dict[str, str]:
    """Return insert id to reason of the events a 400 from /import refused.

    Raise ProviderError when a 400 names no failed record (a refusal of the
    whole request, a bad body).
    """
    body = response.json()
    records = body.get("failed_records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        reason = body.get("error") if isinstance(body, dict) else None
        raise errors.ProviderError(
            "Mixpanel refused the import: "
            + (redact_text(str(reason))[:200] if reason else "no reason given"),
            status=response.status,
        )
    refused = {}
    for record in records:
        if isinstance(record, dict) and record.get("insert_id"):
            field = str(record.get("field") or "")[:100]
            message = redact_text(str(record.get("message") or ""))[:200]
            refused[str(record["insert_id"])] = (
                f"Mixpanel refused the event ({field}): {message}".strip()
            )
    return refused


@dataclass(frozen=True)
class MixpanelErrors:
    """Map Mixpanel's refusals of credentials and size to typed errors.

    A frozen dataclass, so equal hooks compare equal and the client factory
    keeps reusing the integration's client (and its open connection).
    """

    def __call__(self, response: HttpResponse) -> errors.IntegrationError | None:
        """Return the error a response means, or None to let the status decide."""
        if response.status in (401, 403):
            return errors.AuthenticationFailed(
                "Mixpanel refused the credentials: check the project_token and, "
                "for events older than 5 days, the api_secret credential"
            )
        if response.status == 413:
            return errors.PermanentError("Mixpanel found the request too large")
        return None
