"""Measure the portal's Canvas sync of courses and assignments against a naive
loop and the limit.

A fake Canvas (tests/fakes/canvas.py, in a process of its own: a real Canvas
is another machine) serves N courses of one account, 100 a page with Link
pagination, each the full Course JSON with its term, and A assignments per
course (2 by default), read with one request per course as Canvas has no
account-wide assignments listing. Measured in one run on the same database,
1, 3 and 4 each starting from empty tables:

1. the portal: ``run_sync_now(integration, streams=["courses",
   "assignments"])``, records/s over courses and assignments together;
2. an unchanged resync of the same rows through the portal, compared with 1
   (on PostgreSQL after an ANALYZE, as autovacuum runs between two syncs);
3. a naive loop: the same requests, made one after another by the
   provider's streams (``concurrency: 1``), then one ``save()`` per record
   in autocommit, each assignment's course looked up by its Canvas id;
4. the limit: the same normalized records, already fetched and parsed,
   built into model objects and inserted with one ``bulk_create`` per table.

It also prints the time the portal's streams take only to fetch and parse
everything (nothing stored), the floor under any sync of this data.

Memory: the portal's sync of N and of 4N courses with their assignments,
each in a child process of its own that reports its peak resident set
(``VmHWM`` on Linux).

SQLite (a temporary file, WAL) is the default; ``--database-url
postgres://postgres@127.0.0.1:5432/<name>`` creates the database <name>,
runs there and drops it (it refuses a database that already exists).

Run: ``.venv/bin/python bench/sync_throughput.py [--records N]
[--assignments-per-course A] [--quick] [--database-url URL] [--profile]``.
The last line is the JSON summary every benchmark prints.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._database import (  # noqa: E402
    DATABASE_FLAG,
    create_scratch,
    drop_scratch,
    flag_value,
    is_postgres,
)
from bench._sync_support import TOKEN  # noqa: E402

CHILD_FLAG = "--memory-child"
IS_CHILD = CHILD_FLAG in sys.argv
WORKDIR = tempfile.mkdtemp(prefix="sync-throughput-")


def _scratch_database(url: str) -> tuple[str, str | None]:
    """Return the URL to run on and the PostgreSQL database to drop at the end."""
    if not is_postgres(url) or IS_CHILD:
        return url, None
    return create_scratch(url, "portal_bench_sync")


DATABASE_URL, SCRATCH_DATABASE = _scratch_database(
    flag_value(DATABASE_FLAG) or f"sqlite:///{WORKDIR}/bench.sqlite3"
)
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
os.environ["PORTAL_VAR_DIR"] = WORKDIR
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["CACHE_URL"] = "locmemcache://sync-throughput-bench"
# DEBUG off: with it on, Django keeps every SQL statement in memory.
os.environ["DEBUG"] = "false"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ["INTEGRATIONS_ALLOW_PRIVATE_HOSTS"] = "*"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402

from integrations.models import Credential, Integration, SyncStatus  # noqa: E402
from integrations.providers.base import StreamContext  # noqa: E402
from integrations.registry import get_provider  # noqa: E402
from integrations.sync.runs import run_sync_now  # noqa: E402
from portal.learning.models import Assignment, Course  # noqa: E402

TARGETS = {
    "portal_vs_naive": 10.0,
    "portal_vs_limit": 0.5,
    "first_vs_unchanged_resync": 3.0,
    "memory_4n_vs_n": 1.2,
}
MAIN_ACCOUNT = 2
MEMORY_ACCOUNTS = (3, 4)
#: The streams a sync reads; without assignments, the courses alone.
ALL_STREAMS = ("courses", "assignments")
COURSE_FIELDS = ("title", "code", "state", "starts_at", "ends_at", "url")
ASSIGNMENT_FIELDS = ("title", "due_at", "points_possible")


@dataclass(frozen=True)
class Workload:
    """How many courses a sync reads, and assignments for each of them."""

    courses: int
    assignments_per_course: int

    @property
    def assignments(self) -> int:
        """Return how many assignments the courses have together."""
        return self.courses * self.assignments_per_course

    @property
    def records(self) -> int:
        """Return how many records a sync of the streams stores."""
        return self.courses + self.assignments

    @property
    def streams(self) -> tuple[str, ...]:
        """Return the streams to sync: no assignments stream when there are none."""
        return ALL_STREAMS if self.assignments_per_course else ALL_STREAMS[:1]


def make_integration(
    base_url: str, name: str, account_id: int, **settings: Any
) -> Integration:
    """Create a Canvas integration reading ``account_id``, 100 items a page."""
    integration = Integration.objects.create(
        name=name,
        provider="canvas",
        base_url=base_url,
        settings={"account_id": account_id, "per_page": 100, **settings},
    )
    credential = Credential(integration=integration, key="access_token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


def empty_tables() -> None:
    """Remove every assignment and course, so a measurement starts on empty tables."""
    with connection.cursor() as cursor:
        for model in (Assignment, Course):
            table = connection.ops.quote_name(model._meta.db_table)
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {table} CASCADE")
            else:
                # The table name is the model's own, quoted: no outside input.
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def analyze_tables() -> None:
    """Refresh PostgreSQL's statistics of the tables, as autovacuum would.

    Between two scheduled syncs autovacuum has analyzed tables that grew by
    thousands of rows; right after the first sync it has not yet, and the
    planner would still believe them empty.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Course, Assignment):
                cursor.execute(
                    f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}"
                )


