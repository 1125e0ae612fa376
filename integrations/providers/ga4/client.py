"""GA4 Measurement Protocol requests built within Google's limits.

``POST /mp/collect?measurement_id=G-...&api_secret=...`` takes a JSON body
of one ``client_id`` and up to 25 events. The endpoint answers 2xx even for
events it throws away, so every rule of the validation server
(``/debug/mp/collect``) is applied here before sending: names are mapped
to valid ones, values cut, extra parameters dropped, and events older than
the 72-hour backdating window refused with a reason.

Google docs (under developers.google.com/analytics/devguides/collection/):
protocol/ga4/sending-events, protocol/ga4/validating-events; naming rules:
https://support.google.com/analytics/answer/13316687.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from integrations.providers.analytics import actor_id, occurred, scalar_params
from integrations.providers.sinks import truncate

if TYPE_CHECKING:
    from integrations.providers.base import SinkMessage

MEASUREMENT_ID = re.compile(r"G-[A-Z0-9]{4,20}")
MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_NAME = 40
MAX_VALUE = 100
MAX_BODY_BYTES = 130 * 1024
MAX_AGE = timedelta(hours=72)
RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_impression", "ad_query",
        "ad_reward", "adunit_exposure", "app_background", "app_clear_data",
        "app_exception", "app_install", "app_remove", "app_store_refund",
        "app_store_subscription_cancel", "app_store_subscription_convert",
        "app_store_subscription_renew", "app_update", "app_upgrade", "click",
        "dynamic_link_app_open", "dynamic_link_app_update",
        "dynamic_link_first_open", "error", "file_download", "first_open",
        "first_visit", "form_start", "form_submit", "in_app_purchase",
        "notification_dismiss", "notification_foreground", "notification_open",
        "notification_receive", "os_update", "page_view", "screen_view",
        "scroll", "session_start", "session_start_with_rollout",
        "user_engagement", "video_complete", "video_progress", "video_start",
        "view_search_results",
    }
)  # fmt: skip
RESERVED_PARAM_NAMES = frozenset(
    {"engagement_time_msec", "firebase_conversion", "gclid", "session_id",
     "session_number"}
)  # fmt: skip
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
#: Put before a mapped name that would start badly or be reserved.
NAME_PREFIX = "portal_"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]+")


def ga4_name(raw: str) -> str:
    """Return a valid GA4 event or parameter name for ``raw``.

    ``progress.updated`` becomes ``progress_updated``; a name that would
    not start with a letter or is reserved gets the ``portal_`` prefix.
    """
    name = _NOT_NAME.sub("_", raw).strip("_") or "event"
    if (
        not name[0].isalpha()
        or name in RESERVED_EVENT_NAMES
        or name in RESERVED_PARAM_NAMES
        or name.lower().startswith(RESERVED_PREFIXES)
    ):
        name = NAME_PREFIX + name
    return name[:MAX_NAME].rstrip("_")


def ga4_value(value: str | int | float | bool) -> str | int | float:
    """Return a parameter value GA4 keeps: numbers as they are, text cut to 100."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    return truncate(str(value), MAX_VALUE)


def event_params(message: SinkMessage) -> dict[str, str | int | float]:
    """Return at most 25 valid parameters of an event (its payload's scalars).

    The idempotency key goes first as ``portal_event_key`` so a repeat can
    be found in reports; payload keys follow in their order until the limit.
    """
    params: dict[str, str | int | float] = {"portal_event_key": message.key}
    if message.subject:
        params["portal_subject"] = ga4_value(message.subject)
    for key, value in scalar_params(message.payload).items():
        if len(params) == MAX_PARAMS:
            break
        params.setdefault(ga4_name(key), ga4_value(value))
    return params


@dataclass
class CollectRequest:
    """One collect request's body and the keys of the messages it carries."""

    body: dict[str, Any]
    keys: list[str]


@dataclass
class CollectPlan:
    """The requests one batch becomes, and the events refused."""

    requests: list[CollectRequest] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Return the request bodies, in sending order."""
        return [request.body for request in self.requests]


def plan_requests(
    messages: Sequence[SinkMessage], now: datetime, *, send_user_id: bool = False
) -> CollectPlan:
    """Group a batch into one body per learner and refuse what GA4 would drop.

    A body carries one ``client_id``, so events of different learners go in
    different requests. Each event keeps its own ``timestamp_micros``.
    """
    plan = CollectPlan()
    grouped: dict[str, list[tuple[SinkMessage, dict[str, Any]]]] = {}
    for message in messages:
        when = occurred(message)
        if now - when > MAX_AGE:
            plan.rejected[message.key] = (
                "GA4 keeps events up to 72 hours old; this one is older "
                f"(occurred {message.occurred_at})."
            )
            continue
        event = {
            "name": ga4_name(message.kind),
            "params": event_params(message),
            "timestamp_micros": int(min(when, now).timestamp() * 1_000_000),
        }
        grouped.setdefault(actor_id(message), []).append((message, event))

    for client_id, entries in grouped.items():
        for start in range(0, len(entries), MAX_EVENTS):
            chunk = entries[start : start + MAX_EVENTS]
            body: dict[str, Any] = {
                "client_id": client_id,
                "timestamp_micros": min(e["timestamp_micros"] for _, e in chunk),
                "events": [event for _, event in chunk],
            }
            if send_user_id:
                body["user_id"] = client_id
            keys = [message.key for message, _ in chunk]
            plan.requests.extend(_within_size(body, keys))
    return plan


def body_size(body: dict[str, Any]) -> int:
    """Return the bytes a body takes as compact JSON."""
    return len(json.dumps(body, separators=(",", ":")).encode("utf-8"))


def _within_size(body: dict[str, Any], keys: list[str]) -> list[CollectRequest]:
    """Split a body in halves until each is under the 130 kB limit."""
    events = body["events"]
    if body_size(body) <= MAX_BODY_BYTES or len(events) == 1:
        return [CollectRequest(body, keys)]
    half = len(events) // 2
    return _within_size({**body, "events": events[:half]}, keys[:half]) + _within_size(
        {**body, "events": events[half:]}, keys[half:]
    )
