"""Rendering helpers of the integrations command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from integrations.cli_output import (
    SyncProgress,
    format_duration,
    format_timestamp,
    render_table,
    to_json,
)
from integrations.models import SyncRun, SyncStatus


def test_render_table_aligns_columns_and_marks_empty_cells():
    table = render_table(
        ["NAME", "ENABLED", "ERROR"],
        [["a", True, None], ["longer-name", False, "line one\nline two"]],
    )

    assert table.splitlines() == [
        "NAME         ENABLED  ERROR",
        "a            yes      -",
        "longer-name  no       line one line two",
    ]


def test_format_duration():
    assert format_duration(None) == "-"
    assert format_duration(0.25) == "250ms"
    assert format_duration(timedelta(seconds=12.44)) == "12.4s"
    assert format_duration(185) == "3m05s"
    assert format_duration(timedelta(hours=2, minutes=3)) == "2h03m"


def test_format_timestamp_is_utc():
    moment = datetime(2025, 1, 31, 14, 5, 9, tzinfo=UTC)

    assert format_timestamp(moment) == "2025-01-31 14:05:09Z"
    assert format_timestamp(None) == "-"


def test_to_json_handles_dates_and_decimals():
    text = to_json({"at": datetime(2025, 1, 1, tzinfo=UTC), "points": Decimal("2.50")})

    assert '"at": "2025-01-01T00:00:00+00:00"' in text
    assert '"points": 2.5' in text


def _run(
    stream: str, pages: int, fetched: int, status: str = SyncStatus.RUNNING
) -> SyncRun:
    return SyncRun(
        stream=stream, status=status, pages=pages, fetched=fetched, created=fetched
    )


def test_progress_writes_a_line_per_page_when_not_a_terminal():
    written: list[str] = []
    progress = SyncProgress(written.append, tty=False)

    progress(_run("courses", 1, 100))
    progress(_run("courses", 2, 150))
    progress.finish()

    assert written == [
        "courses: page 1, 100 records (created 100, updated 0, unchanged 0, deleted 0, "
        "failed 0)\n",
        "courses: page 2, 150 records (created 150, updated 0, unchanged 0, deleted 0, "
        "failed 0)\n",
    ]


def test_progress_rewrites_one_line_per_stream_on_a_terminal():
    written: list[str] = []
    progress = SyncProgress(written.append, tty=True)

    progress(_run("courses", 10, 1000))
    progress(_run("courses", 11, 1005, status=SyncStatus.SUCCEEDED))
    progress(_run("assignments", 1, 5))
    progress.finish()

    text = "".join(written)
    lines = text.split("\n")
    assert len(lines) == 3 and lines[-1] == ""
    assert lines[0].startswith("\rcourses: page 10, 1000 records")
    assert "\rcourses: succeeded after 11 pages, 1005 records" in lines[0]
    assert lines[1].startswith("\rassignments: page 1, 5 records")
