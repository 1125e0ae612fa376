"""Measure the portal's Canvas courses sync against a naive loop and the limit.

A fake Canvas (tests/fakes/canvas.py, in a process of its own: a real Canvas
is another machine) serves N courses of one account, 100 a page with Link
pagination, each the full Course JSON with its term. Measured in one run on
the same database, 1, 3 and 4 each starting from an empty courses table:

1. the portal: ``run_sync_now(integration, streams=["courses"])``, records/s;
2. an unchanged resync of the same rows through the portal, compared with 1
   (on PostgreSQL after an ANALYZE, as autovacuum runs between two syncs);
3. a naive loop: the same HTTP (the provider's courses stream on the same
   HttpClient) and then one ``Course(...).save()`` per record, autocommit;
4. the limit: the same normalized records, already fetched and parsed, built
   into Course objects and bulk-inserted in one ``bulk_create``.

Memory: the portal's sync of N and of 4N courses, each in a child process of
its own that reports its peak resident set (``VmHWM`` on Linux).

SQLite (a temporary file, WAL) is the default; ``--database-url
postgres://postgres@127.0.0.1:5432/<name>`` creates the database <name>,
runs there and drops it (it refuses a database that already exists).

Run: ``.venv/bin/python bench/sync_throughput.py [--records N] [--quick]
[--database-url URL] [--profile]``. The last line is the JSON summary every
benchmark prints.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._sync_support import TOKEN  # noqa: E402

CHILD_FLAG = "--memory-child"
DATABASE_FLAG = "--database-url"
IS_CHILD = CHILD_FLAG in sys.argv
WORKDIR = tempfile.mkdtemp(prefix="sync-throughput-")


def _flag_value(name: str) -> str | None:
    if name in sys.argv[:-1]:
        return sys.argv[sys.argv.index(name) + 1]
    return None


def _scratch_database(url: str) -> tuple[str, str | None]:
    """Return the URL to run on and the PostgreSQL database to drop at the end."""
    if not url.startswith(("postgres://", "postgresql://")) or IS_CHILD:
        return url, None
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "portal_bench_sync"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if exists:
            raise SystemExit(
                f"database {name!r} already exists; name a scratch database that "
                "does not, the benchmark creates and drops it"
            )
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), name


DATABASE_URL, SCRATCH_DATABASE = _scratch_database(
    _flag_value(DATABASE_FLAG) or f"sqlite:///{WORKDIR}/bench.sqlite3"
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
from portal.learning.models import Course  # noqa: E402

TARGETS = {
    "portal_vs_naive": 10.0,
    "portal_vs_limit": 0.5,
    "first_vs_unchanged_resync": 3.0,
    "memory_4n_vs_n": 1.2,
}
MAIN_ACCOUNT = 2
MEMORY_ACCOUNTS = (3, 4)
COURSE_FIELDS = ("title", "code", "state", "starts_at", "ends_at", "url")


def make_integration(base_url: str, name: str, account_id: int) -> Integration:
    """Create a Canvas integration reading ``account_id``, 100 courses a page."""
    integration = Integration.objects.create(
        name=name,
        provider="canvas",
        base_url=base_url,
        settings={"account_id": account_id, "per_page": 100},
    )
    credential = Credential(integration=integration, key="access_token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


def empty_courses() -> None:
    """Remove every course row, so the next measurement starts on an empty table."""
    table = connection.ops.quote_name(Course._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} CASCADE")
        else:
            # The table name is the model's own, quoted: no outside input.
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def analyze_courses() -> None:
    """Refresh PostgreSQL's statistics of the courses table, as autovacuum would.

    Between two scheduled syncs autovacuum has analyzed a table that grew by
    thousands of rows; right after the first sync it has not yet, and the
    planner would still believe the table empty.
    """
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Course._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


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


def portal_sync(integration: Integration, expected: int, what: str) -> Timing:
    """Sync the courses stream through the portal; return how long it took."""
    started = stopwatch()
    (run,) = run_sync_now(integration, streams=["courses"])
    timing = Timing.since(started)
    if run.status != SyncStatus.SUCCEEDED:
        raise SystemExit(f"{what}: the run ended {run.status}: {run.error_summary}")
    stored = run.created + run.updated + run.unchanged
    if stored != expected or run.failed:
        raise SystemExit(
            f"{what}: stored {stored} of {expected} courses, {run.failed} failed"
        )
    return timing


def fetch_records(integration: Integration):
    """Yield the normalized course records of every page, fetched as the portal does."""
    provider = get_provider("canvas")
    context = StreamContext(
        integration,
        client=provider.build_client(integration),
        settings=dict(integration.settings),
    )
    for page in provider.stream(integration, "courses").pages(context, None):
        yield from page.records


def course_of(integration: Integration, record: dict[str, Any]) -> Course:
    """Return an unsaved Course holding a normalized course record."""
    return Course(
        integration=integration,
        external_id=record["external_id"],
        remote_created_at=record["remote_created_at"],
        content_hash="",
        **{name: record[name] for name in COURSE_FIELDS},
    )


def naive_sync(integration: Integration) -> tuple[Timing, list[dict[str, Any]]]:
    """Fetch every page and save() each course; return the timing and the records."""
    records = []
    started = stopwatch()
    for record in fetch_records(integration):
        course_of(integration, record).save()
        records.append(record)
    return Timing.since(started), records


def bulk_limit(integration: Integration, records: list[dict[str, Any]]) -> Timing:
    """Insert parsed records with one bulk_create; return how long it took."""
    started = stopwatch()
    Course.objects.bulk_create(
        [course_of(integration, record) for record in records], batch_size=1000
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


def memory_child(base_url: str, account_id: int, expected: int) -> int:
    """Sync ``expected`` courses in this process and print its peak memory as JSON."""
    integration = make_integration(base_url, f"canvas-memory-{account_id}", account_id)
    baseline = peak_rss_kb()
    seconds = portal_sync(integration, expected, f"memory run of {expected}").wall
    peak = peak_rss_kb()
    print(
        json.dumps(
            {
                "records": expected,
                "seconds": seconds,
                "baseline_kb": baseline,
                "peak_kb": peak,
            }
        )
    )
    return 0


def measure_memory(base_url: str, account_id: int, expected: int) -> dict[str, Any]:
    """Run the portal's sync of ``expected`` courses in a child; return its report."""
    empty_courses()
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
        str(expected),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the memory run of {expected} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_fake(accounts: list[tuple[int, int]]) -> tuple[subprocess.Popen, str]:
    """Start the fake Canvas process serving ``(account, courses)``; return it and its URL."""
    command = [sys.executable, str(ROOT / "bench" / "_sync_support.py")]
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


