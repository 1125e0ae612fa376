"""Pages fetched one ahead in a thread reach the engine in order, errors included."""

from __future__ import annotations

import threading

import pytest

from integrations.providers.base import Page
from integrations.sync.prefetch import prefetched


def _page(number: int, last: bool = False) -> Page:
    return Page(
        records=[{"external_id": str(number)}],
        next_cursor=None if last else {"page": number + 1},
    )


class Source:
    """A stream's page generator that records what it did and in which thread."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.produced: list[int] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()
        self.may_continue = threading.Event()
        self.may_continue.set()

    def pages(self):
        try:
            for number in range(1, self.count + 1):
                self.may_continue.wait()
                self.threads.add(threading.current_thread().name)
                if self.fail_after is not None and number > self.fail_after:
                    raise ConnectionResetError(f"reset while fetching page {number}")
                self.produced.append(number)
                yield _page(number, last=number == self.count)
        finally:
            self.closed.set()


def test_pages_arrive_in_order_and_are_fetched_in_another_thread():
    source = Source(count=25)

    numbers = [
        int(page.records[0]["external_id"]) for page in prefetched(source.pages())
    ]

    assert numbers == list(range(1, 26))
    assert source.threads == {"prefetch-stream"}
    assert source.closed.wait(5)


def test_an_error_is_raised_after_every_page_before_it():
    source = Source(count=10, fail_after=3)
    received = []

    with pytest.raises(ConnectionResetError, match="page 4"):
        for page in prefetched(source.pages()):
            received.append(page.records[0]["external_id"])

    assert received == ["1", "2", "3"]


def test_the_thread_runs_at_most_one_page_ahead_of_the_consumer():
    source = Source(count=10)
    pages = prefetched(source.pages())

    first = next(pages)
    # Page 2 waits in the hand-off and page 3 is fetched but cannot be put;
    # nothing beyond: memory stays at a page or two whatever the stream's size.
    source.may_continue.clear()
    next(pages)

    assert first.records[0]["external_id"] == "1"
    assert len(source.produced) <= 4
    source.may_continue.set()
    pages.close()


def test_stopping_early_stops_the_thread_and_closes_the_stream():
    source = Source(count=1000)
    pages = prefetched(source.pages(), name="early")

    next(pages)
    pages.close()

    assert source.closed.wait(5)
    assert len(source.produced) < 1000
    assert not any(t.name == "prefetch-early" and t.is_alive() for t in _settled())


def _settled() -> list[threading.Thread]:
    for thread in threading.enumerate():
        if thread.name.startswith("prefetch-early"):
            thread.join(5)
    return threading.enumerate()
