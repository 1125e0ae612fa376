"""A sync process killed with SIGKILL mid-sync resumes to exactly the source.

Runs on SQLite, or on PostgreSQL when DATABASE_URL selects it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.fakes.json_api import JsonApiFake
from tests.process_databases import ProcessDatabases
from tests.processes import ROOT, run_module
from tests.providers.rest.helpers import TOKEN, school_collections
from tests.sync.conftest import many_courses


def run_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_module("tests.sync.sync_process", env, *args)


def expected_rows(fake: JsonApiFake) -> dict[str, list[str]]:
    def ids(collection: str) -> list[str]:
        return sorted(str(item["id"]) for item in fake.items(collection))

    return {
        "Course": ids("courses"),
        "Assignment": ids("assignments"),
        "Enrollment": ids("enrollments"),
        "Progress": sorted(
            f"{item['course']['id']}:{item['user']['id']}"
            for item in fake.items("progress")
        ),
    }


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> Iterator[ProcessDatabases]:
    """Return copies of a database with the portal's tables, migrated once."""
    root = tmp_path_factory.mktemp("sync-kill")
    with ProcessDatabases.migrated(root, "sync_kill") as made:
        yield made


@pytest.mark.parametrize("kill_at_request", [2, 4, 7])
def test_sync_killed_with_sigkill_resumes_to_exactly_the_source(
    tmp_path, databases, kill_at_request
):
    collections = school_collections()
    collections["courses"] = many_courses()
    fake = JsonApiFake(
        collections=collections,
        token=TOKEN,
        page_size=2,
        envelopes={"progress": "result.items"},
    )
    reached = threading.Event()
    release = threading.Event()
    original = fake._serve

    def serve(request):
        # Hold the chosen request open: the process is killed while it waits
        # in the middle of its pass, with earlier pages committed.
        if fake.count() == kill_at_request:
            reached.set()
            release.wait(30)
        return original(request)

    fake._serve = serve
    with fake:
        fake.route("*", re.compile(r"/api/(?P<collection>[^/]+)"), serve)
        env = {
            **databases.env(databases.copy()),
            "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": "*",
            "INTEGRATIONS_SYNC_LEASE_SECONDS": "1",
            "PORTAL_VAR_DIR": str(tmp_path),
        }
        run_process(env, "setup", fake.base_url)

        process = subprocess.Popen(
            [sys.executable, "-m", "tests.sync.sync_process", "sync"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert reached.wait(60), "the sync never reached the request to kill at"
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
        assert process.returncode == -signal.SIGKILL

        # Let the dead process's one-second lease expire before the reaper looks.
        threading.Event().wait(1.5)
        result = json.loads(run_process(env, "resume").stdout.strip().splitlines()[-1])

    assert result["rows"] == expected_rows(fake)
    statuses = [run["status"] for run in result["runs"]]
    assert "running" not in statuses and "queued" not in statuses
    assert any(run["error_code"] == "worker_lost" for run in result["runs"])
