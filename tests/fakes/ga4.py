"""A fake GA4 Measurement Protocol on loopback, answering as Google documents.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces, from
developers.google.com ".../ga4/sending-events", ".../ga4/validating-events"
and support.google.com/analytics/answer/13316687 (naming rules):

- ``POST /mp/collect``: always 204 and no body, whatever the payload
  (Google: the endpoint never returns an HTTP error for bad events; 204 as
  the literal status is [assumed]). Every request is kept in ``collected``
  with the validation messages it would have raised, so tests can assert
  the portal sent only valid events.
- ``POST /debug/mp/collect``: 200 ``{"validationMessages": [...]}``, each
  message with ``fieldPath``, ``description`` and ``validationCode``; an
  empty list when the payload is valid. Like Google's, it does not check
  ``api_secret``.
- Rules checked (numbers [S] via the API notes, the code list [assumed]
  beyond the documented ones): ``client_id`` required (VALUE_REQUIRED);
  at most 25 events (EXCEEDED_MAX_ENTITIES); event names ≤ 40 characters,
  starting with a letter, letters/digits/underscore (NAME_INVALID), not
  reserved (NAME_RESERVED); at most 25 params (EXCEEDED_MAX_ENTITIES);
  param names ≤ 40 with the same character rules and not starting with a
  reserved prefix (NAME_INVALID / NAME_RESERVED); string values ≤ 100
  characters (VALUE_OUT_OF_BOUNDS); a ``timestamp_micros`` more than 72 h
  old (VALUE_OUT_OF_BOUNDS [assumed]: Google drops such events); a body
  over 130 kB (VALUE_OUT_OF_BOUNDS [assumed]).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply

__all__ = ["Ga4Fake", "Reply", "validate"]

API_SECRET = "fake-ga4-api-secret-Zq81xP0w"
MEASUREMENT_ID = "G-FAKE12345"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_RESERVED_EVENTS = {
    "ad_click", "ad_impression", "app_remove", "click", "error",
    "file_download", "first_open", "first_visit", "form_start", "form_submit",
    "in_app_purchase", "page_view", "scroll", "session_start",
    "user_engagement", "video_progress", "video_start", "view_search_results",
}  # fmt: skip
_RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
_MAX_AGE_MICROS = 72 * 3600 * 1_000_000


def _message(path: str, description: str, code: str) -> dict[str, str]:
    return {"fieldPath": path, "description": description, "validationCode": code}


def validate(body: Any, raw_size: int = 0) -> list[dict[str, str]]:
    """Return the validation messages GA4's debug endpoint gives ``body``."""
    if not isinstance(body, dict):
        return [_message("", "Payload must be a JSON object.", "VALUE_INVALID")]
    found = []
    if raw_size > 130 * 1024:
        found.append(_message("", "Payload exceeds 130kB.", "VALUE_OUT_OF_BOUNDS"))
    if not body.get("client_id"):
        found.append(_message("client_id", "client_id is required.", "VALUE_REQUIRED"))
    events = body.get("events", [])
    if not isinstance(events, list):
        return [*found, _message("events", "events must be a list.", "VALUE_INVALID")]
    if len(events) > 25:
        found.append(
            _message(
                "events", "At most 25 events per request.", "EXCEEDED_MAX_ENTITIES"
            )
        )
    now = int(time.time() * 1_000_000)
    for index, event in enumerate(events):
        found.extend(_event_messages(index, event, body.get("timestamp_micros"), now))
    return found


def _event_messages(
    index: int, event: Any, default_micros: Any, now: int
) -> list[dict[str, str]]:
    path = f"events[{index}]"
    name = event.get("name", "") if isinstance(event, dict) else ""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return [
            _message(
                f"{path}.name",
                f"Event at index: [{index}] has invalid name [{name}].",
                "NAME_INVALID",
            )
        ]
    found = []
    if name in _RESERVED_EVENTS or name.startswith(_RESERVED_PREFIXES):
        found.append(
            _message(
                f"{path}.name", f"Event name [{name}] is reserved.", "NAME_RESERVED"
            )
        )
    micros = event.get("timestamp_micros", default_micros)
    if isinstance(micros, int) and now - micros > _MAX_AGE_MICROS:
        found.append(
            _message(
                f"{path}.timestamp_micros",
                "Event is older than 72 hours.",
                "VALUE_OUT_OF_BOUNDS",
            )
        )
    params = event.get("params", {})
    if not isinstance(params, dict):
        return [
            *found,
            _message(f"{path}.params", "params must be an object.", "VALUE_INVALID"),
        ]
    if len(params) > 25:
        found.append(
            _message(f"{path}.params", "At most 25 params.", "EXCEEDED_MAX_ENTITIES")
        )
    for key, value in params.items():
        where = f"{path}.params.{key}"
        if not _NAME.fullmatch(key):
            found.append(
                _message(where, f"Invalid param name [{key}].", "NAME_INVALID")
            )
        elif key.startswith(_RESERVED_PREFIXES):
            found.append(
                _message(where, f"Param name [{key}] is reserved.", "NAME_RESERVED")
            )
        if isinstance(value, str) and len(value) > 100:
            found.append(
                _message(
                    where, "Param value is over 100 characters.", "VALUE_OUT_OF_BOUNDS"
                )
            )
    return found


class Ga4Fake(FakeServer):
    """The collect and debug endpoints of one GA4 property."""

    def __init__(self) -> None:
        super().__init__()
        #: (query, body, validation messages) of every collect request.
        self.collected: list[tuple[dict[str, list[str]], Any, list]] = []
        #: Collect calls (1 for the first) to answer with this status instead.
        self.failing_calls: dict[int, int] = {}
        self._calls = 0
        self.route("POST", "/mp/collect", self._collect)
        self.route("POST", "/debug/mp/collect", self._debug)

    def events(self) -> list[dict[str, Any]]:
        """Return every event collected, with its request's client_id."""
        return [
            {**event, "client_id": body.get("client_id")}
            for _, body, _ in self.collected
            for event in body.get("events", [])
        ]

    def invalid(self) -> list[dict[str, str]]:
        """Return every validation message of the collected requests."""
        return [message for _, _, messages in self.collected for message in messages]

    def _parse(self, request: RecordedRequest) -> Any:
        try:
            return json.loads(request.body or b"null")
        except ValueError:
            return None

    def _collect(self, request: RecordedRequest) -> Reply:
        self._calls += 1
        status = self.failing_calls.get(self._calls)
        if status is not None:
            # An outage answer: GA4 took nothing from this request.
            return Reply.text("Service Unavailable", status)
        body = self._parse(request)
        self.collected.append((request.query, body, validate(body, len(request.body))))
        return Reply(204)

    def _debug(self, request: RecordedRequest) -> Reply:
        body = self._parse(request)
        return Reply.json({"validationMessages": validate(body, len(request.body))})
