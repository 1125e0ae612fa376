"""Measure what evaluating achievements adds to the writes that can earn them.

Setup: a temporary SQLite file, one LMS integration, one course, 500
learners with progress rows.

1. **Progress API writes, dispatched**: 50 progress rows' percent saved,
   each in its own transaction with its ``progress.updated`` event (as the
   progress API writes it), then the dispatcher's pass over those events,
   where the outbox's listeners run: with the achievements listener
   switched off (the baseline), on with no enabled achievement, and on
   with one enabled ``progress_percent`` achievement the writes never
   meet.
2. **Synced page**: ``store_page`` of 500 progress records, every one
   changed, with the achievements hooks off, on with none enabled, and on
   with four enabled achievements (one awarding all 500 learners on its
   first page, the others meeting nothing).

Each mode runs in interleaved rounds so drift of the machine hits all of
them alike; the ratios compare medians with the baseline.

Run: ``.venv/bin/python bench/achievements.py [--rounds N] [--quick]``.
The last line is the JSON summary every benchmark prints.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = tempfile.mkdtemp(prefix="achievements-bench-")
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
os.environ["PORTAL_VAR_DIR"] = WORKDIR
os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR}/bench.sqlite3"
os.environ["CACHE_URL"] = "locmemcache://achievements-bench"
# DEBUG off: with it on, Django keeps every SQL statement in memory.
os.environ["DEBUG"] = "false"
os.environ["LOG_LEVEL"] = "WARNING"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from integrations.models import Integration  # noqa: E402
from integrations.sync import upsert  # noqa: E402
from portal.achievements.models import Achievement, Criterion  # noqa: E402
from portal.events import outbox  # noqa: E402
from portal.events.domain import progress_updated  # noqa: E402
from portal.events.routing import dispatch_events  # noqa: E402
from portal.learning.models import Course, Progress  # noqa: E402

TARGETS = {"api_write_vs_without": 1.2, "synced_page_vs_without": 1.1}
LEARNERS = 500
#: The slugs of the achievements the "enabled" modes switch on.
PROBE = "bench-never-met"
SYNC_SET = ("bench-half", "bench-top", "bench-done", "bench-quiz")
_LISTENERS = dict(outbox._listeners)
_ON_PROGRESS_STORED = upsert.on_progress_stored


def hooks(on: bool) -> None:
    """Switch the achievements listener and the sync hook on or off."""
    outbox._listeners.clear()
    if on:
        outbox._listeners.update(_LISTENERS)
    upsert.on_progress_stored = _ON_PROGRESS_STORED if on else (lambda *args: None)


def enable(slugs: tuple[str, ...]) -> None:
    """Enable exactly the achievements named."""
    Achievement.objects.update(enabled=False)
    Achievement.objects.filter(slug__in=slugs).update(enabled=True)


def populate() -> tuple[Integration, list[Progress]]:
    """Create the course, learners, progress rows and disabled achievements."""
    integration = Integration.objects.create(name="bench-lms", provider="rest")
    course = Course.objects.create(
        integration=integration, external_id="c1", title="Course", content_hash="h"
    )
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"learner-{n}") for n in range(LEARNERS)
    )
    rows = Progress.objects.bulk_create(
        Progress(
            integration=integration,
            course=course,
            learner=user,
            external_id=f"p-{user.pk}",
            content_hash="h",
        )
        for user in users
    )
    for slug, criterion, percent in (
        (PROBE, Criterion.PROGRESS_PERCENT, 100),
        ("bench-half", Criterion.PROGRESS_PERCENT, 5),
        ("bench-top", Criterion.PROGRESS_PERCENT, 99),
        ("bench-done", Criterion.COURSE_COMPLETED, None),
        ("bench-quiz", Criterion.QUIZ_SCORE, 50),
    ):
        Achievement.objects.create(
            slug=slug,
            name=slug,
            criterion=criterion,
            min_percent=percent,
            enabled=False,
        )
    return integration, rows


def api_write(progress: Progress, percent: int) -> None:
    """Save a progress change with its event, as the progress API does."""
    with transaction.atomic():
        progress.percent = percent
        progress.save(update_fields=["percent", "updated_at"])
        progress_updated(progress, "bench-lms", ["percent"], source="api")


def synced_page(integration: Integration, percent: int) -> None:
    """Store one page of every learner's progress at ``percent``."""
    records = [
        {
            "external_id": f"s-{n}",
            "course_external_id": "c1",
            "learner": {"remote_user_id": f"u{n}", "email": f"u{n}@example.edu"},
            "percent": percent,
            "completed_at": None,
        }
        for n in range(LEARNERS)
    ]
    with transaction.atomic():
        upsert.store_page(integration, "progress", records, 1)


def interleave(
    modes: dict[str, Callable[[], None]], run: Callable[[int], None], rounds: int
) -> dict[str, float]:
    """Return each mode's median seconds of ``run``, modes taking turns."""
    times: dict[str, list[float]] = {name: [] for name in modes}
    step = 0
    for round_number in range(rounds):
        order = list(modes) if round_number % 2 == 0 else list(reversed(modes))
        for name in order:
            modes[name]()
            step += 1
            started = time.perf_counter()
            run(step)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    """Run both measurements and print the figures and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds per mode")
    parser.add_argument("--quick", action="store_true", help="10 rounds")
    args = parser.parse_args()
    rounds = 10 if args.quick else args.rounds

    call_command("migrate", verbosity=0)
    integration, rows = populate()
    synced_page(integration, 1)  # creates the learners and rows once

    def write_many(step: int) -> None:
        for number in range(50):
            api_write(rows[(step * 50 + number) % LEARNERS], number % 90)
        # The listeners run when the dispatcher takes the events.
        dispatch_events()

    api = interleave(
        {
            "off": lambda: (hooks(False), enable(())),
            "none_enabled": lambda: (hooks(True), enable(())),
            "one_enabled": lambda: (hooks(True), enable((PROBE,))),
        },
        write_many,
        rounds,
    )
    sync = interleave(
        {
            "off": lambda: (hooks(False), enable(())),
            "none_enabled": lambda: (hooks(True), enable(())),
            "four_enabled": lambda: (hooks(True), enable(SYNC_SET)),
        },
        lambda step: synced_page(integration, 2 + step % 90),
        rounds,
    )
    hooks(True)

    for name, seconds in api.items():
        print(
            f"progress API write and its dispatch, achievements {name}: "
            f"{seconds / 50 * 1e6:.0f} us"
        )
    for name, seconds in sync.items():
        print(f"synced page of {LEARNERS}, achievements {name}: {seconds * 1e3:.1f} ms")
    ratios = {
        "api_write_vs_without": round(
            max(api["none_enabled"], api["one_enabled"]) / api["off"], 3
        ),
        "synced_page_vs_without": round(
            max(sync["none_enabled"], sync["four_enabled"]) / sync["off"], 3
        ),
        "api_write_none_enabled_vs_without": round(api["none_enabled"] / api["off"], 3),
        "synced_page_none_enabled_vs_without": round(
            sync["none_enabled"] / sync["off"], 3
        ),
    }
    met = all(ratios[name] <= target for name, target in TARGETS.items())
    summary = {
        "benchmark": "achievements",
        "ratios": ratios,
        "targets": TARGETS,
        "met": met,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
