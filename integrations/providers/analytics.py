"""Helpers shared by the analytics sinks (GA4, Mixpanel).

Both send a learner's events under a pseudonymous id: an HMAC of the
portal's learner id keyed by the portal's ``SECRET_KEY`` (through Django's
``salted_hmac`` with a fixed salt), so the same learner has the same id in
every analytics sink, the id cannot be turned back into the learner
without the key, and no email or username ever leaves the portal. Rotating
``SECRET_KEY`` gives every learner a new id.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils.crypto import salted_hmac

if TYPE_CHECKING:
    from integrations.providers.base import SinkMessage

#: The salt of the HMAC; changing it gives every learner a new id.
ID_SALT = "portal.analytics.pseudonymous-id"
#: Payload keys that name the learner an event is about, in order of trust.
LEARNER_KEYS = ("learner_id", "user_id")
#: The id of events that concern no learner (sync failures, health changes).
SYSTEM_ACTOR = "portal-system"


def pseudonymous_id(learner: Any) -> str:
    """Return the stable, non-reversible analytics id of a portal learner id."""
    digest = salted_hmac(ID_SALT, str(learner), algorithm="sha256").hexdigest()
    return digest[:32]


def learner_of(message: SinkMessage) -> str | None:
    """Return the learner id an event is about, or None when it names none."""
    for key in LEARNER_KEYS:
        value = message.payload.get(key)
        if value not in (None, "") and not isinstance(value, bool | dict | list):
            return str(value)
    return None


def actor_id(message: SinkMessage) -> str:
    """Return the pseudonymous id to send an event under."""
    learner = learner_of(message)
    return pseudonymous_id(learner if learner is not None else SYSTEM_ACTOR)


def occurred(message: SinkMessage) -> datetime:
    """Return when the event happened, as an aware datetime."""
    return datetime.fromisoformat(message.occurred_at)


def scalar_params(payload: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """Return the payload's scalar values; nested values and None are left out.

    Learner ids are left out too: they leave the portal only as the
    pseudonymous id.
    """
    kept: dict[str, str | int | float | bool] = {}
    for key, value in payload.items():
        if key in LEARNER_KEYS or value is None:
            continue
        if isinstance(value, str | int | float | bool):
            kept[str(key)] = value
    return kept
