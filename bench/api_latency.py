"""Measure the courses list of the REST API against a bare Django view.

Setup: 50,000 courses (bulk_create) in a temporary SQLite file, one staff
user signed in with a session. Both sides go through the whole Django stack
with ``django.test.Client``: every middleware, the session and the user
lookup, URL resolution and the JSON body. They return the same 100 rows in
the same order (by id) with the same fields:

- the API: ``GET /api/v1/courses/?page_size=100``, through DRF's
  authentication, permissions, throttles (on, with rates too high to
  trigger), django-filter, keyset pagination and the serializer; page 400 is
  reached by following ``next`` links from page 1 (walked once, then the
  same page-400 URL is timed);
- the bare view: ``Course.objects.values(...)`` with the integration name
  joined, sliced with OFFSET, returned by ``JsonResponse``; page 400 is
  ``OFFSET 39900``, which is what a hand-written view would do.

Rounds interleave the four measurements so drift in the machine's load hits
them alike; each ratio compares medians of per-request times.

Run: ``.venv/bin/python bench/api_latency.py [--courses N] [--rounds R]``.
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
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = tempfile.mkdtemp(prefix="api-latency-")
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
os.environ["PORTAL_VAR_DIR"] = WORKDIR
os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR}/bench.sqlite3"
os.environ["CACHE_URL"] = "locmemcache://api-latency-bench"
# DEBUG off: with it on, Django keeps every SQL statement in memory.
os.environ["DEBUG"] = "false"
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ["LOG_LEVEL"] = "WARNING"
for scope in ("ANON", "USER", "TOKEN", "WRITE"):
    os.environ[f"API_THROTTLE_{scope}"] = "1000000/minute"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402

from integrations.models import Integration  # noqa: E402
from portal.learning.models import Course, CourseState  # noqa: E402

TARGETS = {
    "api_vs_bare_page1": 2.0,
    "api_vs_bare_page400": 2.0,
    "api_page400_vs_page1": 1.2,
}
PAGE_SIZE = 100
PAGE = 400
FIELDS = (
    "id",
    "integration__name",
    "external_id",
    "updated_at",
    "deleted_at",
    "title",
    "code",
    "state",
    "starts_at",
    "ends_at",
    "url",
)


def bare_courses(request: HttpRequest) -> JsonResponse:
    """Return one page of courses the plain Django way: values() and OFFSET."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "sign in"}, status=401)
    page = int(request.GET.get("page", "1"))
    offset = (page - 1) * PAGE_SIZE
    rows = (
        Course.objects.filter(deleted_at__isnull=True)
        .order_by("id")
        .values(*FIELDS)[offset : offset + PAGE_SIZE]
    )
    return JsonResponse({"results": list(rows)})


def install_urls() -> None:
    """Serve the portal's URLs plus the bare view at /bare/courses/."""
    module = types.ModuleType("api_latency_urls")
    module.urlpatterns = [
        path("bare/courses/", bare_courses),
        path("", include("portal.urls")),
    ]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__


def populate(count: int) -> None:
    """Create the database and ``count`` courses of one integration."""
    call_command("migrate", verbosity=0)
    integration = Integration.objects.create(name="canvas-bench", provider="rest")
    now = timezone.now()
    batch = []
    for number in range(count):
        batch.append(
            Course(
                integration=integration,
                external_id=str(100000 + number),
                title=f"Course {number}",
                code=f"C-{number}",
                state=CourseState.ACTIVE,
                starts_at=now,
                url=f"https://lms.example.edu/courses/{100000 + number}",
                content_hash="0" * 64,
            )
        )
        if len(batch) == 5000:
            Course.objects.bulk_create(batch)
            batch = []
    Course.objects.bulk_create(batch)
    get_user_model().objects.create_user(
        "bench", "bench@example.edu", "bench-password-1", is_staff=True
    )


def timed_get(client: Client, url: str) -> tuple[float, dict]:
    """Return the seconds one GET took and its parsed body."""
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered HTTP {response.status_code}")
    return elapsed, response.json()


def page_url(client: Client, page: int) -> str:
    """Follow next links from the first page to page ``page``; return its URL."""
    url = f"/api/v1/courses/?page_size={PAGE_SIZE}"
    for _ in range(page - 1):
        _, body = timed_get(client, url)
        url = body["next"]
        if url is None:
            raise SystemExit(f"the list ended before page {page}")
    return url


def main() -> int:
    """Run the benchmark and print the timings and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20, help="GETs per round")
    args = parser.parse_args()
    if args.courses < PAGE * PAGE_SIZE:
        raise SystemExit(f"--courses must be at least {PAGE * PAGE_SIZE}")

    started = time.perf_counter()
    populate(args.courses)
    install_urls()
    print(f"created {args.courses} courses in {time.perf_counter() - started:.1f} s")
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))

    started = time.perf_counter()
    api_page400 = page_url(client, PAGE)
    print(f"walked {PAGE - 1} next links in {time.perf_counter() - started:.1f} s")
    urls = {
        "api_page1": f"/api/v1/courses/?page_size={PAGE_SIZE}",
        "api_page400": api_page400,
        "bare_page1": "/bare/courses/?page=1",
        "bare_page400": f"/bare/courses/?page={PAGE}",
    }

    # Both sides must answer with the same rows, or the comparison is void.
    for page in ("page1", "page400"):
        _, api = timed_get(client, urls[f"api_{page}"])
        _, bare = timed_get(client, urls[f"bare_{page}"])
        api_ids = [row["id"] for row in api["results"]]
        bare_ids = [row["id"] for row in bare["results"]]
        if api_ids != bare_ids or len(api_ids) != PAGE_SIZE:
            raise SystemExit(f"the API and the bare view disagree on {page}")
        if set(api["results"][0]) - {"integration"} != set(FIELDS) - {
            "integration__name"
        }:
            raise SystemExit("the API and the bare view return different fields")

    samples: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(args.rounds):
        for name, url in urls.items():
            timed_get(client, url)  # warm the path, so the rounds compare alike
            for _ in range(args.requests):
                samples[name].append(timed_get(client, url)[0])

    medians = {name: statistics.median(times) for name, times in samples.items()}
    for name, value in medians.items():
        print(f"{name:>13}: median {value * 1000:7.2f} ms over {len(samples[name])}")
    ratios = {
        "api_vs_bare_page1": round(medians["api_page1"] / medians["bare_page1"], 3),
        "api_vs_bare_page400": round(
            medians["api_page400"] / medians["bare_page400"], 3
        ),
        "api_page400_vs_page1": round(medians["api_page400"] / medians["api_page1"], 3),
    }
    bare_growth = medians["bare_page400"] / medians["bare_page1"]
    print(f"bare view page 400 / page 1 (OFFSET): {bare_growth:.2f}")
    for name, value in ratios.items():
        print(f"{name}: {value} (target <= {TARGETS[name]})")
    met = all(ratios[name] <= TARGETS[name] for name in TARGETS)
    print(
        json.dumps(
            {
                "benchmark": "api_latency",
                "ratios": ratios,
                "targets": TARGETS,
                "met": met,
            }
        )
    )
    return 0


def cleanup() -> None:
    """Close the database and remove the temporary folder."""
    from django.db import connections

    connections.close_all()
    shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    try:
        code = main()
    finally:
        cleanup()
    sys.exit(code)