@dataclass(frozen=True)
class Timing:
    """Wall seconds of a measurement and the CPU seconds this process spent."""

    wall: float
    cpu: float

    @classmethod
    def since(cls, started: tuple[float, float]) -> Timing:
        """Return the time since ``started``, a value of :func:`stopwatch`."""
        return cls(time.perf_counter() - started[0], time.process_time() - started[1])

    def line(self, label: str, count: int) -> str:
        """Return the printed line of ``count`` records taking this long."""
        return (
            f"{label + ':':18}{self.wall:7.2f} s, {count / self.wall:7.0f} records/s "
            f"(this process's CPU {self.cpu:.2f} s)"
        )


def stopwatch() -> tuple[float, float]:
    """Return the wall clock and this process's CPU clock, to pass to Timing.since."""
    return time.perf_counter(), time.process_time()


def portal_sync(integration: Integration, workload: Workload, what: str) -> Timing:
    """Sync courses and assignments through the portal; return how long it took."""
    started = stopwatch()
    runs = run_sync_now(integration, streams=list(workload.streams))
    timing = Timing.since(started)
    expected = {"courses": workload.courses, "assignments": workload.assignments}
    for run in runs:
        if run.status != SyncStatus.SUCCEEDED:
            raise SystemExit(
                f"{what}: the {run.stream} run ended {run.status}: {run.error_summary}"
            )
        stored = run.created + run.updated + run.unchanged
        if stored != expected[run.stream] or run.failed:
            raise SystemExit(
                f"{what}: stored {stored} of {expected[run.stream]} {run.stream}, "
                f"{run.failed} failed"
            )
    return timing


def fetch_records(
    integration: Integration, stream: str, **overrides: Any
) -> Iterator[dict[str, Any]]:
    """Yield the normalized records of a stream, fetched as the portal does.

    ``overrides`` change settings for this read only (nothing is saved).
    """
    provider = get_provider("canvas")
    reading = Integration(
        pk=integration.pk,
        name=integration.name,
        provider=integration.provider,
        base_url=integration.base_url,
        settings={**integration.settings, **overrides},
    )
    context = StreamContext(
        reading,
        client=provider.build_client(integration),
        settings=dict(reading.settings),
    )
    for page in provider.stream(reading, stream).pages(context, None):
        yield from page.records


def fetch_only(integration: Integration, workload: Workload) -> Timing:
    """Fetch and parse both streams through the provider, storing nothing.

    The assignments stream reads the synced courses, so the courses must be
    stored already; the time is the fetching alone.
    """
    started = stopwatch()
    count = 0
    for stream in workload.streams:
        count += sum(1 for _ in fetch_records(integration, stream))
    if count != workload.records:
        raise SystemExit(f"fetching alone read {count} of {workload.records} records")
    return Timing.since(started)


def course_of(integration: Integration, record: dict[str, Any]) -> Course:
    """Return an unsaved Course holding a normalized course record."""
    return Course(
        integration=integration,
        external_id=record["external_id"],
        remote_created_at=record["remote_created_at"],
        content_hash="",
        **{name: record[name] for name in COURSE_FIELDS},
    )


def assignment_of(
    integration: Integration, record: dict[str, Any], course_id: int
) -> Assignment:
    """Return an unsaved Assignment of the course ``course_id`` (a portal id)."""
    return Assignment(
        integration=integration,
        course_id=course_id,
        external_id=record["external_id"],
        remote_created_at=record["remote_created_at"],
        remote_updated_at=record["remote_updated_at"],
        content_hash="",
        **{name: record[name] for name in ASSIGNMENT_FIELDS},
    )


