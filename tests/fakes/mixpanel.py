"""A fake Mixpanel ingestion API on loopback, answering as Mixpanel documents.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces, from
docs.mixpanel.com (import-events, 400-bad-request, historical events
troubleshooting) and the official Python library's Consumer:

- ``POST /track`` and ``POST /engage``: form-encoded ``data`` (a JSON array)
  and ``verbose=1``; 200 ``{"status": 1, "error": null}``, or ``{"status":
  0, "error": "<reason>"}`` when an object lacks the project token (the
  exact reason texts are [assumed]). More than 2000 objects: status 0.
  /track keeps only events of the last 5 days (older ones are counted in
  ``dropped``, silently, as Mixpanel does).
- ``POST /import?strict=1``: a JSON array, Basic auth with the project API
  secret as username and an empty password; a wrong secret: 401
  ``{"error": "Invalid credentials", "status": 0}`` ([assumed] body). An
  event without ``$insert_id``, ``distinct_id`` or a ``time`` after
  1971-01-01 in seconds or milliseconds, or whose insert id is in
  ``refuse_insert_ids``, fails; when any fails: 400 with ``failed_records``
  (index, insert_id, field, message) and the others are still kept.
  Success: 200 ``{"code": 200, "num_records_imported": N, "status": "OK"}``.
- Scripted faults for the next call of any endpoint: :meth:`fail` (5xx),
  :meth:`rate_limit` (429 with ``Retry-After``), :meth:`refuse` (status 0
  with an error), :meth:`unauthorized` (401).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.server import FakeServer, RecordedRequest, Reply

__all__ = ["MixpanelFake", "Reply"]

PROJECT_TOKEN = "fake-mixpanel-project-token-9f8e7d"
API_SECRET = "fake-mixpanel-api-secret-1a2b3c4d"
_MIN_TIME = 31_536_000  # 1971-01-01 in seconds
_TRACK_WINDOW = 5 * 86400


class MixpanelFake(FakeServer):
    """One Mixpanel project: its events, profiles and switchable faults."""

    def __init__(self) -> None:
        super().__init__()
        self.tracked: list[dict[str, Any]] = []
        self.imported: list[dict[str, Any]] = []
        self.profiles: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.refuse_insert_ids: set[str] = set()
        self._scripted: list[Reply] = []
        self._lock = threading.Lock()
        self.route("POST", "/track", self._track)
        self.route("POST", "/engage", self._engage)
        self.route("POST", "/import", self._import)

    def fail(self, times: int = 1, status: int = 503) -> None:
        """Answer the next ``times`` calls with ``status``."""
        with self._lock:
            self._scripted += [Reply.json({"error": "unavailable"}, status)] * times

    def rate_limit(self, retry_after: int) -> None:
        """Answer the next call with 429 and ``Retry-After`` seconds."""
        reply = Reply.json(
            {"error": "rate limited", "status": 0},
            429,
            {"Retry-After": str(retry_after)},
        )
        with self._lock:
            self._scripted.append(reply)

    def refuse(self, error: str) -> None:
        """Answer the next call with ``{"status": 0, "error": error}``."""
        with self._lock:
            self._scripted.append(Reply.json({"status": 0, "error": error}))

    def unauthorized(self) -> None:
        """Answer the next call with 401."""
        with self._lock:
            self._scripted.append(Reply.json({"error": "Invalid credentials"}, 401))

    def _next_scripted(self) -> Reply | None:
        with self._lock:
            return self._scripted.pop(0) if self._scripted else None

    def _form_items(self, request: RecordedRequest) -> list[Any] | None:
        form = parse_qs(request.body.decode("utf-8"))
        try:
            items = json.loads(form.get("data", [""])[0])
        except ValueError:
            return None
        return items if isinstance(items, list) else None

    def _verbose(self, request: RecordedRequest, ok: bool, error: str) -> Reply:
        form = parse_qs(request.body.decode("utf-8"))
        if form.get("verbose") != ["1"]:
            return Reply(200, "1" if ok else "0", content_type="text/plain")
        return Reply.json({"status": 1 if ok else 0, "error": None if ok else error})

    def _track(self, request: RecordedRequest) -> Reply:
        scripted = self._next_scripted()
        if scripted is not None:
            return scripted
        items = self._form_items(request)
        if items is None:
            return self._verbose(request, False, "data, missing or invalid")
        if len(items) > 2000:
            return self._verbose(request, False, "too many events")
        tokens = [item.get("properties", {}).get("token") for item in items]
        if any(token != PROJECT_TOKEN for token in tokens):
            return self._verbose(request, False, "token, missing or empty")
        now = time.time()
        for item in items:
            too_old = now - item["properties"].get("time", now) > _TRACK_WINDOW
            (self.dropped if too_old else self.tracked).append(item)
        return self._verbose(request, True, "")

    def _engage(self, request: RecordedRequest) -> Reply:
        scripted = self._next_scripted()
        if scripted is not None:
            return scripted
        items = self._form_items(request)
        if items is None or any(
            item.get("$token") != PROJECT_TOKEN or not item.get("$distinct_id")
            for item in items
        ):
            return self._verbose(request, False, "$token or $distinct_id missing")
        self.profiles.extend(items)
        return self._verbose(request, True, "")

    def _import(self, request: RecordedRequest) -> Reply:
        scripted = self._next_scripted()
        if scripted is not None:
            return scripted
        expected = base64.b64encode(f"{API_SECRET}:".encode()).decode()
        if request.header("Authorization") != f"Basic {expected}":
            return Reply.json({"error": "Invalid credentials", "status": 0}, 401)
        try:
            items = json.loads(request.body)
        except ValueError:
            return Reply.json({"code": 400, "error": "bad JSON", "status": 0}, 400)
        failed = [
            record
            for index, item in enumerate(items)
            if (record := self._import_failure(index, item)) is not None
        ]
        failed_indexes = {record["index"] for record in failed}
        kept = [item for i, item in enumerate(items) if i not in failed_indexes]
        self.imported.extend(kept)
        if not failed:
            return Reply.json(
                {"code": 200, "num_records_imported": len(kept), "status": "OK"}
            )
        body = {
            "code": 400,
            "error": "some data points in the request failed validation",
            "status": "Bad Request",
            "num_records_imported": len(kept),
            "failed_records": failed,
        }
        return Reply.json(body, 400)

    def _import_failure(self, index: int, item: Any) -> dict[str, Any] | None:
        properties = item.get("properties", {}) if isinstance(item, dict) else {}
        insert_id = properties.get("$insert_id", "")
        problem = None
        when = properties.get("time")
        if not insert_id:
            problem = ("properties.$insert_id", "'$insert_id' is required")
        elif insert_id in self.refuse_insert_ids:
            problem = ("properties.time", "'properties.time' is invalid")
        elif not isinstance(when, int) or when < _MIN_TIME:
            problem = ("properties.time", "'properties.time' is invalid")
        elif properties.get("distinct_id") in (None, "anonymous", "null"):
            problem = ("properties.distinct_id", "invalid distinct_id")
        if problem is None:
            return None
        return {
            "index": index,
            "insert_id": insert_id,
            "field": problem[0],
            "message": problem[1],
        }
