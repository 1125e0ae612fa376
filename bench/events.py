"""Measure the event pipeline: progress events through the outbox to three sinks.

Setup: a temporary SQLite file (or a scratch PostgreSQL database with
``--database-url``); three sinks on loopback fakes, GA4
(``tests/fakes/ga4.py``), Mixpanel (``tests/fakes/mixpanel.py``) and a Slack
incoming webhook (``tests/fakes/slack.py``), created with their routing rules
by ``integrations apply`` from one file, each with a local rate limit too
high to throttle.

1. **Outbox cost**: the progress API's write (``ProgressViewSet.
   partial_update``: one Progress row's percent saved with
   ``save(update_fields=...)`` in its own transaction) with and without
   its ``progress.updated`` event, in interleaved rounds; the ratio
   compares the medians of per-write times. The outbox's listeners
   (achievements) run in the dispatcher, not in the write, so they are
   part of the end-to-end figures below.
2. **End to end**: N ``progress.updated`` events (100,000; 10,000 with
   ``--quick``), each emitted by that write in its own committed
   transaction, then dispatched and delivered by the pipeline's own
   functions (``sweep``, ``deliver_due``), as the beat task and the workers
   run them but in this one process, until every delivery is delivered.
   Learners report in sessions of ``--session`` consecutive updates (25 by
   default): GA4 takes one learner per request, so interleaved learners
   cost it more requests.

Reported: events per second end to end (first emit to last delivery), with
the time emitting, dispatching (``sweep``) and delivering (``deliver_due``),
and the part of it the fakes spent answering; the HTTP requests each sink
received per event, and the events per request against each sink's
``max_batch`` (GA4 25, Mixpanel 50, Slack 10).

Run: ``.venv/bin/python bench/events.py [--events N] [--quick]
[--database-url postgres://postgres@127.0.0.1:5432/<new name>]``.
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
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._database import (  # noqa: E402
    DATABASE_FLAG,
    create_scratch,
    drop_scratch,
    flag_value,
    is_postgres,
)

WORKDIR = tempfile.mkdtemp(prefix="events-bench-")
DATABASE_URL = flag_value(DATABASE_FLAG) or f"sqlite:///{WORKDIR}/bench.sqlite3"
SCRATCH_DATABASE = None
if is_postgres(DATABASE_URL):
    DATABASE_URL, SCRATCH_DATABASE = create_scratch(DATABASE_URL, "portal_bench_events")
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
os.environ["PORTAL_VAR_DIR"] = WORKDIR
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["CACHE_URL"] = "locmemcache://events-bench"
# DEBUG off: with it on, Django keeps every SQL statement in memory.
os.environ["DEBUG"] = "false"
os.environ["LOG_LEVEL"] = "WARNING"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from integrations.declarative import apply_document, parse_document  # noqa: E402
from integrations.http.factory import forget_clients  # noqa: E402
from integrations.models import Integration  # noqa: E402
from integrations.registry import get_provider  # noqa: E402
from portal.events.delivery import deliver_due, sweep  # noqa: E402
from portal.events.domain import (  # noqa: E402
    course_completed,
    is_complete,
    progress_updated,
)
from portal.events.models import Delivery, DeliveryStatus, Event  # noqa: E402
from portal.learning.models import Course, Progress  # noqa: E402
from tests.fakes import ga4, mixpanel  # noqa: E402
from tests.fakes.ga4 import Ga4Fake  # noqa: E402
from tests.fakes.mixpanel import MixpanelFake  # noqa: E402
from tests.fakes.server import FakeServer  # noqa: E402
from tests.fakes.slack import SlackFake  # noqa: E402

TARGETS = {"outbox_write_vs_plain_write": 1.5}
#: The sinks, each routed every progress event.
SINKS = ("bench-ga4", "bench-mixpanel", "bench-slack")
DOCUMENT = """\
integrations:
  - name: bench-ga4
    provider: ga4
    credentials: {api_secret: "${GA4_SECRET}"}
    settings: {measurement_id: G-BENCH12345, endpoint: "%(ga4)s"}
    rate_limit: {requests: 1000000, window: 1}
  - name: bench-mixpanel
    provider: mixpanel
    credentials:
      project_token: ${MIXPANEL_TOKEN}
      api_secret: ${MIXPANEL_SECRET}
    settings: {api_host: "%(mixpanel)s"}
    rate_limit: {requests: 1000000, window: 1}
  - name: bench-slack
    provider: slack_webhook
    credentials: {webhook_url: "${SLACK_URL}"}
    rate_limit: {requests: 1000000, window: 1}
