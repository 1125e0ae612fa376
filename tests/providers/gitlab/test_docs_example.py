"""The example in docs/providers/gitlab.md applies and syncs as written."""

from __future__ import annotations

import pytest
import yaml

from integrations.declarative import apply_document, parse_document
from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Repository, RepositoryFile
from tests.provider_docs import doc_block

EXAMPLE_API = "https://gitlab.example.edu/gitlab/api/v4"


def test_doc_example_keeps_the_token_out_of_the_file():
    example = yaml.safe_load(doc_block("gitlab"))["integrations"][0]

    assert example["provider"] == "gitlab"
    assert example["base_url"] == EXAMPLE_API
    assert example["credentials"] == {"access_token": "${GITLAB_TOKEN}"}


@pytest.mark.django_db(transaction=True)
def test_doc_example_applies_and_syncs_against_the_fake(gitlab, ada, token):
    gitlab.add_project(ada, "week-1", namespace="school/python", files=["a.py"])
    text = doc_block("gitlab").replace(EXAMPLE_API, gitlab.api_url)

    plan = apply_document(
        parse_document(text, format="yaml"), environ={"GITLAB_TOKEN": token}
    )

    assert plan.counts()["created"] == 1
    integration = Integration.objects.get(name="gitlab-school")
    runs = run_sync_now(integration)
    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    [row] = Repository.objects.filter(integration=integration)
    assert row.full_name == "school/python/week-1"
    assert set(RepositoryFile.objects.values_list("path", flat=True)) == {"a.py"}
