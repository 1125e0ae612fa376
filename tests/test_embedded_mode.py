"""The embedded mode under real use: web, worker and beat on one SQLite file.

Real processes like those ``make run`` starts, on a temporary SQLite file and
a temporary filesystem-broker folder: gunicorn with two processes (in place
of runserver, for more writers) serving admin writes, a Celery worker with two
children running syncs against a JSON API fake on loopback, and beat sending
the reaper and the sweeper every second and writing their last run times.
While they all write at once, the test checks that no process ever reports
"database is locked", that every admin write landed, and that every sync
finished, including the ones whose message was lost (the sweeper resends
them) and one whose worker died mid-run (the reaper resumes it).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from celery import Celery

from portal.celery import create_broker_folders
from tests.fakes.json_api import JsonApiFake
from tests.processes import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    MIN_WRITES,
    VENV_BIN,
    Started,
    admin_writes,
    embedded_env,
    free_port,
    manage,
    start,
    stop_all,
    wait_until,
)
from tests.providers.rest.helpers import TOKEN, school_endpoints

LOAD_THREADS = 4
SYNCED_INTEGRATIONS = 3
COURSES = 30
ASSIGNMENTS = 45
ENDPOINTS = [e for e in school_endpoints() if e["stream"] in ("courses", "assignments")]
LOCK_ERRORS = ("database is locked", "database table is locked")

# Run by `manage.py shell` in its own process while the load runs: create
# integrations and queue their syncs through the broker, plus two runs whose
# message was lost (offered_at unset: only the sweeper sends them) and one
# "running" run whose worker died (an expired lease: only the reaper helps).
ENQUEUE_SCRIPT = """
import json, os
from datetime import timedelta
from django.utils import timezone
from integrations.models import Credential, Integration, SyncRun
from integrations.sync.runs import enqueue_sync

config = json.loads(os.environ["EMBEDDED_TEST_CONFIG"])

def make(name):
    integration = Integration.objects.create(
        name=name, provider="rest", base_url=config["base_url"],
        settings={"endpoints": config["endpoints"], "page_size": 5},
    )
    credential = Credential(integration=integration, key="token")
    credential.set_secret(config["token"])
    credential.save()
    return integration

for number in range(config["synced"]):
    enqueue_sync(make(f"synced-{number}"), trigger="manual")

lost = make("lost-messages")
for stream in ("courses", "assignments"):
    SyncRun.objects.create(integration=lost, stream=stream, trigger="manual")

dead = make("dead-worker")
expired = timezone.now() - timedelta(seconds=5)
SyncRun.objects.create(
    integration=dead, stream="courses", status="running", attempts=1,
    lease_owner="gone-host:1:lost-task", lease_expires_at=expired,
    started_at=expired - timedelta(seconds=30),
)
Integration.objects.filter(pk=dead.pk).update(
    sync_lease_owner="gone-host:1:lost-task", sync_lease_expires_at=expired
)
print("enqueued")
"""

REPORT_SCRIPT = """
import json
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask
from integrations.models import SyncRun
from portal.learning.models import Assignment, Course

print(json.dumps({
    "runs": [
        {"integration": run.integration.name, "stream": run.stream, "status": run.status,
         "error_code": run.error_code, "resumed_from": run.resumed_from_id}
        for run in SyncRun.objects.select_related("integration")
    ],
    "courses": {
        name: Course.objects.filter(integration__name=name).count()
        for name in SyncRun.objects.values_list("integration__name", flat=True).distinct()
    },
    "assignments": {
        name: Assignment.objects.filter(integration__name=name).count()
        for name in SyncRun.objects.values_list("integration__name", flat=True).distinct()
    },
    "groups": Group.objects.filter(name__startswith="load-").count(),
    "beat_runs": {
        task.task: task.total_run_count
        for task in PeriodicTask.objects.filter(task__startswith="integrations.")
    },
}))
"""


def school(courses: int, assignments: int) -> dict[str, list[dict]]:
    """Return a JSON API data set big enough to take several pages per stream."""
    return {
        "courses": [
            {
                "id": 1000 + number,
                "name": f"Course {number}",
                "course_code": f"C-{number}",
                "status": "published",
                "start_at": "2025-09-01T08:00:00Z",
                "end_at": None,
                "html_url": f"https://lms.example.edu/courses/{1000 + number}",
                "updated_at": "2025-08-20T10:15:00Z",
            }
            for number in range(courses)
        ],
        "assignments": [
            {
                "id": 5000 + number,
                "course_id": 1000 + number % courses,
                "name": f"Assignment {number}",
                "due_at": "2025-10-01T23:59:00Z",
                "points_possible": 10,
                "updated_at": "2025-08-21T08:00:00Z",
            }
            for number in range(assignments)
        ],
    }


def sync_states(database: Path) -> dict[str, int]:
    """Read SyncRun statuses straight from the SQLite file, as a reader would."""
    if not database.exists():
        return {}
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20)
    try:
        rows = connection.execute(
            "SELECT status, COUNT(*) FROM integrations_syncrun GROUP BY status"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        connection.close()
    return dict(rows)


def journal_mode(database: Path) -> str:
    """Return the SQLite file's journal mode (WAL persists in the file)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20)
    try:
        return connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()


@pytest.fixture
def processes() -> Iterator[list[Started]]:
    started: list[Started] = []
    yield started
    stop_all(started)


