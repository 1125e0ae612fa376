"""Fetch for the next few items in threads while the caller works on this one.

A per-course stream makes one request (or a few) for every course, and most
of a request's time is waiting for the service. ``fetch_ahead`` runs a
stream's fetch function for up to ``workers`` items at once in a small pool
and hands the results back strictly in the items' order, so pages, cursors
and resumes are exactly what a one-at-a-time loop would give.

The items are drawn in the caller's thread: a stream may read them from the
database (the synced courses) while the pool only talks HTTP. The fetch
function must not touch the database; the pool's threads have no connection
of the run's and would not see what the run has not committed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def fetch_ahead(
    items: Iterable[Item],
    fetch: Callable[[Item], Result],
    *,
    workers: int,
    name: str = "fetch-ahead",
) -> Iterator[tuple[Item, Result]]:
    """Yield ``(item, fetch(item))`` in the order of ``items``.

    With ``workers`` above 1, ``fetch`` runs in a pool for up to that many
    items ahead of the one the caller holds; with 1 it runs inline and no
    thread is started. An exception ``fetch`` raises for an item is raised
    here when that item's turn comes, after every item before it was
    yielded. When the caller stops early (an exception, or closing this
    generator), fetches not yet started are cancelled and running ones are
    waited for, so no request of the run outlives it.
    """
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers!r}")
    if workers == 1:
        for item in items:
            yield item, fetch(item)
        return

    pending: deque[tuple[Item, Future[Result]]] = deque()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        try:
            while True:
                while len(pending) < workers:
                    item = next(source, _END)
                    if item is _END:
                        break
                    pending.append((item, pool.submit(fetch, item)))
                if not pending:
                    return
                item, future = pending.popleft()
                yield item, future.result()
        finally:
            for _, future in pending:
                future.cancel()
            # Leaving the pool's block waits for the fetches already running.


class _End:
    """Marks the end of the items (an item may itself be None)."""


_END = _End()
