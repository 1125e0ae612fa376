"""The repositories stream against the fake GitHub: listing, READMEs, storing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.models import SyncStatus
from integrations.records import README_MAX_BYTES
from integrations.sync.runs import run_sync_now
from portal.learning.models import Repository
from tests.providers.github.helpers import (
    LISTING,
    make_github_integration,
    read_pages,
    read_records,
)

pytestmark = pytest.mark.django_db


def test_a_repository_becomes_a_record_with_its_raw_readme(integration, github):
    records = {r["full_name"]: r for r in read_records(integration)}

    hello = records["octocat/hello-world"]
    assert hello["external_id"] == str(github.repos["583231"][0]["id"])
    assert hello["name"] == "hello-world"
    assert hello["owner_login"] == "octocat"
    assert hello["url"] == "https://github.com/octocat/hello-world"
    assert hello["description"] == "My first repository"
    assert hello["language"] == "Python"
    assert hello["topics"] == ["python", "teaching"]
    assert hello["stargazers_count"] == 42
    assert hello["default_branch"] == "main"
    assert (hello["visibility"], hello["private"]) == ("public", False)
    assert hello["readme"] == "# Hello World\n\nMy first repository.\n"
    assert hello["readme_truncated"] is False
    assert hello["pushed_at"] == datetime(2025, 1, 1, tzinfo=UTC)
    [readme_call] = github.requests_to("/api/v3/repos/octocat/hello-world/readme")
    assert readme_call.header("Accept") == "application/vnd.github.raw+json"
    assert readme_call.header("X-GitHub-Api-Version") == "2022-11-28"


def test_a_repository_without_readme_gets_an_empty_one(integration, github):
    records = {r["full_name"]: r for r in read_records(integration)}

    assert records["octocat/no-readme"]["readme"] == ""
    assert github.count("/api/v3/repos/octocat/no-readme/readme") == 1


def test_private_repositories_come_with_the_repo_scope_only(db, github, octocat):
    narrow = github.issue_token(octocat, ["read:user"])
    integration = make_github_integration(github, narrow)

    names = [r["name"] for r in read_records(integration)]

    assert names == ["hello-world", "no-readme"]


def test_next_links_are_followed_exactly_as_given(db, github, octocat, token):
    github.add_repos(octocat, 250, prefix="course")
    # README calls aside: 250 of them would meet the provider's own pacing.
    integration = make_github_integration(github, token, readmes=False)

    pages = read_pages(integration)

    listing = github.requests_to(LISTING)
    assert [len(page.records) for page in pages] == [100, 100, 53]
    assert listing[0].arg("per_page") == "100"
    assert listing[0].arg("affiliation") == "owner,collaborator,organization_member"
    assert listing[0].arg("visibility") == "all"
    assert listing[0].arg("page") is None
    for page, following in zip(pages, listing[1:], strict=False):
        assert following.target == page.next_cursor["url"].removeprefix(github.url)
    assert pages[-1].next_cursor is None
    ids = [r["external_id"] for page in pages for r in page.records]
    assert len(set(ids)) == 253
    assert github.count() == 3


def test_a_stored_cursor_resumes_at_its_page(db, github, octocat, token):
    github.add_repos(octocat, 150)
    integration = make_github_integration(github, token, readmes=False)
    first, second = read_pages(integration)
    github.clear()

    resumed = read_pages(integration, first.next_cursor)

    assert [r["external_id"] for r in resumed[0].records] == [
        r["external_id"] for r in second.records
    ]
    assert github.requests_to(LISTING)[0].arg("page") == "2"


def test_a_cursor_of_another_listing_restarts_the_pass(db, github, octocat, token):
    integration = make_github_integration(github, token)
    stale = {"url": f"{github.api_url}/orgs/other/repos?page=3"}

    pages = read_pages(integration, stale)

    assert len(pages[0].records) == 3
    assert github.count("/api/v3/orgs/other/repos") == 0


def test_an_organization_lists_its_own_repositories(db, github, octocat, token):
    github.add_org(9, "school", members=[octocat])
    github.add_org_repo("school", "syllabus", readme="Week 1")
    github.add_org_repo("school", "grades", private=True)
    integration = make_github_integration(github, token, org="school")

    records = read_records(integration)

    assert [r["full_name"] for r in records] == ["school/syllabus", "school/grades"]
    assert records[0]["readme"] == "Week 1"
    assert github.requests_to("/api/v3/orgs/school/repos")[0].arg("type") == "all"
    assert github.count(LISTING) == 0


def test_a_long_readme_is_cut_and_marked(db, github, octocat, token):
    github.add_repo(octocat, "big", readme="é" * README_MAX_BYTES)
    integration = make_github_integration(github, token)

    big = next(r for r in read_records(integration) if r["name"] == "big")

    assert big["readme_truncated"] is True
    # Two bytes a character: the cut falls between characters, none broken.
    assert big["readme"] == "é" * (README_MAX_BYTES // 2)


def test_a_bad_repository_is_a_failure_and_the_rest_is_stored(
    db, github, octocat, token
):
    github.add_repo(octocat, "odd", topics="not-a-list")
    integration = make_github_integration(github, token)

    [page] = read_pages(integration)

    assert [f["reason"] for f in page.failures] == ["topics: expected a list of names"]
    assert len(page.records) == 3


def test_a_sync_stores_rows_then_finds_them_unchanged(db, github, octocat, token):
    integration = make_github_integration(github, token)

    [first] = run_sync_now(integration)
    github.clear()
    [second] = run_sync_now(integration)

    assert first.status == second.status == SyncStatus.SUCCEEDED
    assert (first.created, first.unchanged) == (3, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    # Nothing was pushed since: every README is reused, none fetched again.
    assert [r.path for r in github.requests] == [LISTING]
    row = Repository.objects.get(full_name="octocat/hello-world")
    assert row.readme.startswith("# Hello World")
    assert row.learner is None
    assert row.topics == ["python", "teaching"]


def test_a_push_fetches_the_readme_again(db, github, octocat, token):
    integration = make_github_integration(github, token)
    run_sync_now(integration)
    repo = github.repos["583231"][0]
    repo["pushed_at"] = "2025-02-01T00:00:00Z"
    github.readmes[repo["id"]] = "# Hello again"
    github.clear()

    [run] = run_sync_now(integration)

    assert (run.updated, run.unchanged) == (1, 2)
    assert github.count("/api/v3/repos/octocat/hello-world/readme") == 1
    assert Repository.objects.get(external_id=str(repo["id"])).readme == (
        "# Hello again"
    )


def test_a_full_sync_fetches_every_readme(db, github, octocat, token):
    integration = make_github_integration(github, token)
    run_sync_now(integration)
    github.clear()

    run_sync_now(integration, full=True)

    assert github.count("/api/v3/repos/octocat/no-readme/readme") == 1


def test_a_repository_removed_at_github_is_marked_deleted(db, github, octocat, token):
    integration = make_github_integration(github, token)
    run_sync_now(integration)
    github.remove_repo("octocat/no-readme")

    [run] = run_sync_now(integration)

    assert run.deleted == 1
    gone = Repository.objects.get(full_name="octocat/no-readme")
    assert gone.deleted_at is not None
    assert Repository.objects.filter(deleted_at__isnull=True).count() == 2


def test_the_public_api_is_the_default_base_url(db, github, token):
    integration = make_github_integration(github, token, base_url="")

    client = integration_client(integration)

    assert client.base_url == "https://api.github.com"


def integration_client(integration):
    from integrations.registry import get_provider

    return get_provider("github").build_client(integration)


def test_the_root_layout_of_api_github_com_works_too(db, github, token):
    integration = make_github_integration(github, token, base_url=github.url)

    records = read_records(integration)

    assert len(records) == 3
    assert github.count("/user/repos") == 1


def test_readmes_turned_on_later_are_read_although_nothing_was_pushed(
    db, github, octocat, token
):
    integration = make_github_integration(github, token, readmes=False)
    run_sync_now(integration)
    assert github.count("/api/v3/repos/octocat/hello-world/readme") == 0
    integration.settings = {"readmes": True}
    integration.save()

    [run] = run_sync_now(integration)

    assert run.updated == 3
    hello = Repository.objects.get(full_name="octocat/hello-world")
    assert hello.readme.startswith("# Hello World")
    assert hello.readme_read
