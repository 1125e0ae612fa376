"""The example in docs/providers/canvas.md applies and syncs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from integrations.declarative import apply_document, parse_document
from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course, Enrollment
from tests.providers.canvas.helpers import TOKEN

DOC = Path(__file__).resolve().parents[3] / "docs" / "providers" / "canvas.md"


def doc_block() -> str:
    """Return the doc's first YAML block."""
    return re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)


def test_doc_example_keeps_the_token_out_of_the_file():
    example = yaml.safe_load(doc_block())["integrations"][0]

    assert example["provider"] == "canvas"
    assert example["credentials"] == {"access_token": "${CANVAS_TOKEN}"}
    assert "/api/v1" not in example["base_url"]


@pytest.mark.django_db
def test_doc_example_applies_and_syncs_against_the_fake(canvas):
    text = doc_block().replace("https://canvas.example.edu", canvas.base_url)

    plan = apply_document(
        parse_document(text, format="yaml"), environ={"CANVAS_TOKEN": TOKEN}
    )

    assert plan.counts()["created"] == 1
    integration = Integration.objects.get(name="canvas-main")
    assert integration.settings["account_id"] == 1
    runs = run_sync_now(integration)
    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    assert sum(run.failed for run in runs) == 0
    assert Course.objects.filter(integration=integration).count() == 5
    # The example syncs teaching assistants too.
    assert Enrollment.objects.filter(role="ta").count() == 1
