"""Tests of the per-call metrics the health screens read."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from integrations.http import metrics


@pytest.fixture(autouse=True)
def _clean_metrics():
    metrics.reset()
    yield
    metrics.reset()


def test_snapshot_of_an_integration_without_calls_is_empty():
    snapshot = metrics.snapshot("canvas-main")

    assert snapshot == {
        "integration": "canvas-main",
        "count": 0,
        "successes": 0,
        "failures": 0,
        "halted": 0,
        "retries": 0,
        "status": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "error": 0},
        "cache_hits": 0,
        "cache_misses": 0,
        "cache_revalidated": 0,
        "last_call_at": None,
        "latency_samples": 0,
        "latency_avg_ms": None,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
    }


def test_snapshot_counts_outcomes_statuses_retries_and_cache():
    before = datetime.now(UTC)
    metrics.record_call("canvas-main", "GET", 200, 0.010, 0, "success", cache="miss")
    metrics.record_call("canvas-main", "GET", 200, 0.002, 0, "success", cache="hit")
    metrics.record_call(
        "canvas-main", "GET", 304, 0.004, 0, "success", cache="revalidated"
    )
    metrics.record_call("canvas-main", "POST", 503, 0.030, 2, "failure")
    metrics.record_call("canvas-main", "GET", 404, 0.020, 0, "failure")
    metrics.record_call("canvas-main", "GET", None, 0.500, 3, "failure")
    metrics.record_call("canvas-main", "GET", 429, 0.001, 1, "halted")

    snapshot = metrics.snapshot("canvas-main")

    assert snapshot["count"] == 7
    assert (snapshot["successes"], snapshot["failures"], snapshot["halted"]) == (
        3,
        3,
        1,
    )
    assert snapshot["retries"] == 6
    assert snapshot["status"] == {
        "1xx": 0,
        "2xx": 2,
        "3xx": 1,
        "4xx": 2,
        "5xx": 1,
        "error": 1,
    }
    assert (snapshot["cache_hits"], snapshot["cache_misses"]) == (1, 1)
    assert snapshot["cache_revalidated"] == 1
    assert before <= snapshot["last_call_at"] <= datetime.now(UTC)
    assert snapshot["last_call_at"].tzinfo is not None


def test_latency_summary_in_milliseconds():
    for latency_ms in range(1, 101):
        metrics.record_call("canvas-main", "GET", 200, latency_ms / 1000, 0, "success")

    snapshot = metrics.snapshot("canvas-main")

    assert snapshot["latency_samples"] == 100
    assert snapshot["latency_avg_ms"] == pytest.approx(50.5)
    assert snapshot["latency_p50_ms"] == pytest.approx(50)
    assert snapshot["latency_p95_ms"] == pytest.approx(95)


def test_latency_covers_only_the_recent_window():
    for _ in range(metrics.LATENCY_WINDOW):
        metrics.record_call("canvas-main", "GET", 200, 5.0, 0, "success")
    for _ in range(metrics.LATENCY_WINDOW):
        metrics.record_call("canvas-main", "GET", 200, 0.010, 0, "success")

    snapshot = metrics.snapshot("canvas-main")

    assert snapshot["count"] == 2 * metrics.LATENCY_WINDOW
    assert snapshot["latency_samples"] == metrics.LATENCY_WINDOW
    assert snapshot["latency_p95_ms"] == pytest.approx(10)
    assert snapshot["latency_avg_ms"] == pytest.approx(10)


def test_integrations_are_counted_separately():
    metrics.record_call("canvas-main", "GET", 200, 0.01, 0, "success")
    metrics.record_call("moodle-main", "GET", 500, 0.01, 0, "failure")

    assert metrics.snapshot("canvas-main")["successes"] == 1
    assert metrics.snapshot("canvas-main")["failures"] == 0
    assert metrics.snapshot("moodle-main")["failures"] == 1


def test_reset_forgets_one_or_all_integrations():
    metrics.record_call("canvas-main", "GET", 200, 0.01, 0, "success")
    metrics.record_call("moodle-main", "GET", 200, 0.01, 0, "success")

    metrics.reset("canvas-main")
    assert metrics.snapshot("canvas-main")["count"] == 0
    assert metrics.snapshot("moodle-main")["count"] == 1

    metrics.reset()
    assert metrics.snapshot("moodle-main")["count"] == 0


def test_concurrent_recording_loses_no_calls():
    def record() -> None:
        for _ in range(2000):
            metrics.record_call(
                "canvas-main", "GET", 200, 0.001, 1, "success", cache="hit"
            )

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    snapshot = metrics.snapshot("canvas-main")
    assert snapshot["count"] == 16000
    assert snapshot["retries"] == 16000
    assert snapshot["cache_hits"] == 16000
    assert snapshot["status"]["2xx"] == 16000
    assert snapshot["latency_samples"] == metrics.LATENCY_WINDOW


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"outcome": "ok"}, "outcome must be one of"),
        ({"cache": "stale"}, "cache must be one of"),
        ({"latency": -0.1}, "latency and retries must be >= 0"),
        ({"retries": -1}, "latency and retries must be >= 0"),
    ],
)
def test_record_call_rejects_bad_values(arguments, fragment):
    call = {
        "integration": "canvas-main",
        "method": "GET",
        "status": 200,
        "latency": 0.01,
        "retries": 0,
        "outcome": "success",
        "cache": None,
    }
    call.update(arguments)

    with pytest.raises(ValueError, match=fragment):
        metrics.record_call(**call)
    assert metrics.snapshot("canvas-main")["count"] == 0


def test_last_call_at_moves_forward():
    metrics.record_call("canvas-main", "GET", 200, 0.01, 0, "success")
    first = metrics.snapshot("canvas-main")["last_call_at"]
    metrics.record_call("canvas-main", "GET", 200, 0.01, 0, "success")

    second = metrics.snapshot("canvas-main")["last_call_at"]
    assert first <= second < first + timedelta(minutes=1)
