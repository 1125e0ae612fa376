"""Rendering for the ``integrations`` command: tables, JSON and progress lines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from integrations.models import SyncRun, SyncStatus

#: What an empty cell shows.
EMPTY = "-"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return ``rows`` as a left-aligned text table under ``headers``."""
    cells = [[str(header) for header in headers]]
    cells.extend([_cell(value) for value in row] for row in rows)
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = [
        "  ".join(
            value.ljust(width) for value, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    # Cells are one line: a multi-line error would break the columns.
    return " ".join(str(value).split())


def format_timestamp(value: datetime | None) -> str:
    """Return ``value`` in UTC as ``2025-01-31 14:05:09Z``."""
    if value is None:
        return EMPTY
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_duration(value: timedelta | float | None) -> str:
    """Return a duration as ``850ms``, ``12.4s`` or ``3m05s``."""
    if value is None:
        return EMPTY
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def to_json(data: Any) -> str:
    """Serialize ``data`` as indented JSON (datetimes as ISO 8601)."""
    return json.dumps(data, indent=2, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def run_as_dict(run: SyncRun) -> dict[str, Any]:
    """Return a sync run's outcome as JSON-ready data."""
    duration = run.duration
    return {
        "id": run.pk,
        "stream": run.stream,
        "status": run.status,
        "full": run.full,
        "pages": run.pages,
        "fetched": run.fetched,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "deleted": run.deleted,
        "failed": run.failed,
        "error_code": run.error_code,
        "error_summary": run.error_summary,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": round(duration.total_seconds(), 3) if duration else None,
    }


def progress_text(run: SyncRun) -> str:
    """Return one line describing how far a run has got, or how it ended."""
    if run.status == SyncStatus.RUNNING:
        where = f"page {run.pages}"
    else:
        where = f"{run.status} after {run.pages} page{'s' if run.pages != 1 else ''}"
    return (
        f"{run.stream}: {where}, {run.fetched} records "
        f"(created {run.created}, updated {run.updated}, unchanged {run.unchanged}, "
        f"deleted {run.deleted}, failed {run.failed})"
    )


class SyncProgress:
    """Show a sync's progress: a line per page, or one rewritten line on a TTY.

    ``write`` receives text exactly as it should appear (no ending added), so
    a TTY line can be rewritten in place with a carriage return.
    """

    def __init__(self, write: Callable[[str], object], *, tty: bool = False) -> None:
        self.write = write
        self.tty = tty
        self._current_stream: str | None = None
        self._width = 0

    def __call__(self, run: SyncRun) -> None:
        """Report ``run`` after one of its pages was stored."""
        if self._current_stream not in (None, run.stream):
            self.finish()
        self._current_stream = run.stream
        text = progress_text(run)
        if self.tty:
            # Pad over the previous text: the new text may be shorter.
            self.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.write(text + "\n")

    def finish(self) -> None:
        """End the rewritten line, so what follows starts on a fresh one."""
        if self.tty and self._width:
            self.write("\n")
        self._width = 0
        self._current_stream = None
