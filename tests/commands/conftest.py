"""Fixtures for the ``integrations`` command tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations import registry
from integrations.models import Credential, Integration
from integrations.providers.base import (
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
)


@dataclass
class CommandResult:
    """What one run of the command printed and how it exited."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """Parse stdout as JSON."""
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        """Return stdout and stderr together."""
        return self.stdout + self.stderr


def run_integrations(*args: str, stdout: StringIO | None = None) -> CommandResult:
    """Run ``manage.py integrations *args`` in-process and capture its exit code.

    Django prints a CommandError to stderr and exits with its returncode when
    run from the command line; here the error is caught and recorded the
    same way.
    """
    out = stdout if stdout is not None else StringIO()
    err = StringIO()
    try:
        call_command("integrations", *args, stdout=out, stderr=err)
    except CommandError as error:
        err.write(f"CommandError: {error}\n")
        return CommandResult(error.returncode, out.getvalue(), err.getvalue())
    except SystemExit as exit_:
        return CommandResult(int(exit_.code or 0), out.getvalue(), err.getvalue())
    return CommandResult(0, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Callable[..., CommandResult]:
    """Return a function that runs the integrations command."""
    return run_integrations


class DemoLmsProvider(Provider):
    """A provider used only by these tests, to exercise validation."""

    slug = "demo-lms"
    title = "Demo LMS"
    settings_schema = (
        SettingField("account_id", type="int", required=True, minimum=1),
        SettingField("page_size", type="int", default=50, minimum=1, maximum=100),
        SettingField("mode", type="choice", choices=("fast", "safe"), default="safe"),
    )
    credential_schema = (
        CredentialField("access_token", kind="api_key"),
        CredentialField("webhook_secret", kind="webhook_secret", required=False),
    )

    def streams(self, integration: Integration) -> list:
        """Return no streams: these tests never sync it."""
        return []

    def check_health(self, integration: Integration, client: Any) -> HealthReport:
        """Report healthy without a call: these tests never reach a service."""
        return HealthReport("healthy")


@pytest.fixture
def demo_provider() -> Iterator[Provider]:
    """Register the demo provider for one test."""
    registry.register(DemoLmsProvider)
    yield registry.get_provider(DemoLmsProvider.slug)
    registry._providers.pop(DemoLmsProvider.slug, None)


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Return a function that writes ``text`` to ``tmp_path/name``."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def database_state() -> dict[str, list]:
    """Return every integration and credential row, to compare before and after."""
    from django_celery_beat.models import PeriodicTask

    return {
        "integrations": list(Integration.objects.order_by("pk").values()),
        "credentials": [
            (
                c.pk,
                c.integration_id,
                c.key,
                c.kind,
                c.value.ciphertext,
                c.hint,
                c.updated_at,
            )
            for c in Credential.objects.order_by("pk")
        ],
        "periodic_tasks": list(
            PeriodicTask.objects.order_by("pk").values_list(
                "pk", "name", "enabled", "crontab_id"
            )
        ),
    }