def naive_sync(
    integration: Integration, workload: Workload
) -> tuple[Timing, list[dict[str, Any]], list[dict[str, Any]]]:
    """Fetch one request at a time and save() each record; return the timing and records."""
    courses: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    started = stopwatch()
    for record in fetch_records(integration, "courses", concurrency=1):
        course_of(integration, record).save()
        courses.append(record)
    if "assignments" not in workload.streams:
        return Timing.since(started), courses, assignments
    for record in fetch_records(integration, "assignments", concurrency=1):
        course = Course.objects.only("id").get(
            integration=integration, external_id=record["course_external_id"]
        )
        assignment_of(integration, record, course.pk).save()
        assignments.append(record)
    return Timing.since(started), courses, assignments


def bulk_limit(
    integration: Integration,
    courses: list[dict[str, Any]],
    assignments: list[dict[str, Any]],
) -> Timing:
    """Insert parsed records with one bulk_create per table; return the time."""
    started = stopwatch()
    created = Course.objects.bulk_create(
        [course_of(integration, record) for record in courses], batch_size=1000
    )
    course_ids = {course.external_id: course.pk for course in created}
    Assignment.objects.bulk_create(
        [
            assignment_of(integration, record, course_ids[record["course_external_id"]])
            for record in assignments
        ],
        batch_size=1000,
    )
    return Timing.since(started)


