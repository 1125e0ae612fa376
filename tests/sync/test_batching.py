"""Small consecutive pages are stored together, and nothing fetched is dropped."""

from __future__ import annotations

import pytest

from integrations.models import SyncStatus
from integrations.providers.base import Page
from integrations.sync.engine import batched_pages
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course


def _pages(sizes: list[int]) -> list[Page]:
    pages = []
    for number, size in enumerate(sizes, start=1):
        last = number == len(sizes)
        records = [{"external_id": f"{number}-{index}"} for index in range(size)]
        pages.append(
            Page(records=records, next_cursor=None if last else {"page": number})
        )
    return pages


def _shape(batches: list[list[Page]]) -> list[list[int]]:
    return [[len(page.records) for page in batch] for batch in batches]


def test_pages_are_grouped_until_the_batch_holds_enough_records():
    batches = list(batched_pages(_pages([3, 3, 3, 3, 3]), max_records=6))

    assert _shape(batches) == [[3, 3], [3, 3], [3]]
    assert batches[0][-1].next_cursor == {"page": 2}
    assert batches[-1][-1].next_cursor is None


def test_a_page_larger_than_the_batch_is_a_batch_of_its_own():
    assert _shape(list(batched_pages(_pages([10, 1, 1]), max_records=4))) == [
        [10],
        [1, 1],
    ]


def test_the_last_page_ends_its_batch_however_small():
    assert _shape(list(batched_pages(_pages([1, 1]), max_records=500))) == [[1, 1]]


def test_a_batch_is_not_held_back_longer_than_the_time_limit():
    ticks = iter([0.0, 0.5, 1.0, 2.5, 3.0, 3.1, 3.2])

    batches = list(
        batched_pages(
            _pages([1, 1, 1, 1, 1]),
            max_records=500,
            max_seconds=2.0,
            clock=lambda: next(ticks),
        )
    )

    # First page at 0.0; the third arrives at 2.5, past the limit: stored.
    assert _shape(batches) == [[1, 1, 1], [1, 1]]


def test_pages_before_a_stream_error_are_yielded_then_the_error_is_raised():
    def failing():
        yield from _pages([2, 2, 2])[:2]
        raise ConnectionResetError("reset while fetching page 3")

    batches = batched_pages(failing(), max_records=500)

    assert _shape([next(batches)]) == [[2, 2]]
    with pytest.raises(ConnectionResetError, match="page 3"):
        next(batches)


def test_empty_stream_yields_no_batch():
    assert list(batched_pages(iter([]))) == []


@pytest.mark.django_db
def test_a_sync_of_small_pages_saves_progress_once_per_batch(
    integration, school, settings
):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 10
    saves: list[tuple[int, int]] = []

    (run,) = run_sync_now(
        integration,
        streams=["courses"],
        progress=lambda run: saves.append((run.pages, run.fetched)),
    )

    # The school serves 12 courses, 5 a page: pages of 5, 5 and 2.
    assert run.status == SyncStatus.SUCCEEDED
    assert run.pages == 3
    assert saves[:2] == [(2, 10), (3, 12)]
    assert Course.objects.filter(deleted_at__isnull=True).count() == 12
