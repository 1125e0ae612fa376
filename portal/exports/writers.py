"""Write the learning data as CSV or JSON, row by row, into a binary file.

Rows come from ``QuerySet.iterator()`` in chunks, so a report of any size
holds one chunk in memory, never the table. JSON is one array with one
object per line, so it can be read whole or line by line. CSV cells that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR at
the start) are prefixed with ``'`` (OWASP "CSV Injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

from django.db.models import Avg, Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from portal.exports.models import ExportFormat, ExportKind
from portal.learning.models import Course, Enrollment, Progress

CHUNK = 2000
#: Report column to the queryset field it reads, in column order.
PROGRESS_FIELDS = {
    "integration": "integration__name",
    "course_external_id": "course__external_id",
    "course_title": "course__title",
    "learner_id": "learner_id",
    "learner_username": "learner__username",
    "percent": "percent",
    "grade": "grade",
    "completed_at": "completed_at",
    "updated_at": "updated_at",
}
COURSE_FIELDS = {
    "integration": "integration__name",
    "external_id": "external_id",
    "title": "title",
    "code": "code",
    "state": "state",
    "starts_at": "starts_at",
    "ends_at": "ends_at",
    "url": "url",
    "enrollments": "enrolled",
    "completed": "done",
    "average_percent": "average",
    "updated_at": "updated_at",
}
PROGRESS_COLUMNS = tuple(PROGRESS_FIELDS)
COURSE_COLUMNS = tuple(COURSE_FIELDS)
CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSON: "application/json",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def progress_rows() -> Iterator[dict[str, Any]]:
    """Yield every live progress row with its course and learner, by id.

    Rows marked deleted by a sync (``deleted_at``) are left out, here and in
    the course report.
    """
    rows = (
        Progress.objects.filter(
            deleted_at__isnull=True, course__deleted_at__isnull=True
        )
        .order_by("pk")
        .values_list(*PROGRESS_FIELDS.values())
        .iterator(chunk_size=CHUNK)
    )
    for values in rows:
        yield dict(zip(PROGRESS_COLUMNS, values, strict=True))


def course_rows() -> Iterator[dict[str, Any]]:
    """Yield every course with its enrollment and completion counts, by id."""
    live = {"course": OuterRef("pk"), "deleted_at__isnull": True}
    enrolled = _count(Enrollment.objects.filter(**live))
    completed = _count(Progress.objects.filter(**live, completed_at__isnull=False))
    average = (
        Progress.objects.filter(**live)
        .values("course")
        .annotate(value=Avg("percent"))
        .values("value")
    )
    rows = (
        Course.objects.filter(deleted_at__isnull=True)
        .order_by("pk")
        .annotate(
            enrolled=Coalesce(Subquery(enrolled, output_field=IntegerField()), 0),
            done=Coalesce(Subquery(completed, output_field=IntegerField()), 0),
            average=Subquery(average),
        )
        .values_list(*COURSE_FIELDS.values())
        .iterator(chunk_size=CHUNK)
    )
    for values in rows:
        row = dict(zip(COURSE_COLUMNS, values, strict=True))
        if row["average_percent"] is not None:
            row["average_percent"] = Decimal(row["average_percent"]).quantize(
                Decimal("0.01")
            )
        yield row


def _count(queryset: Any) -> Any:
    return queryset.values("course").annotate(value=Count("pk")).values("value")


REPORTS = {
    ExportKind.PROGRESS: (PROGRESS_COLUMNS, progress_rows),
    ExportKind.COURSES: (COURSE_COLUMNS, course_rows),
}


def write_report(kind: str, format: str, out: IO[bytes]) -> int:
    """Write report ``kind`` as ``format`` to ``out``; return the rows written."""
    if kind not in REPORTS:
        raise ValueError(f"Unknown report {kind!r}; reports: {', '.join(REPORTS)}")
    columns, rows = REPORTS[kind]
    if format == ExportFormat.CSV:
        return _write_csv(columns, rows(), out)
    if format == ExportFormat.JSON:
        return _write_json(rows(), out)
    raise ValueError(f"Unknown format {format!r}; formats: csv, json")


def _write_csv(
    columns: tuple[str, ...], rows: Iterator[dict[str, Any]], out: IO[bytes]
) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
        count += 1
    text.detach()
    return count


def _write_json(rows: Iterator[dict[str, Any]], out: IO[bytes]) -> int:
    out.write(b"[")
    count = 0
    for row in rows:
        out.write(b",\n" if count else b"\n")
        out.write(json.dumps({k: _json_value(v) for k, v in row.items()}).encode())
        count += 1
    out.write(b"\n]\n" if count else b"]\n")
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
