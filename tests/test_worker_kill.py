"""A Celery worker killed by SIGKILL mid-sync; the portal's machinery recovers.

Worker A (a real ``celery worker``) syncs every stream of a Canvas
integration, one page per transaction, while the fake Canvas holds a request
in the middle of the pass open; then the worker's whole process group (main
process and the pool child doing the work) dies by SIGKILL. Worker B and beat
start: once the dead run's lease expires, the reaper (sent by beat every
second, or run by worker B when a queued run of the integration comes first)
fails it as ``worker_lost`` and queues a run that resumes from its cursor,
which worker B executes. The stored rows must then be exactly Canvas's.

The database follows DATABASE_URL (SQLite by default, PostgreSQL when it
selects it) and the broker CELERY_BROKER_URL (the embedded filesystem broker
in a temporary PORTAL_VAR_DIR by default, Redis when it selects it).
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.fakes.canvas import CanvasFake
from tests.process_databases import ProcessDatabases
from tests.processes import (
    VENV_BIN,
    group_members,
    manage,
    start,
    stop_all,
    wait_until,
)
from tests.providers.canvas.helpers import TOKEN, expected_rows, run_process

#: Small pages stored one by one, a short lease, and the reaper sent often.
SETTINGS = {
    "CANVAS_TEST_TOKEN": TOKEN,
    "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": "*",
    "INTEGRATIONS_SYNC_BATCH_RECORDS": "1",
    "INTEGRATIONS_SYNC_LEASE_SECONDS": "2",
    "INTEGRATIONS_MAINTENANCE_INTERVAL": "1",
}
#: Seconds the report waits for every run to finish after worker B starts.
SETTLE_SECONDS = 90

# Point the integration at this test's fake, read one course at a time (so
# the requests come in a fixed order) and queue a sync of every stream, as
# the admin's "Sync now" does: rows first, messages after the commit.
ENQUEUE_SCRIPT = """
import os
from integrations.models import Integration
from integrations.sync.runs import enqueue_sync

integration = Integration.objects.get(name="canvas-school")
integration.base_url = os.environ["WORKER_KILL_CANVAS_URL"]
integration.settings = {**integration.settings, "concurrency": 1}
integration.save()
print([run.stream for run in enqueue_sync(integration)])
"""

# Wait until no run is queued or running, then print the stored rows (live
# ones, and every external id to spot duplicates) and the runs as JSON.
REPORT_SCRIPT = """
import json, os, time
from integrations.models import SyncRun
from portal.learning.models import Assignment, Course, Enrollment, Progress

deadline = time.monotonic() + float(os.environ["WORKER_KILL_SETTLE_SECONDS"])
active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES)
while active.exists() and time.monotonic() < deadline:
    time.sleep(0.25)
