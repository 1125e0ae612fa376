"""When and how long to wait before trying a call again.

Backoff is exponential with full jitter: the n-th retry waits a random time
between zero and ``min(cap, base * 2**n)``, so many workers that failed at
once do not come back at once. A server's own ``Retry-After`` (seconds or an
HTTP date) or rate-limit reset wins over the computed backoff.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

#: Methods that may be sent twice without changing the outcome (RFC 9110 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True)
class RateLimitSignal:
    """What a provider's ``rate_limit_signals`` callable read from a response.

    ``remaining`` and ``limit`` are request counts, ``reset_at`` is when the
    service's window resets (epoch seconds), ``retry_after`` is seconds to
    wait, and ``limited`` says this response is itself a rate-limit refusal
    even though its status is not 429 (Canvas's legacy 403 "Rate Limit
    Exceeded", GitHub's secondary limit).
    """

    remaining: float | None = None
    limit: float | None = None
    reset_at: float | None = None
    retry_after: float | None = None
    limited: bool = False

    @property
    def has_quota(self) -> bool:
        """Return whether the signal carries any quota figures to observe."""
        return (
            self.remaining is not None
            or self.limit is not None
            or self.reset_at is not None
        )


def is_idempotent(method: str, idempotent: bool | None) -> bool:
    """Return whether a call may be retried: the caller's word, else the method's."""
    if idempotent is not None:
        return idempotent
    return method in IDEMPOTENT_METHODS


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` value asks to wait, or None if unreadable.

    The value is either delay-seconds or an HTTP date; a date in the past
    means no wait. Decimal seconds are accepted although RFC 9110 says
    integer, because some services send them.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None

    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return seconds

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # HTTP dates are GMT; asctime dates carry no zone at all (RFC 9110 5.6.7).
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(retry_number: int, *, base: float, cap: float) -> float:
    """Return the full-jitter wait before retry ``retry_number`` (0 for the first)."""
    ceiling = min(cap, base * (2 ** min(retry_number, 62)))
    return random.uniform(0.0, ceiling)
