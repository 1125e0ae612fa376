"""Measure what the portal's HttpClient costs over a bare requests.Session.

Both send the same 2,000 GETs to one local fake service, interleaved in
rounds so that drift in the machine's load hits both alike. The client runs
as in production: retries on, a rate limiter (with a limit too high to
throttle) on the Django cache, a bearer token registered for redaction, the
response cache enabled, metrics recorded. The bare session sends the same
headers and timeouts; its ``trust_env`` is off like the client's, so the
ratio is the client's own overhead and not requests' proxy lookups.

Run: ``.venv/bin/python bench/http_overhead.py [--requests N] [--rounds R]``.
The last line is the JSON summary every benchmark prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
# The limiter and the response cache live in the Django cache. The default
# here is the in-process cache, so the ratio is the client's own cost;
# ``--cache-url redis://127.0.0.1:6379/3`` measures it with production's
# shared store (each request then makes two Redis round trips for its slot).
_CACHE_URL_FLAG = "--cache-url"
os.environ["CACHE_URL"] = (
    sys.argv[sys.argv.index(_CACHE_URL_FLAG) + 1]
    if _CACHE_URL_FLAG in sys.argv[:-1]
    else "locmemcache://http-overhead-bench"
)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402

from integrations.http import metrics  # noqa: E402
from integrations.http.auth import BearerToken  # noqa: E402
from integrations.http.client import USER_AGENT, HttpClient, HttpPolicy  # noqa: E402
from integrations.http.ratelimit import RateLimit  # noqa: E402
from tests.fakes.server import FakeServer, Reply  # noqa: E402

TARGET = 1.3
TOKEN = "bench-token-4f3e2d1c0b9a8877"
PATH = "/api/v1/courses"
BODY = [
    {"id": number, "name": f"Course {number}", "workflow_state": "available"}
    for number in range(20)
]


def run_client(client: HttpClient, count: int) -> tuple[float, float]:
    """Return the wall and CPU seconds of ``count`` GETs through the portal's client."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    for _ in range(count):
        response = client.request("GET", PATH, params={"per_page": 20})
        if response.status != 200:
            raise SystemExit(f"client got HTTP {response.status}")
    return time.perf_counter() - started, time.thread_time() - cpu_started


def run_bare(session: requests.Session, url: str, count: int) -> tuple[float, float]:
    """Return the wall and CPU seconds of ``count`` GETs through a bare session."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    for _ in range(count):
        response = session.get(url, params={"per_page": 20}, timeout=(5.0, 10.0))
        if response.status_code != 200:
            raise SystemExit(f"bare session got HTTP {response.status_code}")
        response.content  # noqa: B018 - read the body, as the client does
    return time.perf_counter() - started, time.thread_time() - cpu_started


def main() -> int:
    """Run the benchmark and print the timings and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="GETs per side")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument(
        _CACHE_URL_FLAG,
        default=os.environ["CACHE_URL"],
        help="cache for the rate limiter and response cache (default: in-process)",
    )
    args = parser.parse_args()
    per_round = max(1, args.requests // args.rounds)

    with FakeServer() as server:
        server.reply("GET", PATH, Reply.json(BODY))
        client = HttpClient(
            integration="bench-http-overhead",
            base_url=server.url,
            policy=HttpPolicy(
                connect_timeout=5.0, read_timeout=10.0, retry_budget=30.0, max_retries=3
            ),
            auth=BearerToken(TOKEN),
            rate_limit=RateLimit(requests=10_000_000, window=60),
            default_headers={"Accept": "application/json"},
        )
        session = requests.Session()
        session.trust_env = False
        session.headers.update(
            {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Authorization": f"Bearer {TOKEN}",
            }
        )
        url = server.url_for(PATH)

        # Warm up both: open the pooled connections, fill import caches.
        run_client(client, 20)
        run_bare(session, url, 20)

        client_total = bare_total = client_cpu = bare_cpu = 0.0
        for round_number in range(args.rounds):
            # Alternate who goes first, so neither always runs on a warmer machine.
            if round_number % 2 == 0:
                client_seconds, client_round_cpu = run_client(client, per_round)
                bare_seconds, bare_round_cpu = run_bare(session, url, per_round)
            else:
                bare_seconds, bare_round_cpu = run_bare(session, url, per_round)
                client_seconds, client_round_cpu = run_client(client, per_round)
            client_total += client_seconds
            bare_total += bare_seconds
            client_cpu += client_round_cpu
            bare_cpu += bare_round_cpu
            print(
                f"round {round_number + 1}: client {client_seconds:.3f} s, "
                f"bare session {bare_seconds:.3f} s ({per_round} GETs each)"
            )

        client.close()
        session.close()

    sent = per_round * args.rounds
    ratio = round(client_total / bare_total, 3)
    recorded = metrics.snapshot("bench-http-overhead")["count"]
    for label, total in (("portal client", client_total), ("bare session", bare_total)):
        each = total / sent * 1e6
        print(f"{label + ':':15}{total:.3f} s for {sent} GETs ({each:.0f} us each)")
    # The calling thread's CPU time leaves out the fake server and other
    # processes, so it shows the client's own cost when the machine is busy.
    print(
        f"calling-thread CPU: client {client_cpu:.3f} s, bare session {bare_cpu:.3f} s"
    )
    print(f"calls recorded in metrics: {recorded}")
    print(f"ratio client/bare: {ratio} (target <= {TARGET})")
    summary = {
        "benchmark": "http_overhead",
        "ratios": {"client_vs_bare_session": ratio},
        "targets": {"client_vs_bare_session": TARGET},
        "met": ratio <= TARGET,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
