"""Fetch the next page of a stream while the engine stores the current one.

Against a real service most of a page's time is the round trip; storing is
database work. Running the stream's iterator one page ahead in a thread of
its own overlaps the two, while the pages still reach the engine in order
and one at a time, so cursors, counts and resumes behave exactly as without
it. At most one page waits in memory besides the one being stored.

Only streams whose ``pages()`` never touch the database may be prefetched
(``Stream.prefetch``): the thread has no database connection of the run's,
and would not see rows the run's transaction has not committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

from integrations.providers.base import Page

logger = logging.getLogger(__name__)

#: How often a producer blocked on a full queue looks whether it was stopped.
_STOP_POLL_SECONDS = 0.5


class _Finished:
    """Sentinel put on the queue after the last page."""


class _Failed:
    """Carries the exception the stream raised, to re-raise in the engine."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(pages: Iterator[Page], *, name: str = "stream") -> Iterator[Page]:
    """Yield the pages of ``pages`` in order, fetching each next one in a thread.

    An exception the stream raises is raised here at the point where the
    stream raised it, after every page before it was yielded. When the
    caller stops early (an exception, or closing this generator), the
    thread stops after the request it is making and closes the stream.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    producer = threading.Thread(
        target=_produce,
        args=(pages, handoff, stop),
        name=f"prefetch-{name}",
        daemon=True,
    )
    producer.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _Finished):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        _drain(handoff)


def _produce(
    pages: Iterator[Page], handoff: queue.Queue[Any], stop: threading.Event
) -> None:
    """Run the stream in this thread, handing each page over as it arrives."""
    try:
        for page in pages:
            if not _put(handoff, page, stop):
                return
        _put(handoff, _Finished(), stop)
    except BaseException as error:  # noqa: BLE001 - re-raised in the engine's thread
        _put(handoff, _Failed(error), stop)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            _close_quietly(close)


def _put(handoff: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` when there is room; False if the consumer stopped first."""
    while not stop.is_set():
        try:
            handoff.put(item, timeout=_STOP_POLL_SECONDS)
        except queue.Full:
            continue
        return True
    return False


def _drain(handoff: queue.Queue[Any]) -> None:
    """Empty the queue so a producer blocked on it sees the stop at once."""
    while True:
        try:
            handoff.get_nowait()
        except queue.Empty:
            return


def _close_quietly(close: Any) -> None:
    try:
        close()
    except Exception:  # noqa: BLE001 - the run's outcome is already decided
        logger.debug("sync.prefetch.close_failed", exc_info=True)
