"""Tests of the shared rate limiter, on the local-memory cache and on Redis."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from django.core.cache import cache as default_cache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache

from integrations.errors import RateLimited, RateLimitWaitTooLong
from integrations.http.ratelimit import RateLimit, RateLimiter
from tests.conftest import require_service

REDIS_URL = "redis://127.0.0.1:6379/15"
START = 1_699_999_980.0  # aligned on 10 s and 60 s windows


class FakeClock:
    """A clock that only moves when something sleeps."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limiter(
    clock: FakeClock, requests: int = 3, window: float = 10, **kwargs
) -> RateLimiter:
    kwargs.setdefault("name", "canvas-main")
    return RateLimiter(
        limit=RateLimit(requests=requests, window=window),
        clock=clock.time,
        sleep=clock.sleep,
        **kwargs,
    )


# --- RateLimit ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "window", "fragment"),
    [
        (0, 10, "requests must be > 0"),
        (-5, 10, "requests must be > 0"),
        (1.5, 10, "requests must be a whole number"),
        (True, 10, "requests must be a whole number"),
        ("10", 10, "requests must be a whole number"),
        (10, 0, "window must be a finite number of seconds > 0"),
        (10, -1, "window must be a finite number of seconds > 0"),
        (10, math.inf, "window must be a finite number of seconds > 0"),
        (10, math.nan, "window must be a finite number of seconds > 0"),
        (10, "60", "window must be a number of seconds"),
    ],
)
def test_rate_limit_rejects_bad_values(requests, window, fragment):
    with pytest.raises(ValueError, match=fragment):
        RateLimit(requests=requests, window=window)


def test_rate_limit_accepts_fractional_windows():
    limit = RateLimit(requests=5, window=0.5)

    assert (limit.requests, limit.window) == (5, 0.5)


def test_rate_limiter_rejects_bad_arguments(clock):
    with pytest.raises(ValueError, match="integration name"):
        limiter(clock, name="")
    with pytest.raises(ValueError, match="needs a RateLimit"):
        RateLimiter("canvas-main", (10, 60))
    with pytest.raises(ValueError, match="max_wait must be"):
        limiter(clock).acquire(-1)


# --- acquire -----------------------------------------------------------------


