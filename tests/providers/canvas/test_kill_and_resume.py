"""A Canvas sync killed with SIGKILL mid-page resumes to exactly Canvas's rows.

The fake holds the chosen request open, so the process dies in the middle
of a page with the pages before it committed; a second process reaps the
dead run and resumes from its cursor, inside a course where it stopped.
Runs on SQLite, or on PostgreSQL when DATABASE_URL selects it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.fakes.canvas import CanvasFake
from tests.process_databases import ProcessDatabases
from tests.processes import ROOT
from tests.providers.canvas.helpers import (
    SYNC_PROCESS,
    TOKEN,
    expected_rows,
    run_process,
)


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> Iterator[ProcessDatabases]:
    """Return copies of a database holding the tables and the integration."""
    root = tmp_path_factory.mktemp("canvas-kill")
    env = {"CANVAS_TEST_TOKEN": TOKEN}
    with ProcessDatabases.migrated(root, "canvas_kill", env) as made:
        # Each test points the integration at its own fake when it syncs.
        run_process(made.env(made.template_url), "setup", "http://127.0.0.1:9")
        yield made


# Read one course at a time and stored page by page, the requests are, two
# items a page: 1-3 courses; 4-8 assignments (5: course 101's second page);
# 9-14 enrollments (10 and 14: second pages of courses 101 and 104); 15-24
# progress (15-16 course 101's module progress, 18 the second page of its
# grades, 22 course 103's); 2 is the courses' second page. With the defaults
# (four courses read at once, pages stored in batches) the order of the
# requests varies, and a kill loses the batch being gathered.
ONE_AT_A_TIME = {"CANVAS_TEST_CONCURRENCY": "1", "INTEGRATIONS_SYNC_BATCH_RECORDS": "1"}
KILL_POINTS = [
    *(
        pytest.param(request, ONE_AT_A_TIME, id=f"{request}-sequential")
        for request in (2, 5, 10, 14, 18, 22)
    ),
    *(pytest.param(request, {}, id=f"{request}-defaults") for request in (6, 12, 20)),
]


@pytest.mark.parametrize(("kill_at_request", "options"), KILL_POINTS)
def test_canvas_sync_killed_with_sigkill_resumes_to_exactly_the_source(
    tmp_path, databases, kill_at_request, options
):
    database_url = databases.copy()
    fake = CanvasFake.school(token=TOKEN)
    # The process is killed while the fake holds this request open, in the
    # middle of its pass, with the pages before it committed.
    reached, release = fake.hold(kill_at_request)

    with fake:
        env = {
            **databases.env(database_url),
            "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": "*",
            "INTEGRATIONS_SYNC_LEASE_SECONDS": "1",
            "PORTAL_VAR_DIR": str(tmp_path),
            **options,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", SYNC_PROCESS, "sync", fake.base_url],
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
        killed_path = fake.requests[kill_at_request - 1].path

        # Let the dead process's one-second lease expire before the reaper looks.
        threading.Event().wait(1.5)
        result = json.loads(run_process(env, "resume").stdout.strip().splitlines()[-1])

    assert result["rows"] == expected_rows(fake), killed_path
    statuses = [run["status"] for run in result["runs"]]
    assert "running" not in statuses and "queued" not in statuses
    assert any(run["error_code"] == "worker_lost" for run in result["runs"])
