"""The example in docs/providers/github.md applies and syncs as written."""

from __future__ import annotations

import pytest
import yaml

from integrations.declarative import apply_document, parse_document
from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Repository
from tests.provider_docs import doc_block


def test_doc_example_keeps_the_token_out_of_the_file():
    example = yaml.safe_load(doc_block("github"))["integrations"][0]

    assert example["provider"] == "github"
    assert example["credentials"] == {"access_token": "${GITHUB_TOKEN}"}


@pytest.mark.django_db
def test_doc_example_applies_and_syncs_against_the_fake(github, octocat, token):
    github.add_org(9, "school", members=[octocat])
    github.add_org_repo("school", "syllabus", readme="Week 1")
    github.add_org_repo("school", "grades", private=True)
    text = doc_block("github").replace("https://api.github.com", github.api_url)

    plan = apply_document(
        parse_document(text, format="yaml"), environ={"GITHUB_TOKEN": token}
    )

    assert plan.counts()["created"] == 1
    integration = Integration.objects.get(name="github-school")
    [run] = run_sync_now(integration)
    assert run.status == SyncStatus.SUCCEEDED
    rows = Repository.objects.filter(integration=integration)
    assert set(rows.values_list("full_name", flat=True)) == {
        "school/syllabus",
        "school/grades",
    }
    assert rows.get(name="syllabus").readme == "Week 1"
