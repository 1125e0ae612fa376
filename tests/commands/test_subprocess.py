"""The command as a real process: exit codes are what a shell or cron sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import leakcheck

ROOT = Path(__file__).resolve().parents[2]
LITERAL = leakcheck.secret("literal-token-in-a-file-3e4f")


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    """Return an environment with its own migrated SQLite database."""
    database = tmp_path_factory.mktemp("cli") / "portal.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "CACHE_URL": "locmemcache://",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_ENV": "development",
    }
    migrate = _manage(env, "migrate", "--verbosity", "0")
    assert migrate.returncode == 0, migrate.stderr
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_list_exits_0(environment):
    result = _manage(environment, "integrations", "list")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No integrations configured.")


def test_list_json_is_valid_json(environment):
    result = _manage(environment, "integrations", "list", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"integrations": []}


def test_unknown_integration_exits_2(environment):
    result = _manage(environment, "integrations", "sync", "ghost")

    assert result.returncode == 2
    assert "Unknown integration 'ghost'; known integrations: none." in result.stderr


def test_missing_subcommand_exits_2(environment):
    result = _manage(environment, "integrations")

    assert result.returncode == 2
    assert "SUBCOMMAND" in result.stderr


def test_invalid_file_exits_1_without_echoing_the_secret(environment, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            integrations:
              - name: school-api
                provider: rest
                base_url: https://api.example.edu
                credentials:
                  token: {LITERAL}
            """
        )
    )

    result = _manage(environment, "integrations", "apply", str(path))

    assert result.returncode == 1
    assert (
        "line 6: integrations[0].credentials.token: Must be an environment reference"
        in (result.stderr)
    )
    assert LITERAL not in result.stdout + result.stderr
