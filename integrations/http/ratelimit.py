"""Rate limits per integration, shared by every process through the Django cache.

Semantics: fixed windows. Time is cut into windows of ``limit.window``
seconds aligned on the epoch (processes agree through their clocks; keep
them in sync with NTP), and each window admits at most ``limit.requests``
requests. Like the services' own limits with a reset time (GitHub, GitLab,
Discord, Vimeo), a window's quota refills at once, so up to twice the limit
can start in a short time across a boundary; when a service counts over a
sliding window, configure a proportionally smaller window (10 per 6 s
rather than 100 per 60 s) to bound that burst. A sliding estimate from two
windows was not chosen: it paces requests towards window ends and, under
steady demand, admits one request fewer per window (half the rate when the
limit is 1 or 2).

A slot is taken with an atomic ``cache.add`` (first request of a window) or
``cache.incr`` on the window's counter; a request that finds the counter at
the limit, or loses the race for the last slot, takes nothing and waits for
the next window. Atomic with Redis, Memcached and (within one process) the
local-memory cache; the file cache's ``incr`` is a read and a write, so with
it several processes may overshoot slightly. ``acquire`` costs two cache
calls: one ``get_many`` (pause and counter) and one ``add`` or ``incr``.
With a limit of 200 or more a window, a process takes up to 1 % of the quota
(50 slots at most) in one ``incr`` and hands the slots out locally,
re-reading the shared pause at least every quarter second, so most requests
cost no cache call at all.

``pause_until`` stores a time in the cache that every process waits for,
and ``observe`` uses it to slow down when the service reports a low quota.

If the cache cannot be reached, the limiter lets requests through and logs
``http.ratelimit.cache_unavailable``: an outage of the cache must not stop
every integration.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from integrations.errors import RateLimitWaitTooLong

logger = logging.getLogger(__name__)

#: Most slots a process takes from the shared counter at once.
SLOT_BATCH_MAX = 50
#: How long a process trusts what it last read of the shared pause before it
#: hands out a locally held slot without asking the cache again.
PAUSE_RECHECK_SECONDS = 0.25

#: Smallest wait, so a loop that lands exactly on a window boundary (float
#: rounding) moves on instead of spinning.
MIN_WAIT = 0.001


@dataclass(frozen=True)
class RateLimit:
    """Allow at most ``requests`` requests per ``window`` seconds."""

    requests: int
    window: float

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int):
            raise ValueError(
                f"RateLimit.requests must be a whole number, not {self.requests!r}."
            )
        if self.requests <= 0:
            raise ValueError(f"RateLimit.requests must be > 0, not {self.requests}.")
        if isinstance(self.window, bool) or not isinstance(self.window, int | float):
            raise ValueError(
                f"RateLimit.window must be a number of seconds, not {self.window!r}."
            )
        if not self.window > 0 or math.isinf(self.window):
            raise ValueError(
                f"RateLimit.window must be a finite number of seconds > 0, "
                f"not {self.window}."
            )


class RateLimiter:
    """Share one integration's rate limit between all processes and workers."""

    def __init__(
        self,
        name: str,
        limit: RateLimit,
        cache: Any = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        low_budget_ratio: float = 0.1,
        max_pause: float = 86400.0,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"RateLimiter needs an integration name, not {name!r}.")
        if not isinstance(limit, RateLimit):
            raise ValueError(f"RateLimiter needs a RateLimit, not {limit!r}.")
        if cache is None:
            from django.core.cache import cache as default_cache

            cache = default_cache
        self.name = name
        self.limit = limit
        self.cache = cache
        self.clock = clock
        self.sleep = sleep
        self.low_budget_ratio = low_budget_ratio
        self.max_pause = max_pause

        prefix = "ratelimit:" + quote(name, safe="")
        self._pause_key = prefix + ":pause"
        self._window_prefix = f"{prefix}:{limit.requests}/{limit.window}:"
        # The margin keeps a counter alive for a process whose clock is a
        # little behind; Django's Redis incr() would recreate an expired key
        # without a timeout.
        self._counter_timeout = math.ceil(limit.window) + 30
        # With a generous limit a process takes slots in batches and hands
        # them out locally, sparing two cache round trips per request. A
        # batch is at most 1 % of the window's quota (50 at most), so slots a
        # process holds unused can only make the limit a little stricter,
        # never looser; limits under 200 a window are taken one by one.
        self._batch = max(1, min(SLOT_BATCH_MAX, limit.requests // 100))
        self._lock = threading.Lock()
        self._reserve_window = -1
        self._reserve = 0
        self._pause_checked_at = -math.inf
        self._paused_until = 0.0

    def acquire(self, max_wait: float) -> float:
        """Take a slot, sleeping up to ``max_wait`` seconds; return the seconds waited."""
        if max_wait is None or not max_wait >= 0:
            raise ValueError(
                f"max_wait must be a number of seconds >= 0, not {max_wait!r}."
            )
        started = now = self.clock()

        while True:
            wait = self._try_take(now)
            if wait is None:
                return now - started
            waited = now - started
            if waited + wait > max_wait:
                retry_at = datetime.fromtimestamp(now + wait, tz=UTC)
                raise RateLimitWaitTooLong(
                    f"The rate limit ({self.limit.requests} per "
                    f"{self.limit.window:g} s) leaves no slot for {wait:.1f} s, longer "
                    f"than this call may wait ({max(max_wait - waited, 0):.1f} s). "
                    f"Try again after {retry_at.isoformat()}.",
                    retry_at=retry_at,
                    integration=self.name,
                )
            logger.debug(
                "http.ratelimit.wait", extra={"integration": self.name, "seconds": wait}
            )
            self.sleep(wait)
            now = self.clock()

    def pause_until(self, epoch_seconds: float) -> None:
        """Make every process wait until ``epoch_seconds`` before its next request."""
        now = self.clock()
        until = float(epoch_seconds)
        if until <= now:
            return
        if until - now > self.max_pause:
            # A reset header read in the wrong unit (ms, or a relative value)
            # must not freeze an integration for years.
            logger.warning(
                "http.ratelimit.pause_capped",
                extra={"integration": self.name, "seconds": until - now},
            )
            until = now + self.max_pause

        try:
            current = self.cache.get(self._pause_key)
            if isinstance(current, int | float) and current >= until:
                return
            self.cache.set(self._pause_key, until, math.ceil(until - now) + 1)
        except Exception as error:
            self._cache_unavailable("pause_until", error)
            return
        finally:
            # This process honours its own pause at once, cache or not.
            with self._lock:
                self._paused_until = max(self._paused_until, until)
        logger.debug(
            "http.ratelimit.paused",
            extra={"integration": self.name, "seconds": round(until - now, 3)},
        )

    def observe(
        self,
        remaining: float | None,
        limit: float | None,
        reset_at: float | datetime | None,
    ) -> None:
        """Slow down when the service reports that little of its quota remains.

        ``reset_at`` is when the service's quota refills (epoch seconds or an
        aware datetime). With ``remaining <= 0`` every process pauses until
        then; with ``remaining / limit`` under ``low_budget_ratio`` the next
        request waits ``(reset_at - now) / remaining``, which spreads what is
        left over the time until the reset.
        """
        if remaining is None or reset_at is None:
            return
        reset = (
            reset_at.timestamp() if isinstance(reset_at, datetime) else float(reset_at)
        )
        now = self.clock()
        if reset <= now:
            return

        if remaining <= 0:
            self.pause_until(reset)
            return
        if not limit or limit <= 0 or remaining / limit >= self.low_budget_ratio:
            return
        self.pause_until(now + (reset - now) / remaining)

    def _try_take(self, now: float) -> float | None:
        """Take a slot and return None, or return how long to wait for one."""
        index = math.floor(now / self.limit.window)
        with self._lock:
            if self._take_reserved(index, now):
                return None

        key = self._window_prefix + str(index)
        until_next_window = max((index + 1) * self.limit.window - now, MIN_WAIT)
        try:
            values = self.cache.get_many([self._pause_key, key])
        except Exception as error:
            self._cache_unavailable("acquire", error)
            return None
        paused_until = values.get(self._pause_key)
        paused_until = paused_until if isinstance(paused_until, int | float) else 0.0
        with self._lock:
            self._pause_checked_at, self._paused_until = now, paused_until
        if paused_until > now:
            return max(paused_until - now, MIN_WAIT)
        if (values.get(key) or 0) >= self.limit.requests:
            return until_next_window

        try:
            count = self._increment(key, exists=key in values, delta=self._batch)
        except Exception as error:
            self._cache_unavailable("acquire", error)
            return None
        # Past the limit means other processes took the last slots first; the
        # extra count changes nothing in a window that is full anyway.
        granted = min(self._batch, self.limit.requests - (count - self._batch))
        if granted <= 0:
            return until_next_window
        with self._lock:
            self._reserve_window, self._reserve = index, granted - 1
        return None

    def _take_reserved(self, index: int, now: float) -> bool:
        """Hand out a locally held slot while the pause state is fresh."""
        fresh = now - self._pause_checked_at < PAUSE_RECHECK_SECONDS
        if self._reserve_window != index or self._reserve <= 0 or not fresh:
            return False
        if self._paused_until > now:
            return False
        self._reserve -= 1
        return True

    def _increment(self, key: str, *, exists: bool, delta: int = 1) -> int:
        if not exists and self.cache.add(key, delta, self._counter_timeout):
            return delta
        try:
            return self.cache.incr(key, delta)
        except ValueError:
            # The key vanished (evicted) between the read and the increment.
            if self.cache.add(key, delta, self._counter_timeout):
                return delta
            return self.cache.incr(key, delta)

    def _cache_unavailable(self, operation: str, error: Exception) -> None:
        # Only the error's type: a cache error's text can carry its URL.
        logger.warning(
            "http.ratelimit.cache_unavailable",
            extra={
                "integration": self.name,
                "operation": operation,
                "error": type(error).__name__,
            },
        )
