"""``make run`` for real: bin/run prepares the database and honcho starts the
Procfile's web server, worker and beat; Ctrl-C (SIGINT to the process group,
as a terminal sends it) stops every one of them.

.venv exists here, so bin/bootstrap (the other half of ``make run``) is left
out. The processes run on the embedded defaults in a temporary PORTAL_VAR_DIR:
DATABASE_URL, CACHE_URL and CELERY_BROKER_URL are unset, so nothing reaches a
real server. Starting and stopping are awaited by polling with generous
limits; no step is timed.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

# admin_writes signs in as ADMIN_USER, so bin/run creates that superuser here.
from tests.processes import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    MIN_WRITES,
    ROOT,
    Started,
    admin_writes,
    embedded_env,
    free_port,
    group_members,
    start,
    stop_all,
    wait_until,
)

RUN = ROOT / "bin" / "run"
PROCFILE_PROCESSES = ("web", "worker", "beat")
#: honcho's own line when it has started one of the Procfile's processes.
HONCHO_STARTED = re.compile(r"\| (\w+)\.1 started \(pid=(\d+)\)")
#: How many times to look (every quarter second) before giving up on a step.
PATIENCE = 480

SERVER_VARIABLES = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")


def _dotenv_names_a_server() -> bool:
    # Settings read .env for variables the environment lacks, so unsetting
    # them would not keep a .env's servers away.
    dotenv = ROOT / ".env"
    if not dotenv.exists():
        return False
    text = dotenv.read_text(errors="replace")
    return any(
        re.search(rf"^\s*(export\s+)?{name}\s*=", text, re.M)
        for name in SERVER_VARIABLES
    )


pytestmark = [
    pytest.mark.skipif(
        not Path("/proc/self/stat").exists(),
        reason="checking that every child exited reads /proc (Linux)",
    ),
    pytest.mark.skipif(
        _dotenv_names_a_server(),
        reason="the checkout's .env names a database, cache or broker server",
    ),
]


def run_env(tmp_path: Path, port: int, *, superuser: bool) -> dict[str, str]:
    """Return bin/run's environment: the embedded defaults in ``tmp_path/var``."""
    env = embedded_env(tmp_path)
    # Only PORTAL_VAR_DIR decides where the embedded mode keeps its files,
    # as on a newcomer's machine.
    for name in (
        *SERVER_VARIABLES,
        "DJANGO_SUPERUSER_USERNAME",
        "DJANGO_SUPERUSER_PASSWORD",
        "DJANGO_SUPERUSER_EMAIL",
    ):
        env.pop(name, None)
    env["PORTAL_PORT"] = str(port)
    if superuser:
        env["DJANGO_SUPERUSER_USERNAME"] = ADMIN_USER
        env["DJANGO_SUPERUSER_PASSWORD"] = ADMIN_PASSWORD
    return env


def honcho_groups(run: Started) -> dict[str, int]:
    """Return the process group of each Procfile process honcho started.

    honcho starts each one in a session of its own, led by the shell whose
    pid it prints; a process's children (runserver's reloaded server,
    Celery's pool) stay in that group.
    """
    return {name: int(pid) for name, pid in HONCHO_STARTED.findall(run.output())}


def interrupt(run: Started) -> set[int]:
    """Send SIGINT to bin/run's process group; return every group to watch."""
    groups = {run.process.pid, *honcho_groups(run).values()}
    os.killpg(run.process.pid, signal.SIGINT)
    return groups


def all_started(run: Started) -> bool:
    """Tell whether honcho has said it started every Procfile process."""
    return set(honcho_groups(run)) == set(PROCFILE_PROCESSES)


def printed(run: Started, text: str) -> bool:
    """Tell whether ``text`` is in the run's output."""
    return text in run.output()


