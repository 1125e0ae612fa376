"""PORTAL_ENV=production refuses unsafe settings; safe ones pass the deploy checks.

Each case starts a fresh Python process, because settings are read once at
start-up. Variables are set to empty rather than removed, so a developer's
.env file (read without overwriting) cannot fill them in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from portal import safety

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET_KEY = "k3Yq0v8-Xb2lq9ZfS1m7Tn4Wc6Rp5Hd0Gj8Ue3Ia2Oy1Lx9Mw7Nz6Bv5Ct4Ds3Er"
SETUP = "import django; django.setup()"
SERVICE_VARIABLES = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Return an environment of safe production values, with ``overrides``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SERVICE_VARIABLES and not key.startswith("DJANGO_")
    }
    env.update(
        {
            "PORTAL_ENV": "production",
            "SECRET_KEY": GOOD_SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "portal.example.org",
            "DEBUG": "0",
            "PORTAL_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        }
    )
    env.update(overrides)
    return env


def run_python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_good_production_settings_start(tmp_path):
    started = run_python(production_env(tmp_path), "-c", SETUP)

    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SECRET_KEY", ""),
        ("SECRET_KEY", safety.DEVELOPMENT_SECRET_KEY),
        ("SECRET_KEY", "short-but-not-a-development-default"),
        ("SECRET_KEY", "django-insecure-" + "a" * 60),
        ("FIELD_ENCRYPTION_KEYS", ""),
        ("FIELD_ENCRYPTION_KEYS", safety.DEVELOPMENT_ENCRYPTION_KEY),
        ("FIELD_ENCRYPTION_KEYS", "not-a-fernet-key"),
        ("DEBUG", "1"),
        ("DEBUG", "on"),
        ("ALLOWED_HOSTS", ""),
    ],
)
def test_production_refuses_to_start_naming_the_variable(tmp_path, variable, value):
    started = run_python(production_env(tmp_path, **{variable: value}), "-c", SETUP)

    assert started.returncode != 0
    assert "UnsafeConfiguration" in started.stderr
    last_line = started.stderr.strip().splitlines()[-1]
    assert variable in last_line
    if variable == "SECRET_KEY" and value:
        assert value not in started.stderr


def test_production_refuses_the_development_key_among_others(tmp_path):
    keys = f"{Fernet.generate_key().decode()},{safety.DEVELOPMENT_ENCRYPTION_KEY}"

    started = run_python(
        production_env(tmp_path, FIELD_ENCRYPTION_KEYS=keys), "-c", SETUP
    )

    assert started.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in started.stderr.strip().splitlines()[-1]
    assert safety.DEVELOPMENT_ENCRYPTION_KEY not in started.stderr


def test_an_unknown_portal_env_is_refused(tmp_path):
    started = run_python(production_env(tmp_path, PORTAL_ENV="staging"), "-c", SETUP)

    assert started.returncode != 0
    assert "PORTAL_ENV" in started.stderr.strip().splitlines()[-1]


def test_an_unknown_email_verification_mode_is_refused(tmp_path):
    started = run_python(
        production_env(tmp_path, PORTAL_EMAIL_VERIFICATION="sometimes"), "-c", SETUP
    )

    assert started.returncode != 0
    assert "PORTAL_EMAIL_VERIFICATION" in started.stderr.strip().splitlines()[-1]


def test_deploy_checks_report_no_warning_on_good_production_settings(tmp_path):
    checked = run_python(
        production_env(tmp_path),
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout


def test_development_starts_with_no_variables_at_all(tmp_path):
    env = production_env(tmp_path)
    for variable in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "DEBUG"):
        env.pop(variable)
    env["PORTAL_ENV"] = "development"

    started = run_python(
        env, "-c", SETUP + "; from django.conf import settings; print(settings.DEBUG)"
    )

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "True"