models = (Course, Assignment, Enrollment, Progress)
print(json.dumps({
    "settled": not active.exists(),
    "rows": {
        model.__name__: sorted(
            model.objects.filter(deleted_at__isnull=True)
            .values_list("external_id", flat=True)
        )
        for model in models
    },
    "stored": {
        model.__name__: list(model.objects.values_list("external_id", flat=True))
        for model in models
    },
    "runs": list(SyncRun.objects.order_by("id").values(
        "id", "stream", "status", "error_code", "trigger", "resumed_from"
    )),
}))
"""


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> Iterator[ProcessDatabases]:
    """Return copies of a database holding the tables and the integration."""
    root = tmp_path_factory.mktemp("worker-kill")
    # Migrating with SETTINGS makes the reaper's periodic task every second.
    with ProcessDatabases.migrated(root, "worker_kill", SETTINGS) as made:
        run_process(made.env(made.template_url), "setup", "http://127.0.0.1:9")
        yield made


def celery(*args: str) -> list[str]:
    return [str(VENV_BIN / "celery"), "--app", "portal", *args]


def worker(name: str) -> list[str]:
    # Mingle and gossip only slow the start; no worker needs the other's state.
    return celery(
        "worker",
        "--concurrency",
        "1",
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
    )


# With one course read at a time the requests are, two items a page: 9-14
# enrollments (10: the second page of course 101's), 15-24 progress (18: the
# second page of course 101's grades, read from its student enrollments).
# Killed at 10, the progress run is still queued behind the dead one, and
# whichever comes first, its message or the reaper's, resumes the dead run;
# killed at 18, nothing is queued and only the reaper task can.
@pytest.mark.parametrize(
    ("kill_at_request", "stream", "only_the_reaper"),
    [(10, "enrollments", False), (18, "progress", True)],
)
def test_worker_killed_mid_page_is_resumed_by_another_worker(
    tmp_path, databases, kill_at_request, stream, only_the_reaper
):
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **databases.env(databases.copy()),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "WORKER_KILL_SETTLE_SECONDS": str(SETTLE_SECONDS),
    }
    fake = CanvasFake.school(token=TOKEN)
    reached, release = fake.hold(kill_at_request)
    started = []

    with fake:
        try:
            worker_a = start("worker-a", worker(f"worker-a-{os.getpid()}"), env, logs)
            started.append(worker_a)
            queued = manage(
                {**env, "WORKER_KILL_CANVAS_URL": fake.base_url},
                "shell",
                "--command",
                ENQUEUE_SCRIPT,
            )
            assert reached.wait(90), (
                f"worker A never reached request {kill_at_request}:\n"
                f"{queued}\n{worker_a.output()[-4000:]}"
            )
            os.killpg(worker_a.process.pid, signal.SIGKILL)
            worker_a.process.wait(30)
            assert wait_until(
                lambda: not group_members({worker_a.process.pid}), attempts=120
            )
            release.set()
            killed = fake.requests[kill_at_request - 1]
            requests_before = fake.count()

            pidfile = str(tmp_path / "beat.pid")
            started.append(
                start("beat", celery("beat", "--pidfile", pidfile), env, logs)
            )
            started.append(
                start("worker-b", worker(f"worker-b-{os.getpid()}"), env, logs)
            )
            report = json.loads(
                manage(env, "shell", "--command", REPORT_SCRIPT)
                .strip()
                .splitlines()[-1]
            )
        finally:
            release.set()
            stop_all(started)
        resumed_requests = fake.requests[requests_before:]

    outputs = {each.name: each.output() for each in started}
    assert worker_a.process.returncode == -signal.SIGKILL
    assert report["settled"], (
        f"runs still active: {report['runs']}\n{outputs['worker-b'][-4000:]}"
    )

    assert report["rows"] == expected_rows(fake), killed.target
    for model, external_ids in report["stored"].items():
        repeated = [key for key, count in Counter(external_ids).items() if count > 1]
        assert not repeated, f"{model} stored twice: {repeated}"

    runs = report["runs"]
    lost = [run for run in runs if run["error_code"] == "worker_lost"]
    assert [(run["stream"], run["status"]) for run in lost] == [(stream, "failed")]
    resumed = [run for run in runs if run["resumed_from"] == lost[0]["id"]]
    assert [(run["trigger"], run["status"]) for run in resumed] == [
        ("resume", "succeeded")
    ]
    assert {run["status"] for run in runs if run not in lost} == {"succeeded"}
    # Resumed from its cursor: the page it died on is asked for again, and
    # the streams finished before the kill are not read a second time.
    assert killed.target in {request.target for request in resumed_requests}
    finished_streams = ("/courses", "/assignments")
    assert not [r.target for r in resumed_requests if r.path.endswith(finished_streams)]
    assert "sync.run.reaped" in outputs["worker-b"]
    if only_the_reaper:
        assert "integrations.reaper.resumed" in outputs["worker-b"]
    for name, output in outputs.items():
        assert TOKEN not in output, f"{name} logged the integration's token"
