"""A Moodle sync killed with SIGKILL mid-page resumes to exactly the source.

Runs on SQLite, or on PostgreSQL when DATABASE_URL selects it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process_databases import ProcessDatabases
from tests.processes import ROOT, run_module
from tests.providers.moodle.helpers import (
    EXPECTED_COURSES,
    EXPECTED_ENROLLMENTS,
    EXPECTED_PROGRESS,
    school_fake,
)

PROCESS = "tests.providers.moodle.sync_process"
EXPECTED = {
    "Course": EXPECTED_COURSES,
    "Enrollment": EXPECTED_ENROLLMENTS,
    "Progress": EXPECTED_PROGRESS,
}
# Nothing is deleted at the source, so every stored row is a live one: a
# duplicate or a stray deletion mark would show here.
EXPECTED_TOTALS = {name: len(ids) for name, ids in EXPECTED.items()}


def run_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_module(PROCESS, env, *args)


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> Iterator[ProcessDatabases]:
    """Return copies of a database with the portal's tables, migrated once."""
    root = tmp_path_factory.mktemp("moodle-kill")
    with ProcessDatabases.migrated(root, "moodle_kill") as made:
        yield made


def kill_sync_at(fake, env: dict[str, str], call_number: int) -> None:
    """Start a syncing process and SIGKILL it while call ``call_number`` is held."""
    reached, release = fake.pause_at(call_number)
    process = subprocess.Popen(
        [sys.executable, "-m", PROCESS, "sync"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert reached.wait(60), "the sync never reached the call to kill at"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    # Let the dead process's one-second lease expire.
    threading.Event().wait(1.5)


def environment(tmp_path: Path, databases: ProcessDatabases) -> dict[str, str]:
    """Return the environment of processes working on a fresh database."""
    return {
        **databases.env(databases.copy()),
        "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": "*",
        "INTEGRATIONS_SYNC_LEASE_SECONDS": "1",
        "PORTAL_VAR_DIR": str(tmp_path),
    }


def last_json(completed: subprocess.CompletedProcess) -> dict:
    return json.loads(completed.stdout.strip().splitlines()[-1])


# The school sync makes 37 web service calls: 1 for courses, 17 windows of
# enrolled users (calls 2 to 4 are course 21's), then progress (windows,
# grade reports, completion). The kill points fall in each stream.
@pytest.mark.parametrize("kill_at_call", [1, 4, 30])
def test_sync_killed_with_sigkill_resumes_to_exactly_the_source(
    tmp_path, databases, kill_at_call
):
    env = environment(tmp_path, databases)
    with school_fake() as fake:
        run_process(env, "setup", fake.base_url)
        kill_sync_at(fake, env, kill_at_call)

        result = last_json(run_process(env, "resume"))

    assert result["rows"] == EXPECTED
    assert result["totals"] == EXPECTED_TOTALS
    statuses = [run["status"] for run in result["runs"]]
    assert "running" not in statuses and "queued" not in statuses
    assert any(run["error_code"] == "worker_lost" for run in result["runs"])


def test_sync_killed_before_any_course_is_stored_and_run_again(tmp_path, databases):
    env = environment(tmp_path, databases)
    with school_fake() as fake:
        run_process(env, "setup", fake.base_url)
        kill_sync_at(fake, env, 1)

        run_process(env, "sync")
        result = last_json(run_process(env, "rows"))

    assert result["rows"] == EXPECTED
    assert result["totals"] == EXPECTED_TOTALS
