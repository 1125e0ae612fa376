"""Start, watch and stop the portal's own processes in tests.

Shared by the tests that run the portal for real (the embedded mode under
load, ``make run``, a Celery worker killed mid-sync): the embedded
environment in a temporary folder, processes started in sessions of their
own with their output in a log file, polling with a bound instead of a
clock, and an admin sign-in that writes through the admin's forms.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests import leakcheck

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ADMIN_USER = "embedded-admin"
ADMIN_PASSWORD = leakcheck.secret("embedded-password-4c1d")
MIN_WRITES = 10
MAX_WRITES = 400


@dataclass
class Started:
    """A process a test started, with the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Return what the process has written so far."""
        return self.log.read_text(errors="replace")


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def embedded_env(tmp_path: Path) -> dict[str, str]:
    """Return the environment of every process: embedded defaults in tmp_path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "PORTAL_ENV")
    }
    env.update(
        {
            "PORTAL_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "CELERY_BROKER_URL": "filesystem://localhost/",
            "INTEGRATIONS_MAINTENANCE_INTERVAL": "1",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """Run a manage.py command to the end; return its output, failing on errors."""
    finished = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    assert finished.returncode == 0, f"manage.py {args[0]} failed:\n{finished.stdout}"
    return finished.stdout


def run_module(
    module: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` from the repository to the end; fail if it fails."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def start(name: str, command: list[str], env: dict[str, str], logs: Path) -> Started:
    """Start ``command`` in a session of its own, its output in logs/<name>.log."""
    log = logs / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Started(name, process, log)


def stop_all(started: list[Started]) -> None:
    """Stop the processes this test started, all at once.

    SIGTERM goes to each main process, which shuts its own children down
    (gunicorn's workers, Celery's pool); whatever is left of a process group
    after the wait is killed.
    """
    running = [each for each in started if each.process.poll() is None]
    for each in running:
        each.process.terminate()
    for each in running:
        try:
            each.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(each.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        each.process.wait(timeout=10)


def wait_until(condition, *, attempts: int, interval: float = 0.25) -> bool:
    """Poll ``condition`` at most ``attempts`` times; tell whether it held."""
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(interval)
    return False


def group_members(groups: set[int]) -> list[int]:
    """Return the live processes (zombies aside) in any of ``groups``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (command) state ppid pgrp ...": the command may hold spaces.
        state, _, group = stat.rpartition(")")[2].split()[:3]
        if state != "Z" and int(group) in groups:
            members.append(int(entry.name))
    return members


def admin_writes(
    base_url: str,
    thread: int,
    signed_in: threading.Barrier,
    stop: threading.Event,
    results: list[int],
) -> None:
    """Sign in to the admin, then create groups through its add form until told to stop.

    Every thread writes at least MIN_WRITES groups and goes on while the syncs
    run, so web, worker and beat write to the file at the same time.
    """
    with requests.Session() as session:
        session.get(f"{base_url}/admin/login/", timeout=30)
        response = session.post(
            f"{base_url}/admin/login/?next=/admin/",
            data={
                "username": ADMIN_USER,
                "password": ADMIN_PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/admin/",
            },
            allow_redirects=False,
            timeout=30,
        )
        results.append(response.status_code)
        # Password hashing is slow on purpose; the writes start together
        # once every thread is signed in.
        signed_in.wait()
        for number in range(MAX_WRITES):
            if number >= MIN_WRITES and stop.is_set():
                break
            response = session.post(
                f"{base_url}/admin/auth/group/add/",
                data={
                    "name": f"load-{thread}-{number}",
                    "csrfmiddlewaretoken": session.cookies["csrftoken"],
                    "_save": "Save",
                },
                allow_redirects=False,
                timeout=30,
            )
            results.append(response.status_code)