def test_acquire_within_the_limit_does_not_wait(clock):
    rate = limiter(clock, requests=3)

    assert [rate.acquire(max_wait=0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == []


def test_acquire_refuses_at_once_when_max_wait_is_zero(clock):
    rate = limiter(clock, requests=3)
    for _ in range(3):
        rate.acquire(max_wait=0)
    clock.now += 4

    with pytest.raises(RateLimitWaitTooLong) as caught:
        rate.acquire(max_wait=0)

    error = caught.value
    assert isinstance(error, RateLimited)
    assert error.integration == "canvas-main"
    assert error.retry_at == datetime.fromtimestamp(START + 10, tz=UTC)
    assert error.retry_at.tzinfo is not None
    assert error.as_dict()["details"]["retry_at"] == error.retry_at.isoformat()
    assert "(3 per 10 s)" in error.message
    assert clock.sleeps == []


def test_refused_acquire_takes_no_slot(clock):
    rate = limiter(clock, requests=1, window=10)
    rate.acquire(max_wait=0)
    for _ in range(5):
        with pytest.raises(RateLimitWaitTooLong):
            rate.acquire(max_wait=0)
    clock.now = START + 10

    assert rate.acquire(max_wait=0) == 0.0
    with pytest.raises(RateLimitWaitTooLong):
        rate.acquire(max_wait=0)


def test_acquire_sleeps_until_the_next_window_when_allowed(clock):
    rate = limiter(clock, requests=2, window=10)
    rate.acquire(max_wait=0)
    clock.now += 3
    rate.acquire(max_wait=0)

    waited = rate.acquire(max_wait=30)

    assert waited == pytest.approx(7)
    assert clock.sleeps == [pytest.approx(7)]
    assert clock.now == pytest.approx(START + 10)


def test_acquire_refuses_when_the_wait_exceeds_max_wait(clock):
    rate = limiter(clock, requests=1, window=60)
    rate.acquire(max_wait=0)

    with pytest.raises(RateLimitWaitTooLong) as caught:
        rate.acquire(max_wait=30)

    assert caught.value.retry_at == datetime.fromtimestamp(START + 60, tz=UTC)
    assert clock.sleeps == []


def test_each_window_admits_exactly_the_limit(clock):
    rate = limiter(clock, requests=4, window=10)
    started_at = []

    for _ in range(12):
        rate.acquire(max_wait=100)
        started_at.append(clock.now)

    per_window = [math.floor((at - START) / 10) for at in started_at]
    assert per_window == [0] * 4 + [1] * 4 + [2] * 4


def test_limiters_with_other_names_do_not_share_slots(clock):
    canvas = limiter(clock, requests=1, name="canvas-main")
    moodle = limiter(clock, requests=1, name="moodle-main")
    canvas.acquire(max_wait=0)

    assert moodle.acquire(max_wait=0) == 0.0


def test_limiters_with_one_name_share_slots_through_the_cache(clock):
    first = limiter(clock, requests=2)
    second = limiter(clock, requests=2)
    first.acquire(max_wait=0)
    second.acquire(max_wait=0)

    with pytest.raises(RateLimitWaitTooLong):
        first.acquire(max_wait=0)


def test_acquire_uses_the_django_cache_by_default(clock):
    rate = limiter(clock, requests=1)
    rate.acquire(max_wait=0)

    assert rate.cache is default_cache
    default_cache.clear()
    assert rate.acquire(max_wait=0) == 0.0


def test_acquire_works_on_the_file_cache(clock, tmp_path):
    # The embedded development default shares windows between local processes.
    rate = limiter(clock, requests=2, cache=FileBasedCache(str(tmp_path), {}))
    rate.acquire(max_wait=0)
    rate.acquire(max_wait=0)

    with pytest.raises(RateLimitWaitTooLong):
        rate.acquire(max_wait=0)
    assert rate.acquire(max_wait=10) == pytest.approx(10)


class _RacingCache:
    """A real cache where another process acts between a read and a write."""

    def __init__(self, inner, between) -> None:
        self.inner = inner
        self.between = between

    def get_many(self, keys):
        values = self.inner.get_many(keys)
        if self.between is not None:
            between, self.between = self.between, None
            between()
        return values

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_acquire_that_loses_the_race_for_the_last_slot_waits(clock):
    other = limiter(clock, requests=1)
    racing = limiter(
        clock, requests=1, cache=_RacingCache(default_cache, lambda: other.acquire(0))
    )

    with pytest.raises(RateLimitWaitTooLong) as caught:
        racing.acquire(max_wait=0)

    assert caught.value.retry_at == datetime.fromtimestamp(START + 10, tz=UTC)


def test_acquire_lets_requests_through_when_the_cache_is_down(clock, caplog):
    unreachable = RedisCache("redis://127.0.0.1:1/0", {})
    rate = limiter(clock, requests=1, cache=unreachable)

    with caplog.at_level(logging.WARNING, logger="integrations.http.ratelimit"):
        assert rate.acquire(max_wait=0) == 0.0
        assert rate.acquire(max_wait=0) == 0.0

    assert [record.msg for record in caplog.records] == [
        "http.ratelimit.cache_unavailable"
    ] * 2
    assert caplog.records[0].error.endswith("ConnectionError")


# --- pause_until and observe -------------------------------------------------


def test_pause_until_makes_every_limiter_wait(clock):
    first = limiter(clock, requests=100)
    second = limiter(clock, requests=100)

    first.pause_until(START + 30)

    with pytest.raises(RateLimitWaitTooLong) as caught:
        second.acquire(max_wait=0)
    assert caught.value.retry_at == datetime.fromtimestamp(START + 30, tz=UTC)
    assert second.acquire(max_wait=60) == pytest.approx(30)


def test_pause_until_never_shortens_a_pause(clock):
    rate = limiter(clock, requests=100)
    rate.pause_until(START + 30)
    rate.pause_until(START + 5)
    rate.pause_until(START - 100)

    assert rate.acquire(max_wait=60) == pytest.approx(30)


def test_pause_until_is_capped(clock, caplog):
    rate = limiter(clock, requests=100, max_pause=3600)

    with caplog.at_level(logging.WARNING, logger="integrations.http.ratelimit"):
        rate.pause_until(START * 1000)  # a reset header read as milliseconds

    assert caplog.records[0].msg == "http.ratelimit.pause_capped"
    with pytest.raises(RateLimitWaitTooLong) as caught:
        rate.acquire(max_wait=0)
    assert caught.value.retry_at == datetime.fromtimestamp(START + 3600, tz=UTC)


def test_observe_pauses_until_reset_when_the_quota_is_spent(clock):
    rate = limiter(clock, requests=100)

    rate.observe(remaining=0, limit=5000, reset_at=START + 120)

    with pytest.raises(RateLimitWaitTooLong) as caught:
        rate.acquire(max_wait=60)
    assert caught.value.retry_at == datetime.fromtimestamp(START + 120, tz=UTC)


def test_observe_spreads_a_low_quota_until_reset(clock):
    rate = limiter(clock, requests=100)

    rate.observe(remaining=5, limit=100, reset_at=START + 50)

    assert rate.acquire(max_wait=60) == pytest.approx(10)


def test_observe_accepts_an_aware_datetime(clock):
    rate = limiter(clock, requests=100)

    rate.observe(
        remaining=2.0, limit=700.0, reset_at=datetime.fromtimestamp(START + 8, UTC)
    )

    assert rate.acquire(max_wait=60) == pytest.approx(4)


@pytest.mark.parametrize(
    ("remaining", "limit", "reset_at"),
    [
        (50, 100, START + 50),  # plenty left
        (10, 100, START + 50),  # exactly at the 10 % threshold
        (3, None, START + 50),  # no limit to compare with
        (0, 100, None),  # no reset time
        (0, 100, START - 1),  # reset already passed
        (None, 100, START + 50),
    ],
)
def test_observe_does_not_slow_down_otherwise(clock, remaining, limit, reset_at):
    rate = limiter(clock, requests=100)

    rate.observe(remaining=remaining, limit=limit, reset_at=reset_at)

    assert rate.acquire(max_wait=0) == 0.0


# --- Redis -------------------------------------------------------------------

_WORKER = """
import json, sys, time
from django.conf import settings
settings.configure()
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache
from integrations.http.ratelimit import RateLimit, RateLimiter

url, prefix, requests, window, count, start_at = sys.argv[1:7]
cache = RedisCache(url, {"KEY_PREFIX": prefix})
last = [0.0]

def clock():
    last[0] = time.time()
    return last[0]

limiter = RateLimiter(
    "shared", RateLimit(int(requests), float(window)), cache=cache, clock=clock
)
time.sleep(max(0.0, float(start_at) - time.time()))
decided = []
for _ in range(int(count)):
    limiter.acquire(max_wait=30)
    decided.append(last[0])
print(json.dumps(decided))
"""


@pytest.fixture
def redis_cache():
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    prefix = f"test-ratelimit-{uuid.uuid4().hex}"
    yield RedisCache(REDIS_URL, {"KEY_PREFIX": prefix}), prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


@pytest.mark.services
def test_redis_limiter_refuses_over_the_limit(redis_cache, clock):
    cache, _prefix = redis_cache
    rate = limiter(clock, requests=2, cache=cache)

    assert rate.acquire(max_wait=0) == 0.0
    assert rate.acquire(max_wait=0) == 0.0
    with pytest.raises(RateLimitWaitTooLong):
        rate.acquire(max_wait=0)
    clock.now += 10
    assert rate.acquire(max_wait=0) == 0.0


@pytest.mark.services
def test_redis_pause_is_shared(redis_cache, clock):
    cache, _prefix = redis_cache
    limiter(clock, cache=cache).pause_until(START + 20)

    assert limiter(clock, cache=cache).acquire(max_wait=60) == pytest.approx(20)


@pytest.mark.services
def test_two_processes_never_exceed_one_shared_limit(redis_cache):
    _cache, prefix = redis_cache
    requests, window, per_process = 4, 0.25, 10
    start_at = time.time() + 1.0
    root = Path(__file__).resolve().parents[2]
    argv = [REDIS_URL, prefix, requests, window, per_process, start_at]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, *map(str, argv)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate()
        assert worker.returncode == 0, err
        results.append(json.loads(out))

    decided = sorted(at for result in results for at in result)
    per_window: dict[int, int] = {}
    for at in decided:
        index = math.floor(at / window)
        per_window[index] = per_window.get(index, 0) + 1
    assert len(decided) == 2 * per_process
    assert max(per_window.values()) <= requests
    # Sharing one limit, the 20 requests needed at least 5 windows.
    assert len(per_window) >= 2 * per_process / requests


# --- Batched slots ------------------------------------------------------------


def test_processes_taking_slots_in_batches_never_exceed_the_limit(clock):
    # Two limiters on one cache stand for two processes; 1,000 a window
    # means each takes 10 slots per cache increment.
    first = limiter(clock, requests=1000, window=10)
    second = limiter(clock, requests=1000, window=10)

    granted = 0
    for _ in range(700):
        for process in (first, second):
            try:
                process.acquire(max_wait=0)
                granted += 1
            except RateLimitWaitTooLong:
                pass

    assert granted == 1000
    counter = default_cache.get(first._window_prefix + str(math.floor(START / 10)))
    assert counter == 1000


def test_batched_slots_still_honour_another_processes_pause(clock):
    first = limiter(clock, requests=1000, window=10)
    second = limiter(clock, requests=1000, window=10)
    first.acquire(max_wait=0)  # holds nine more slots locally

    second.pause_until(START + 5)
    clock.now += 0.3  # past the pause re-check interval

    with pytest.raises(RateLimitWaitTooLong):
        first.acquire(max_wait=0)
