"""Per-call metrics of the HTTP layer, read by the health screens.

Every outside call ends as a success, a failure or a halt (the caller gave
up on purpose, for example on a rate-limit wait that was too long) and is
recorded here. Counters are totals since the process started (or since
``reset``); latency percentiles cover the last ``LATENCY_WINDOW`` calls.

The numbers are process-local: each gunicorn or Celery worker keeps its own.
Recording is O(1) under one lock, as it runs on every request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

#: How many recent latencies each integration keeps for avg/p50/p95.
LATENCY_WINDOW = 1000

OUTCOMES = frozenset({"success", "failure", "halted"})
CACHE_RESULTS = frozenset({"hit", "miss", "revalidated"})
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "error")


class _IntegrationStats:
    __slots__ = (
        "count",
        "outcomes",
        "retries",
        "status_classes",
        "cache",
        "latencies",
        "last_call_at",
    )

    def __init__(self) -> None:
        self.count = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.retries = 0
        self.status_classes = dict.fromkeys(STATUS_CLASSES, 0)
        self.cache = dict.fromkeys(CACHE_RESULTS, 0)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.last_call_at: float | None = None


_lock = threading.Lock()
_stats: dict[str, _IntegrationStats] = {}


def record_call(
    integration: str,
    method: str,
    status: int | None,
    latency: float,
    retries: int,
    outcome: str,
    cache: str | None = None,
) -> None:
    """Record one finished call (``latency`` in seconds, ``status`` None if no response)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}.")
    if cache is not None and cache not in CACHE_RESULTS:
        raise ValueError(
            f"cache must be one of {sorted(CACHE_RESULTS)} or None, not {cache!r}."
        )
    if not latency >= 0 or retries < 0:
        raise ValueError(
            f"latency and retries must be >= 0, not latency={latency!r}, "
            f"retries={retries!r}."
        )
    if status is None or not 100 <= status <= 599:
        status_class = "error"
    else:
        status_class = STATUS_CLASSES[status // 100 - 1]
    now = time.time()

    with _lock:
        stats = _stats.get(integration)
        if stats is None:
            stats = _stats[integration] = _IntegrationStats()
        stats.count += 1
        stats.outcomes[outcome] += 1
        stats.retries += retries
        stats.status_classes[status_class] += 1
        if cache is not None:
            stats.cache[cache] += 1
        stats.latencies.append(latency)
        stats.last_call_at = now


def snapshot(integration: str) -> dict[str, Any]:
    """Return the integration's counters, latency summary and last call time."""
    with _lock:
        stats = _stats.get(integration) or _IntegrationStats()
        latencies = list(stats.latencies)
        result: dict[str, Any] = {
            "integration": integration,
            "count": stats.count,
            "successes": stats.outcomes["success"],
            "failures": stats.outcomes["failure"],
            "halted": stats.outcomes["halted"],
            "retries": stats.retries,
            "status": dict(stats.status_classes),
            "cache_hits": stats.cache["hit"],
            "cache_misses": stats.cache["miss"],
            "cache_revalidated": stats.cache["revalidated"],
            "last_call_at": stats.last_call_at,
        }

    latencies.sort()
    result["latency_samples"] = len(latencies)
    result["latency_avg_ms"] = (
        _ms(sum(latencies) / len(latencies)) if latencies else None
    )
    result["latency_p50_ms"] = _ms(_percentile(latencies, 50))
    result["latency_p95_ms"] = _ms(_percentile(latencies, 95))
    if result["last_call_at"] is not None:
        result["last_call_at"] = datetime.fromtimestamp(result["last_call_at"], tz=UTC)
    return result


def reset(integration: str | None = None) -> None:
    """Forget the metrics of one integration, or of all when None."""
    with _lock:
        if integration is None:
            _stats.clear()
        else:
            _stats.pop(integration, None)


def _percentile(ordered: list[float], percent: float) -> float | None:
    """Return the nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