def run(args: argparse.Namespace) -> int:
    """Run every measurement and print the figures and the JSON summary."""
    count = args.records
    memory_counts = (args.memory_records, 4 * args.memory_records)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    fake, base_url = start_fake(
        [(MAIN_ACCOUNT, count), *zip(MEMORY_ACCOUNTS, memory_counts, strict=True)]
    )
    print(f"database: {connection.vendor}; fake Canvas at {base_url}")
    print(
        f"fake Canvas built {count + sum(memory_counts)} courses in "
        f"{time.perf_counter() - started:.1f} s"
    )
    try:
        integration = make_integration(base_url, "canvas-bench", MAIN_ACCOUNT)

        first = portal_sync(integration, count, "first sync")
        print(first.line("portal sync", count))
        analyze_courses()
        resync = portal_sync(integration, count, "unchanged resync")
        print(resync.line("unchanged resync", count))

        empty_courses()
        naive, records = naive_sync(integration)
        if len(records) != count:
            raise SystemExit(f"the naive loop read {len(records)} of {count} courses")
        print(naive.line("naive loop", count))

        empty_courses()
        limit = bulk_limit(integration, records)
        print(limit.line("limit (bulk)", count))
        del records

        if args.profile:
            empty_courses()
            for what in ("profiled first sync", "profiled unchanged resync"):
                profile = cProfile.Profile()
                profile.enable()
                portal_sync(integration, count, what)
                profile.disable()
                print(f"--- {what}")
                print_profile(profile)

        memory = [
            measure_memory(base_url, account_id, expected)
            for account_id, expected in zip(MEMORY_ACCOUNTS, memory_counts, strict=True)
        ]
    finally:
        stop_fake(fake)
    for report in memory:
        print(
            f"memory, sync of {report['records']:>7} courses: peak "
            f"{report['peak_kb'] / 1024:6.1f} MiB (before the sync "
            f"{report['baseline_kb'] / 1024:.1f} MiB), {report['seconds']:.2f} s"
        )

    ratios = {
        "portal_vs_naive": round(naive.wall / first.wall, 3),
        "portal_vs_limit": round(limit.wall / first.wall, 3),
        "first_vs_unchanged_resync": round(first.wall / resync.wall, 3),
        "memory_4n_vs_n": round(memory[1]["peak_kb"] / memory[0]["peak_kb"], 3),
    }
    met = {
        "portal_vs_naive": ratios["portal_vs_naive"] >= TARGETS["portal_vs_naive"],
        "portal_vs_limit": ratios["portal_vs_limit"] >= TARGETS["portal_vs_limit"],
        "first_vs_unchanged_resync": ratios["first_vs_unchanged_resync"]
        >= TARGETS["first_vs_unchanged_resync"],
        "memory_4n_vs_n": ratios["memory_4n_vs_n"] <= TARGETS["memory_4n_vs_n"],
    }
    for name, value in ratios.items():
        bound = "<=" if name == "memory_4n_vs_n" else ">="
        verdict = "met" if met[name] else "MISSED"
        print(f"{name}: {value} (target {bound} {TARGETS[name]}: {verdict})")
    summary = {
        "benchmark": "sync_throughput",
        "database": connection.vendor,
        "records": count,
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

    if args.memory_child:
        return memory_child(args.fake_url, args.account, args.records)
    return run(args)


def cleanup() -> None:
    """Close the database, drop a scratch PostgreSQL one, remove the temp folder."""
    connections.close_all()
    if SCRATCH_DATABASE is not None:
        import psycopg

        admin = urlunsplit(urlsplit(DATABASE_URL)._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as admin_connection:
            admin_connection.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}"')
    shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    code = 1
    try:
        code = main()
    finally:
        cleanup()
    sys.exit(code)