def web_answers(base_url: str) -> bool:
    """Tell whether the home page answers 200."""
    try:
        return requests.get(f"{base_url}/", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def read_rows(database: Path, sql: str, *params: object) -> list[tuple]:
    """Run a query on the SQLite file read-only, as an outside reader would."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@pytest.fixture
def runs() -> Iterator[list[Started]]:
    """Collect the bin/run processes; stop whatever a failed test left running."""
    started: list[Started] = []
    yield started
    stop_all(started)
    for run in started:
        for group in honcho_groups(run).values():
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_run(
    runs: list[Started], tmp_path: Path, name: str, env: dict[str, str]
) -> Started:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    run = start(name, [str(RUN)], env, logs)
    runs.append(run)
    return run


def stop_and_check(run: Started) -> None:
    """Interrupt a run as Ctrl-C would, and check that all of it exited."""
    groups = interrupt(run)

    stopped = wait_until(lambda: run.process.poll() is not None, attempts=PATIENCE)
    emptied = wait_until(lambda: not group_members(groups), attempts=PATIENCE)

    assert stopped, f"bin/run did not stop:\n{run.output()[-3000:]}"
    assert emptied, f"still running: {group_members(groups)}\n{run.output()[-3000:]}"
    assert run.process.returncode == 130  # honcho's answer to SIGINT
    output = run.output()
    for name in honcho_groups(run):
        assert re.search(rf"\| {name}\.1 stopped \(rc=", output), name


def test_make_run_starts_web_worker_and_beat_and_ctrl_c_stops_them_all(tmp_path, runs):
    var_dir = tmp_path / "var"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with_user = run_env(tmp_path, port, superuser=True)

    first = start_run(runs, tmp_path, "first", with_user)
    answered = wait_until(lambda: web_answers(base_url), attempts=PATIENCE)
    assert answered, f"the home page never answered:\n{first.output()[-3000:]}"
    up = wait_until(
        lambda: printed(first, " ready.") and printed(first, "beat: Starting..."),
        attempts=PATIENCE,
    )
    # Sign in to the admin and add groups through its forms, as a person would.
    statuses: list[int] = []
    done = threading.Event()
    done.set()
    admin_writes(base_url, 0, threading.Barrier(1), done, statuses)

    output = first.output()
    assert up, f"worker or beat did not start:\n{output[-3000:]}"
    assert all_started(first)
    assert re.search(r"^\S+ worker\.1 +\| .*celery@\S+ ready\.$", output, re.M)
    assert re.search(r"^\S+ beat\.1 +\| .*beat: Starting\.\.\.$", output, re.M)
    assert "Superuser created successfully." in output
    assert f"The portal:  {base_url}/" in output
    database = var_dir / "portal.sqlite3"
    assert read_rows(
        database,
        "SELECT is_superuser, is_staff FROM auth_user WHERE username = ?",
        ADMIN_USER,
    ) == [(1, 1)]
    assert (var_dir / "broker").is_dir()
    assert statuses == [302] * (1 + MIN_WRITES)
    assert read_rows(database, "SELECT COUNT(*) FROM auth_group") == [(MIN_WRITES,)]
    assert ADMIN_PASSWORD not in output
    stop_and_check(first)

    second = start_run(runs, tmp_path, "second", with_user)
    said = f"run: superuser '{ADMIN_USER}' already exists"
    assert wait_until(lambda: printed(second, said), attempts=PATIENCE)
    # Once honcho has started all three, an interrupt stops them all too.
    assert wait_until(lambda: all_started(second), attempts=PATIENCE)
    stop_and_check(second)
    assert "Superuser created successfully." not in second.output()

    anonymous = run_env(tmp_path, port, superuser=False)
    third = start_run(runs, tmp_path, "third", anonymous)
    advice = "run: to create an admin account, run once with"
    assert wait_until(lambda: printed(third, advice), attempts=PATIENCE)
    assert wait_until(lambda: all_started(third), attempts=PATIENCE)
    stop_and_check(third)
    output = third.output()
    assert "DJANGO_SUPERUSER_USERNAME=admin DJANGO_SUPERUSER_PASSWORD=" in output
    assert "manage.py createsuperuser" in output
    assert "already exists" not in output
