"""Rate limits per user, per token, per client address and for writes.

Each limit is a fixed-window counter in the Django cache: one atomic
``incr`` per request, so several web processes sharing the cache (Redis in
production) share the count, and the stored value stays one integer however
high the rate. DRF's own throttles keep a list of every request time and
read-modify-write it, which races between processes and grows with the rate.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (set from the
environment, see docs/api.md), read on every request so tests can change
them; ``None`` disables a scope.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from portal.api.models import ApiToken

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """Parse "100/minute" into (100, 60); None stays None (no limit)."""
    if rate is None:
        return None
    count, _, period = str(rate).partition("/")
    try:
        number = int(count)
        seconds = _PERIODS[period.strip()[:1]]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(
            f"Invalid API throttle rate {rate!r}: write it as N/second, N/minute, "
            "N/hour or N/day."
        ) from None
    if number < 1:
        raise ImproperlyConfigured(
            f"Invalid API throttle rate {rate!r}: N must be >= 1."
        )
    return number, seconds


class WindowThrottle(BaseThrottle):
    """Count requests per identity in fixed windows; subclasses say whose."""

    scope = ""
    timer = staticmethod(time.time)

    def __init__(self) -> None:
        self._wait = 0.0

    def identity(self, request: Request, view: Any) -> str | None:
        """Return who is counted, or None to not count this request."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        """Count the request; tell whether it is within the limit."""
        limit = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))
        if limit is None:
            return True
        identity = self.identity(request, view)
        if identity is None:
            return True

        number, seconds = limit
        now = self.timer()
        window = int(now // seconds)
        key = f"api-throttle:{self.scope}:{identity}:{seconds}:{window}"
        # add() is a no-op when the key exists; incr() is atomic in every
        # shared cache backend. A slack second keeps the key past the window.
        cache.add(key, 0, timeout=seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:
            # The key expired between add() and incr(): a new window began.
            cache.add(key, 1, timeout=seconds + 1)
            count = 1

        if count > number:
            self._wait = (window + 1) * seconds - now
            return False
        return True

    def wait(self) -> float | None:
        """Return the seconds until the current window ends."""
        return max(self._wait, 1.0)


class UserThrottle(WindowThrottle):
    """Limit each signed-in user, whatever token or session they use."""

    scope = "user"

    def identity(self, request: Request, view: Any) -> str | None:
        """Count per user id."""
        if request.user and request.user.is_authenticated:
            return str(request.user.pk)
        return None


class TokenThrottle(WindowThrottle):
    """Limit each API token on its own, so one app cannot starve another."""

    scope = "token"

    def identity(self, request: Request, view: Any) -> str | None:
        """Count per token id (requests with a session are not counted here)."""
        if isinstance(request.auth, ApiToken):
            return str(request.auth.pk)
        return None


class AnonThrottle(WindowThrottle):
    """Limit anonymous requests (the schema and docs) per client address."""

    scope = "anon"

    def identity(self, request: Request, view: Any) -> str | None:
        """Count per client address when nobody is signed in."""
        if request.user and request.user.is_authenticated:
            return None
        return self.get_ident(request)


class WriteThrottle(WindowThrottle):
    """Limit changes per user: each may queue a write-back to an LMS."""

    scope = "write"

    def identity(self, request: Request, view: Any) -> str | None:
        """Count unsafe methods per user."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if request.user and request.user.is_authenticated:
            return str(request.user.pk)
        return None
