"""Two real Celery worker processes race for the same syncs; each runs once.

Both workers consume the Redis broker and write to the PostgreSQL test
database. Every run is sent twice (a redelivered message), and each
integration has two streams queued at once, so both workers try to sync the
same integration at the same moment. The integration's lease lets exactly one
of them fetch: the JSON API fake sees exactly one pass per stream, every run
succeeds after one attempt, and no two runs of one integration overlap.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.db import connection

from integrations.models import Credential, Integration, SyncRun
from integrations.sync.runs import enqueue_sync
from integrations.tasks import run_sync
from portal.celery import app as celery_app
from tests.fakes.json_api import JsonApiFake
from tests.processes import VENV_BIN, Started, start, stop_all, wait_until
from tests.providers.rest.helpers import TOKEN, school_endpoints

pytestmark = pytest.mark.services

INTEGRATIONS = 3
COURSES = 24
ASSIGNMENTS = 36
PAGE_SIZE = 3
ENDPOINTS = [e for e in school_endpoints() if e["stream"] in ("courses", "assignments")]


def school() -> dict[str, list[dict]]:
    """Return enough items for several pages per stream."""
    return {
        "courses": [
            {"id": 100 + n, "name": f"Course {n}", "status": "published"}
            for n in range(COURSES)
        ],
        "assignments": [
            {"id": 500 + n, "course_id": 100 + n % COURSES, "name": f"Task {n}"}
            for n in range(ASSIGNMENTS)
        ],
    }


def created_database_url() -> str:
    """Return a URL of the database pytest-django created (``test_<name>``)."""
    config = connection.settings_dict
    password = f":{quote(config['PASSWORD'], safe='')}" if config["PASSWORD"] else ""
    host = config["HOST"] or "127.0.0.1"
    port = config["PORT"] or 5432
    return f"postgres://{quote(config['USER'], safe='')}{password}@{host}:{port}/{config['NAME']}"


@pytest.fixture
def workers(tmp_path, redis_broker_url, transactional_db) -> Iterator[list[Started]]:
    """Start two worker processes on the test database; stop them afterwards.

    ``transactional_db`` comes first, so the database the workers are given
    is the one pytest-django created and the test's rows are committed.
    """
    env = {**os.environ}
    env.update(
        {
            "DATABASE_URL": created_database_url(),
            "CELERY_BROKER_URL": redis_broker_url,
            "PORTAL_VAR_DIR": str(tmp_path / "var"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    celery_app.control.purge()
    started = [
        start(
            f"worker-{number}",
            [
                str(VENV_BIN / "celery"),
                "--app",
                "portal",
                "worker",
                "--concurrency",
                "1",
                "--hostname",
                f"race-{number}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            tmp_path,
        )
        for number in (1, 2)
    ]
    yield started
    stop_all(started)


def make_integration(fake: JsonApiFake, number: int) -> Integration:
    integration = Integration.objects.create(
        name=f"race-{number}",
        provider="rest",
        base_url=fake.base_url,
        settings={
            "endpoints": ENDPOINTS,
            "page_size": PAGE_SIZE,
            "size_param": "per_page",
        },
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(TOKEN)
    credential.save()
    return integration


def both_ready(workers: list[Started]) -> bool:
    """Return whether both workers have logged that they are ready.

    Raises when one of them has already exited, so the test fails at once
    with that worker's output instead of waiting out the bound.
    """
    for each in workers:
        if each.process.poll() is not None:
            raise AssertionError(each.log.read_text(errors="replace"))
    return all(" ready." in each.log.read_text(errors="replace") for each in workers)


@pytest.mark.django_db(transaction=True)
def test_two_workers_sync_each_integration_once(postgres_url, workers):
    assert wait_until(lambda: both_ready(workers), attempts=240), [
        each.log.read_text() for each in workers
    ]

    with JsonApiFake(collections=school(), token=TOKEN) as fake:
        runs: list[SyncRun] = []
        for number in range(INTEGRATIONS):
            queued = enqueue_sync(make_integration(fake, number), trigger="manual")
            # The same runs once more: a message delivered twice.
            for run in queued:
                run_sync.delay(run.pk)
            runs.extend(queued)

        for _ in range(480):
            if not SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).exists():
                break
            time.sleep(0.25)

        course_requests = fake.request_count(fake.path("courses"))
        assignment_requests = fake.request_count(fake.path("assignments"))

    logs = {each.name: each.log.read_text(errors="replace") for each in workers}
    finished = list(SyncRun.objects.order_by("id"))
    assert [run.status for run in finished] == ["succeeded"] * len(runs), logs
    assert [run.attempts for run in finished] == [1] * len(runs)
    assert len(finished) == INTEGRATIONS * 2

    # One pass per stream and integration: nothing was fetched twice.
    assert course_requests == INTEGRATIONS * math.ceil(COURSES / PAGE_SIZE)
    assert assignment_requests == INTEGRATIONS * math.ceil(ASSIGNMENTS / PAGE_SIZE)

    for number in range(INTEGRATIONS):
        spans = sorted(
            (run.started_at, run.finished_at)
            for run in finished
            if run.integration.name == f"race-{number}"
        )
        assert spans[0][1] <= spans[1][0], f"runs of race-{number} overlapped: {spans}"

    # Both workers took messages, so the race was real.
    for name, output in logs.items():
        assert "integrations.run_sync" in output, f"{name} received no sync:\n{output}"