def peak_rss_kb() -> int:
    """Return this process's peak resident set in KiB since it started.

    Linux's VmHWM, not ``ru_maxrss``: the latter keeps the high-water mark
    of the process that forked this one, here the benchmark's parent.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(base_url: str, account_id: int, workload: Workload) -> int:
    """Sync the workload in this process and print its peak memory as JSON."""
    integration = make_integration(base_url, f"canvas-memory-{account_id}", account_id)
    baseline = peak_rss_kb()
    seconds = portal_sync(integration, workload, f"memory run of {workload}").wall
    peak = peak_rss_kb()
    print(
        json.dumps(
            {
                "courses": workload.courses,
                "records": workload.records,
                "seconds": seconds,
                "baseline_kb": baseline,
                "peak_kb": peak,
            }
        )
    )
    return 0


def measure_memory(
    base_url: str, account_id: int, workload: Workload
) -> dict[str, Any]:
    """Run the portal's sync of ``workload`` in a child; return its report."""
    empty_tables()
    connections.close_all()
    command = [
        sys.executable,
        __file__,
        CHILD_FLAG,
        DATABASE_FLAG,
        DATABASE_URL,
        "--fake-url",
        base_url,
        "--account",
        str(account_id),
        "--records",
        str(workload.courses),
        "--assignments-per-course",
        str(workload.assignments_per_course),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the memory run of {workload} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_fake(
    accounts: list[tuple[int, int]], assignments_per_course: int
) -> tuple[subprocess.Popen, str]:
    """Start the fake Canvas process serving ``(account, courses)``; return it and its URL."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "_sync_support.py"),
        "--assignments-per-course",
        str(assignments_per_course),
    ]
    for account_id, count in accounts:
        command += ["--account", f"{account_id}:{count}"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise SystemExit("the fake Canvas did not start")
    return process, url


def stop_fake(process: subprocess.Popen) -> None:
    """Close the fake's standard input, which ends it, and wait for it."""
    process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def print_profile(profile: cProfile.Profile) -> None:
    """Print the functions where the profiled sync spent the most time."""
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def measure(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    """Run the timed measurements; return their timings and memory reports."""
    workload = Workload(args.records, args.assignments_per_course)
    integration = make_integration(base_url, "canvas-bench", MAIN_ACCOUNT)

    first = portal_sync(integration, workload, "first sync")
    print(first.line("portal sync", workload.records))
    analyze_tables()
    resync = portal_sync(integration, workload, "unchanged resync")
    print(resync.line("unchanged resync", workload.records))
    fetching = fetch_only(integration, workload)
    print(fetching.line("fetching alone", workload.records))

    empty_tables()
    naive, courses, assignments = naive_sync(integration, workload)
    if len(courses) + len(assignments) != workload.records:
        raise SystemExit(
            f"the naive loop read {len(courses) + len(assignments)} of "
            f"{workload.records} records"
        )
    print(naive.line("naive loop", workload.records))

    empty_tables()
    limit = bulk_limit(integration, courses, assignments)
    print(limit.line("limit (bulk)", workload.records))
    del courses, assignments

    if args.profile:
        empty_tables()
        for what in ("profiled first sync", "profiled unchanged resync"):
            profile = cProfile.Profile()
            profile.enable()
            portal_sync(integration, workload, what)
            profile.disable()
            print(f"--- {what}")
            print_profile(profile)

    memory = [
        measure_memory(
            base_url, account_id, Workload(courses, args.assignments_per_course)
        )
        for account_id, courses in zip(MEMORY_ACCOUNTS, args.memory_counts, strict=True)
    ]
    return {
        "first": first,
        "resync": resync,
        "naive": naive,
        "limit": limit,
        "memory": memory,
    }


def run(args: argparse.Namespace) -> int:
    """Run every measurement and print the figures and the JSON summary."""
    args.memory_counts = (args.memory_records, 4 * args.memory_records)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    fake, base_url = start_fake(
        [
            (MAIN_ACCOUNT, args.records),
            *zip(MEMORY_ACCOUNTS, args.memory_counts, strict=True),
        ],
        args.assignments_per_course,
    )
    print(f"database: {connection.vendor}; fake Canvas at {base_url}")
    print(
        f"fake Canvas built {args.records + sum(args.memory_counts)} courses in "
        f"{time.perf_counter() - started:.1f} s; {args.assignments_per_course} "
        "assignments per course, one request per course"
    )
    try:
        timings = measure(args, base_url)
    finally:
        stop_fake(fake)
    memory = timings["memory"]
    for report in memory:
        print(
            f"memory, sync of {report['courses']:>7} courses ({report['records']} "
            f"records): peak {report['peak_kb'] / 1024:6.1f} MiB (before the sync "
            f"{report['baseline_kb'] / 1024:.1f} MiB), {report['seconds']:.2f} s"
        )

    first, naive = timings["first"].wall, timings["naive"].wall
    ratios = {
        "portal_vs_naive": round(naive / first, 3),
        "portal_vs_limit": round(timings["limit"].wall / first, 3),
        "first_vs_unchanged_resync": round(first / timings["resync"].wall, 3),
        "memory_4n_vs_n": round(memory[1]["peak_kb"] / memory[0]["peak_kb"], 3),
    }
    met = {
        name: value <= TARGETS[name]
        if name == "memory_4n_vs_n"
        else value >= TARGETS[name]
        for name, value in ratios.items()
    }
    for name, value in ratios.items():
        bound = "<=" if name == "memory_4n_vs_n" else ">="
        verdict = "met" if met[name] else "MISSED"
        print(f"{name}: {value} (target {bound} {TARGETS[name]}: {verdict})")
    summary = {
        "benchmark": "sync_throughput",
        "database": connection.vendor,
        "records": Workload(args.records, args.assignments_per_course).records,
        "courses": args.records,
        "assignments_per_course": args.assignments_per_course,
        "ratios": ratios,
        "targets": TARGETS,
        "met": all(met.values()),
    }
    print(json.dumps(summary))
    return 0


def main() -> int:
    """Parse the arguments and run the benchmark, or one memory child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=None, help="courses to sync")
    parser.add_argument(
        "--assignments-per-course",
        type=int,
        default=2,
        help="assignments of every course (0 to 99; 0 syncs courses alone)",
    )
    parser.add_argument(
        "--memory-records",
        type=int,
        default=None,
        help="N of the memory comparison of N and 4N courses",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10,000 courses, memory of 10,000 against 40,000",
    )
    parser.add_argument(DATABASE_FLAG, default=None, help="default: a SQLite file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile one more first sync and unchanged resync",
    )
    parser.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fake-url", help=argparse.SUPPRESS)
    parser.add_argument("--account", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    default = 10_000 if args.quick else 50_000
    args.records = args.records or default
    args.memory_records = args.memory_records or default
    if args.records < 1 or args.memory_records < 1:
        raise SystemExit("--records and --memory-records must be at least 1")
    if not 0 <= args.assignments_per_course < 100:
        raise SystemExit("--assignments-per-course must be 0 to 99")

    if args.memory_child:
        workload = Workload(args.records, args.assignments_per_course)
        return memory_child(args.fake_url, args.account, workload)
    return run(args)


def cleanup() -> None:
    """Close the database, drop a scratch PostgreSQL one, remove the temp folder."""
    connections.close_all()
    if SCRATCH_DATABASE is not None:
        drop_scratch(DATABASE_URL, SCRATCH_DATABASE)
    shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    code = 1
    try:
        code = main()
    finally:
        cleanup()
    sys.exit(code)
