"""The README's quick start works as written, against the demo JSON API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integrations.http.factory import forget_clients
from integrations.models import SyncRun, SyncStatus
from portal.learning.models import Course
from tests.commands.conftest import run_integrations
from tests.fakes.json_api import JsonApiFake, demo_collections
from tests.providers.rest.helpers import DEMO_TOKEN

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_yaml() -> str:
    """Return the README's first YAML block."""
    return re.search(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL).group(1)


@pytest.mark.django_db
def test_readme_example_applies_syncs_and_reports_health(
    tmp_path, monkeypatch, settings
):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    forget_clients()
    monkeypatch.setenv("CATALOGUE_TOKEN", DEMO_TOKEN)
    demo = demo_collections()
    with JsonApiFake(collections=demo, token=DEMO_TOKEN, page_size=2) as fake:
        text = readme_yaml().replace("http://127.0.0.1:8765", fake.base_url)
        path = tmp_path / "integrations.yaml"
        path.write_text(text)

        applied = run_integrations("apply", str(path))
        synced = run_integrations("sync", "course-catalogue")
        health = run_integrations("health", "course-catalogue")

    assert applied.code == 0, applied.output
    assert "course-catalogue" in applied.stdout
    assert synced.code == 0, synced.output
    assert health.code == 0, health.output
    assert Course.objects.count() == len(demo["courses"])
    assert SyncRun.objects.get().status == SyncStatus.SUCCEEDED
    assert DEMO_TOKEN not in applied.output + synced.output + health.output