routes:
  - {name: progress-to-ga4, sink: bench-ga4, events: [progress.updated]}
  - {name: progress-to-mixpanel, sink: bench-mixpanel, events: [progress.updated]}
  - name: progress-to-slack
    sink: bench-slack
    events: [progress.updated]
    template: "Learner {{ learner_id }} is at {{ percent }} %% in course {{ course_id }}"
"""


def setup_sinks(
    ga4_fake: Ga4Fake, mixpanel_fake: MixpanelFake, slack_fake: SlackFake
) -> None:
    """Create the three sinks and their routes from one declarative file."""
    text = DOCUMENT % {"ga4": ga4_fake.url, "mixpanel": mixpanel_fake.url}
    environ = {
        "GA4_SECRET": ga4.API_SECRET,
        "MIXPANEL_TOKEN": mixpanel.PROJECT_TOKEN,
        "MIXPANEL_SECRET": mixpanel.API_SECRET,
        "SLACK_URL": slack_fake.webhook_url,
    }
    apply_document(parse_document(text, source="bench"), environ=environ)


def populate(learners: int) -> list[Progress]:
    """Create one course and one progress row per learner."""
    integration = Integration.objects.create(name="bench-lms", provider="rest")
    course = Course.objects.create(
        integration=integration, external_id="c1", title="Course", content_hash="h"
    )
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"learner-{number}") for number in range(learners)
    )
    return Progress.objects.bulk_create(
        Progress(
            integration=integration,
            course=course,
            learner=user,
            external_id=f"p-{user.pk}",
            content_hash="h",
        )
        for user in users
    )


def write(progress: Progress, percent: int, with_event: bool) -> None:
    """Save a progress change as the progress API does, with its events or not.

    The statements of ``ProgressViewSet.partial_update`` in its transaction:
    the row saved with its changed field, then its events (the LMS
    write-back is a delivery of ``progress.updated``, made by the
    dispatcher).
    """
    was_complete = is_complete(progress.percent, progress.completed_at)
    with transaction.atomic():
        progress.percent = Decimal(percent)
        progress.save(update_fields=["percent", "updated_at"])
        if with_event:
            name = progress.integration.name
            progress_updated(progress, name, ["percent"], "api")
            if not was_complete and is_complete(
                progress.percent, progress.completed_at
            ):
                course_completed(progress, name, "api")


def measure_outbox(rows: list[Progress], writes: int, rounds: int) -> dict:
    """Return the median seconds of the write alone and with its events."""
    times: dict[str, list[float]] = {"plain": [], "event": []}
    per_round = max(1, writes // rounds)
    for round_number in range(rounds):
        arms = list(times)
        # Each arm goes first and last in turn.
        shift = round_number % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            for number in range(per_round):
                progress = rows[number % len(rows)]
                started = time.perf_counter()
                write(progress, number % 100, arm == "event")
                times[arm].append(time.perf_counter() - started)
    Event.objects.all().delete()
    return {arm: statistics.median(values) for arm, values in times.items()}


def emit_events(rows: list[Progress], count: int, session: int) -> None:
    """Emit ``count`` progress events, learners reporting ``session`` in a row."""
    for number in range(count):
        progress = rows[(number // session) % len(rows)]
        write(progress, number % session * 4 % 100, with_event=True)


def deliver_all(sinks: list[Integration]) -> dict[str, float]:
    """Dispatch and deliver until nothing is undispatched or due; return times."""
    spent = {"dispatching": 0.0, "delivering": 0.0}
    while True:
        started = time.perf_counter()
        sweep()
        swept = time.perf_counter()
        delivered = sum(deliver_due(sink, "bench-worker") for sink in sinks)
        spent["dispatching"] += swept - started
        spent["delivering"] += time.perf_counter() - swept
        if delivered:
            continue
        if not Event.objects.filter(dispatched_at__isnull=True).exists():
            return spent


def time_answers(fakes: list[FakeServer]) -> dict[str, float]:
    """Count the seconds the fakes spend answering (the portal waits on them)."""
    spent = {"seconds": 0.0}
    lock = threading.Lock()
    for fake in fakes:
        dispatch = fake._dispatch

        def timed(http: object, dispatch=dispatch) -> None:
            started = time.perf_counter()
            try:
                dispatch(http)
            finally:
                with lock:
                    spent["seconds"] += time.perf_counter() - started

        fake._dispatch = timed  # type: ignore[method-assign]
    return spent


def main() -> int:
    """Run the benchmark and print the figures and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, help="events end to end")
    parser.add_argument("--quick", action="store_true", help="10,000 events")
    parser.add_argument("--session", type=int, default=25, help="updates a learner")
    parser.add_argument("--writes", type=int, default=4000, help="outbox writes a side")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument(
        DATABASE_FLAG,
        help="a PostgreSQL database to create, run on and drop (default SQLite)",
    )
    args = parser.parse_args()
    count = args.events or (10_000 if args.quick else 100_000)
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    forget_clients()

    call_command("migrate", verbosity=0)
    rows = populate(max(1, count // args.session))
    with (
        Ga4Fake() as ga4_fake,
        MixpanelFake() as mixpanel_fake,
        SlackFake() as slack_fake,
    ):
        setup_sinks(ga4_fake, mixpanel_fake, slack_fake)
        sinks = list(Integration.objects.filter(name__in=SINKS).order_by("name"))

        medians = measure_outbox(rows, args.writes, args.rounds)
        plain, with_events = medians["plain"], medians["event"]
        answering = time_answers([ga4_fake, mixpanel_fake, slack_fake])
        started = time.perf_counter()
        emit_events(rows, count, args.session)
        emitted = time.perf_counter() - started
        spent = deliver_all(sinks)
        total = time.perf_counter() - started

        requests = {
            "bench-ga4": ga4_fake.count("/mp/collect"),
            "bench-mixpanel": mixpanel_fake.count(),
            "bench-slack": slack_fake.count(),
        }
        received = {
            "bench-ga4": len(ga4_fake.events()),
            "bench-mixpanel": len(mixpanel_fake.tracked),
            "bench-slack": len(slack_fake.delivered_keys()),
        }

    delivered = Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count()
    if delivered != count * len(sinks):
        raise SystemExit(f"{delivered} of {count * len(sinks)} deliveries arrived")
    ratio = round(with_events / plain, 3)
    print(
        f"outbox cost: write {plain * 1e6:.0f} us, with its events "
        f"{with_events * 1e6:.0f} us"
    )
    print(
        f"end to end ({connection.vendor}): {count} events in {total:.1f} s "
        f"({count / total:.0f} events/s; emitting {emitted:.1f} s, dispatching "
        f"{spent['dispatching']:.1f} s, delivering {spent['delivering']:.1f} s, "
        f"of which the fakes answering {answering['seconds']:.1f} s)"
    )
    for sink in sinks:
        max_batch = get_provider(sink.provider).max_batch
        per_event = requests[sink.name] / count
        print(
            f"{sink.name}: {received[sink.name]} events in {requests[sink.name]} "
            f"requests ({per_event:.3f} an event, max_batch {max_batch})"
        )
    target = TARGETS["outbox_write_vs_plain_write"]
    print(f"ratio outbox/plain write: {ratio} (target < {target})")
    summary = {
        "benchmark": "events",
        "ratios": {
            "outbox_write_vs_plain_write": ratio,
            **{
                f"requests_per_event_{name.removeprefix('bench-')}": round(
                    requests[name] / count, 4
                )
                for name in SINKS
            },
        },
        "targets": TARGETS,
        "met": ratio < target,
    }
    print(f"events per second end to end: {count / total:.0f}")
    print(json.dumps(summary))
    return 0


def cleanup() -> None:
    """Close the database, drop a scratch PostgreSQL one, remove the temp folder."""
    connections.close_all()
    if SCRATCH_DATABASE is not None:
        drop_scratch(DATABASE_URL, SCRATCH_DATABASE)
    shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
