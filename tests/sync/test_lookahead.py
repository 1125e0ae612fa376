"""Fetches run ahead in a pool, results come back in order, errors in place."""

from __future__ import annotations

import threading

import pytest

from integrations.sync.lookahead import fetch_ahead


class Recorder:
    """A fetch function that notes which thread ran it and how many ran at once."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on
        self.threads: set[str] = set()
        self.started: list[int] = []
        self.running = 0
        self.most_running = 0
        self.gate = threading.Barrier(1)
        self._lock = threading.Lock()

    def __call__(self, number: int) -> str:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.started.append(number)
            self.threads.add(threading.current_thread().name)
        try:
            self.gate.wait(timeout=5)
            if number == self.fail_on:
                raise ConnectionResetError(f"reset while fetching {number}")
            return f"result {number}"
        finally:
            with self._lock:
                self.running -= 1


def test_results_come_back_in_the_order_of_the_items():
    fetch = Recorder()

    results = list(fetch_ahead(range(20), fetch, workers=4, name="order"))

    assert results == [(number, f"result {number}") for number in range(20)]
    assert all(name.startswith("order") for name in fetch.threads)


def test_up_to_workers_fetches_run_at_once():
    fetch = Recorder()
    # Each fetch waits until four are waiting together: only a pool of four
    # running them side by side gets through.
    fetch.gate = threading.Barrier(4)

    results = list(fetch_ahead(range(8), fetch, workers=4))

    assert len(results) == 8
    assert fetch.most_running == 4


def test_one_worker_fetches_inline_without_a_thread():
    fetch = Recorder()

    results = list(fetch_ahead(range(3), fetch, workers=1))

    assert [item for item, _ in results] == [0, 1, 2]
    assert fetch.threads == {threading.current_thread().name}


def test_items_are_drawn_in_the_callers_thread():
    drawn_in: set[str] = set()

    def items():
        for number in range(6):
            drawn_in.add(threading.current_thread().name)
            yield number

    list(fetch_ahead(items(), Recorder(), workers=3))

    assert drawn_in == {threading.current_thread().name}


def test_an_error_is_raised_after_every_item_before_it():
    received = []

    with pytest.raises(ConnectionResetError, match="fetching 5"):
        for item, _ in fetch_ahead(range(10), Recorder(fail_on=5), workers=3):
            received.append(item)

    assert received == [0, 1, 2, 3, 4]


def test_stopping_early_cancels_fetches_not_yet_started():
    fetch = Recorder()
    results = fetch_ahead(range(1000), fetch, workers=2)

    next(results)
    results.close()

    # At most the two in the pool and the one refilled ahead had started.
    assert len(fetch.started) <= 4
    assert fetch.running == 0


def test_workers_below_one_are_refused():
    with pytest.raises(ValueError, match="workers must be 1 or more"):
        list(fetch_ahead([1], Recorder(), workers=0))