def test_web_worker_and_beat_share_sqlite_without_lock_errors(tmp_path, processes):
    env = embedded_env(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    database = tmp_path / "db.sqlite3"

    manage(env, "migrate", "--noinput")
    manage(
        {
            **env,
            "DJANGO_SUPERUSER_USERNAME": ADMIN_USER,
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "admin@example.org",
        },
        "createsuperuser",
        "--noinput",
    )
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    with JsonApiFake(collections=school(COURSES, ASSIGNMENTS), token=TOKEN) as fake:
        processes.append(
            start(
                "web",
                [
                    str(VENV_BIN / "gunicorn"),
                    "portal.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "2",
                ],
                env,
                logs,
            )
        )
        processes.append(
            start(
                "worker",
                [
                    str(VENV_BIN / "celery"),
                    "--app",
                    "portal",
                    "worker",
                    "--concurrency",
                    "2",
                    "--hostname",
                    f"embedded-{port}@%h",
                ],
                env,
                logs,
            )
        )
        processes.append(
            start(
                "beat",
                [
                    str(VENV_BIN / "celery"),
                    "--app",
                    "portal",
                    "beat",
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile",
                    str(tmp_path / "beat.pid"),
                ],
                env,
                logs,
            )
        )

        def web_ready() -> bool:
            try:
                return requests.get(f"{base_url}/admin/login/", timeout=30).ok
            except requests.RequestException:
                return False

        assert wait_until(web_ready, attempts=240), "the web server never answered"

        statuses: list[int] = []
        stop_load = threading.Event()
        signed_in = threading.Barrier(LOAD_THREADS + 1, timeout=180)
        load = [
            threading.Thread(
                target=admin_writes,
                args=(base_url, number, signed_in, stop_load, statuses),
            )
            for number in range(LOAD_THREADS)
        ]
        for thread in load:
            thread.start()
        signed_in.wait()
        config = {
            "base_url": fake.base_url,
            "token": TOKEN,
            "endpoints": ENDPOINTS,
            "synced": SYNCED_INTEGRATIONS,
        }
        enqueued = manage(
            {**env, "EMBEDDED_TEST_CONFIG": json.dumps(config)},
            "shell",
            "--command",
            ENQUEUE_SCRIPT,
        )

        # Synced integrations: 2 streams each; lost: 2 runs; dead: the dead
        # run and the run that resumes it.
        expected_runs = SYNCED_INTEGRATIONS * 2 + 2 + 2

        def all_runs_finished() -> bool:
            states = sync_states(database)
            active = states.get("queued", 0) + states.get("running", 0)
            return sum(states.values()) >= expected_runs and active == 0

        finished = wait_until(all_runs_finished, attempts=480)
        stop_load.set()
        for thread in load:
            thread.join(timeout=180)
        stop_all(processes)

    outputs = {each.name: each.output() for each in processes}
    report = json.loads(
        manage(env, "shell", "--command", REPORT_SCRIPT).strip().splitlines()[-1]
    )

    for name, output in {**outputs, "enqueue": enqueued}.items():
        for error in LOCK_ERRORS:
            assert error not in output, f"{name} reported {error!r}:\n{output[-4000:]}"
    assert "enqueued" in enqueued
    for name, output in outputs.items():
        assert TOKEN not in output, f"{name} logged the integration's token"
    assert finished, (
        f"runs still active: {sync_states(database)}\n{outputs['worker'][-4000:]}"
    )

    assert all(not thread.is_alive() for thread in load)
    assert set(statuses) == {302}
    assert report["groups"] == len(statuses) - LOAD_THREADS >= LOAD_THREADS * MIN_WRITES
    assert journal_mode(database) == "wal"

    runs = report["runs"]
    assert len(runs) == expected_runs
    dead = [
        run
        for run in runs
        if run["integration"] == "dead-worker" and not run["resumed_from"]
    ]
    resumed = [run for run in runs if run["resumed_from"]]
    assert [(run["status"], run["error_code"]) for run in dead] == [
        ("failed", "worker_lost")
    ]
    assert [run["status"] for run in resumed] == ["succeeded"]
    others = [run for run in runs if run not in dead]
    assert {run["status"] for run in others} == {"succeeded"}
    for number in range(SYNCED_INTEGRATIONS):
        assert report["courses"][f"synced-{number}"] == COURSES
        assert report["assignments"][f"synced-{number}"] == ASSIGNMENTS
    assert report["courses"]["lost-messages"] == COURSES
    assert report["assignments"]["lost-messages"] == ASSIGNMENTS
    assert report["courses"]["dead-worker"] == COURSES

    assert report["beat_runs"]["integrations.sweep_due_runs"] >= 1
    assert report["beat_runs"]["integrations.reap_expired_runs"] >= 1


def test_broker_folders_are_created_for_the_filesystem_transport(tmp_path, monkeypatch):
    # Celery's broker_url prefers this variable (set in the Redis CI run).
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    app = Celery(set_as_current=False)
    app.conf.update(
        broker_url="filesystem://localhost/",
        broker_transport_options={
            "data_folder_in": str(tmp_path / "var" / "broker"),
            "data_folder_out": str(tmp_path / "var" / "broker"),
            "control_folder": str(tmp_path / "var" / "broker" / "control"),
        },
    )

    created = create_broker_folders(app.conf)

    assert sorted(created) == [
        tmp_path / "var" / "broker",
        tmp_path / "var" / "broker",
        tmp_path / "var" / "broker" / "control",
    ]
    assert (tmp_path / "var" / "broker" / "control").is_dir()


def test_no_folders_are_created_for_a_server_broker(tmp_path):
    app = Celery(set_as_current=False)
    app.conf.update(
        broker_url="redis://127.0.0.1:6379/0",
        broker_transport_options={"data_folder_in": str(tmp_path / "unused")},
    )

    assert create_broker_folders(app.conf) == []
    assert not (tmp_path / "unused").exists()
