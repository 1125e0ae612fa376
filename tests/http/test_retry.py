"""Retry arithmetic: Retry-After parsing, jittered backoff, idempotency."""

from __future__ import annotations

import time

import pytest

from integrations.http.retry import (
    RateLimitSignal,
    backoff_delay,
    is_idempotent,
    parse_retry_after,
)
from tests.fakes.faulty import http_date


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("0", 0.0), (" 5 ", 5.0), ("1.5", 1.5)],
)
def test_retry_after_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date_is_seconds_from_now():
    now = 1_700_000_000.0

    assert parse_retry_after(http_date(now + 90), now=now) == 90.0
    assert parse_retry_after(http_date(now - 90), now=now) == 0.0


def test_retry_after_obsolete_date_formats_are_read():
    now = 784_111_777.0  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example

    assert parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now=now - 10) == 10.0
    assert parse_retry_after("Sun Nov  6 08:49:37 1994", now=now - 10) == 10.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan", "inf", "Mon, 99 Foo"])
def test_unreadable_retry_after_is_none(value):
    assert parse_retry_after(value) is None


def test_backoff_doubles_within_full_jitter_and_respects_the_cap():
    for retry_number, ceiling in [
        (0, 1.0),
        (1, 2.0),
        (2, 4.0),
        (3, 8.0),
        (6, 30.0),
        (80, 30.0),
    ]:
        delays = [backoff_delay(retry_number, base=1.0, cap=30.0) for _ in range(300)]
        assert all(0.0 <= delay <= ceiling for delay in delays)
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(delays) < ceiling / 4
        assert max(delays) > ceiling * 3 / 4


def test_zero_base_means_no_wait():
    assert backoff_delay(5, base=0.0, cap=30.0) == 0.0


@pytest.mark.parametrize(
    ("method", "flag", "expected"),
    [
        ("GET", None, True),
        ("HEAD", None, True),
        ("PUT", None, True),
        ("DELETE", None, True),
        ("POST", None, False),
        ("PATCH", None, False),
        ("POST", True, True),
        ("GET", False, False),
    ],
)
def test_idempotency_comes_from_the_method_unless_the_caller_says(
    method, flag, expected
):
    assert is_idempotent(method, flag) is expected


def test_signal_has_quota_only_with_figures():
    assert not RateLimitSignal(limited=True).has_quota
    assert RateLimitSignal(remaining=0, reset_at=time.time()).has_quota
