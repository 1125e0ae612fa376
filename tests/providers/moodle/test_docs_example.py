"""The example in docs/providers/moodle.md works against the demo fake as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from integrations.declarative import apply_file
from integrations.models import Integration, SyncStatus
from integrations.providers.moodle.provider import MoodleProvider
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course, Progress
from tests import leakcheck
from tests.fakes.moodle import FUNCTIONS, MoodleFake, demo_site

DOC = Path(__file__).resolve().parents[3] / "docs" / "providers" / "moodle.md"
DEMO_TOKEN = leakcheck.secret("demo-moodle-token-0123456789abcd")


def doc_example() -> dict:
    """Return the first integration of the doc's first YAML block."""
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    return yaml.safe_load(block)["integrations"][0]


def test_doc_example_keeps_secrets_out_of_the_file():
    example = doc_example()

    assert example["provider"] == "moodle"
    assert example["credentials"] == {"token": "${MOODLE_TOKEN}"}


def test_doc_example_settings_are_valid():
    MoodleProvider().validate_settings(doc_example()["settings"])


def test_doc_every_setting_and_function_is_documented():
    text = DOC.read_text()

    for field in MoodleProvider.settings_schema:
        assert f"| `{field.name}` |" in text
    for credential in MoodleProvider.credential_schema:
        assert f"| `{credential.key}` |" in text
    for function in FUNCTIONS:
        assert f"| `{function}` |" in text


@pytest.mark.django_db
def test_doc_example_applies_and_syncs_the_demo_site(tmp_path):
    with demo_site(MoodleFake(token=DEMO_TOKEN)) as fake:
        example = {**doc_example(), "base_url": fake.base_url}
        path = tmp_path / "school-moodle.yaml"
        path.write_text(yaml.safe_dump({"integrations": [example]}))

        apply_file(str(path), environ={"MOODLE_TOKEN": DEMO_TOKEN})
        integration = Integration.objects.get(name="school-moodle")
        runs = run_sync_now(integration)

    assert [run.status for run in runs] == [SyncStatus.SUCCEEDED] * 3
    assert sorted(Course.objects.values_list("external_id", flat=True)) == ["11", "12"]
    assert Progress.objects.count() == 4
    assert all(run.failed == 0 for run in runs)
