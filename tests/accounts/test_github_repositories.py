"""A learner connects GitHub and their repositories sync with their token.

Against GitHubFake: the OAuth app flow of the other accounts tests, then the
learner integration's syncs (``/user/repos`` over several ``Link`` pages,
each repository's README), unchanged and deleted repositories, a private
repository that only the ``repo`` scope shows, and a token the learner
revoked, which fails the sync at once.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from integrations.models import Integration, SyncRun, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.accounts.learner_sync import GITHUB_SCHEDULE, learner_integration_name
from portal.accounts.models import Connection, ConnectionStatus, ProviderApp
from portal.learning.models import Repository
from tests.accounts.helpers import connect, make_learner

pytestmark = pytest.mark.django_db(transaction=True)

#: Enough for the listing to take two pages of 100.
MANY = 103


@pytest.fixture
def ada(client):
    learner = make_learner()
    client.force_login(learner)
    return learner


@pytest.fixture
def octo(github):
    """Ada's GitHub account: many repositories, one README, one private."""
    user = github.add_user(9001, "ada-l", name="Ada L", email="ada@school.example.edu")
    github.add_repos(user, MANY, prefix="exercise")
    github.add_repo(
        user, "analytical-engine", readme="# Notes\n", topics=["history", "math"]
    )
    github.add_repo(user, "bare")
    github.add_repo(user, "diary", private=True, readme="secret")
    return user


def connected_integration(client, github, octo) -> Integration:
    connect(client, github.oauth, "github", user=octo)
    connection = Connection.objects.get()
    return Integration.objects.get(name=learner_integration_name(connection))


def live_names(integration: Integration) -> set[str]:
    rows = Repository.objects.filter(integration=integration, deleted_at__isnull=True)
    return set(rows.values_list("name", flat=True))


def test_connecting_github_syncs_the_learners_repositories(client, ada, github, octo):
    integration = connected_integration(client, github, octo)

    assert integration.provider == "github"
    assert integration.base_url == github.api_url
    assert integration.settings["affiliation"] == ["owner", "collaborator"]
    assert integration.schedule == GITHUB_SCHEDULE
    assert not integration.credentials.exists()
    assert set(
        SyncRun.objects.filter(integration=integration).values_list("status", flat=True)
    ) == {"queued"}

    [run] = run_sync_now(integration)

    assert run.status == SyncStatus.SUCCEEDED
    assert run.created == MANY + 2
    names = live_names(integration)
    assert "diary" not in names  # private: the default scopes do not show it
    assert {"analytical-engine", "bare", "exercise-001", "exercise-103"} <= names
    rows = Repository.objects.filter(integration=integration)
    assert set(rows.values_list("learner", flat=True)) == {ada.pk}
    assert rows.get(name="analytical-engine").readme == "# Notes\n"
    assert rows.get(name="analytical-engine").topics == ["history", "math"]
    assert rows.get(name="bare").readme == ""

    listing = github.requests_to("/api/v3/user/repos")
    assert len(listing) == 2
    assert listing[0].arg("affiliation") == "owner,collaborator"
    token = Connection.objects.get().access_token.reveal()
    assert all(r.header("Authorization") == f"Bearer {token}" for r in listing)


def test_the_learner_reads_their_repositories_through_the_api(
    client, ada, github, octo
):
    integration = connected_integration(client, github, octo)
    run_sync_now(integration)
    other = make_learner("grace", "grace@school.example.edu")
    api = APIClient()

    api.force_authenticate(ada)
    mine = api.get("/api/v1/repositories/", {"page_size": 200}).json()
    api.force_authenticate(other)
    theirs = api.get("/api/v1/repositories/").json()

    assert len(mine["results"]) == MANY + 2
    assert {row["integration"] for row in mine["results"]} == {integration.name}
    assert theirs["results"] == []


def test_the_repo_scope_brings_the_private_repository(client, ada, github, octo):
    ProviderApp.objects.filter(provider="github").update(
        scopes="read:user user:email repo"
    )
    integration = connected_integration(client, github, octo)

    [run] = run_sync_now(integration)

    assert run.status == SyncStatus.SUCCEEDED
    diary = Repository.objects.get(integration=integration, name="diary")
    assert diary.private
    assert diary.visibility == "private"
    assert diary.readme == "secret"


def test_a_second_sync_finds_everything_unchanged(client, ada, github, octo):
    integration = connected_integration(client, github, octo)
    run_sync_now(integration)
    github.clear()

    [run] = run_sync_now(integration)

    assert run.status == SyncStatus.SUCCEEDED
    assert (run.created, run.updated, run.unchanged, run.deleted) == (
        0,
        0,
        MANY + 2,
        0,
    )
    # Nothing was pushed to: only the listing was read, no README again.
    assert {r.path for r in github.requests} == {"/api/v3/user/repos"}


def test_a_repository_removed_at_github_is_marked_deleted(client, ada, github, octo):
    integration = connected_integration(client, github, octo)
    run_sync_now(integration)
    github.remove_repo("ada-l/bare")

    [run] = run_sync_now(integration)

    assert run.deleted == 1
    bare = Repository.objects.get(integration=integration, name="bare")
    assert bare.deleted_at is not None
    assert "bare" not in live_names(integration)


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_token_github_no_longer_accepts_fails_the_sync_once(
    client, ada, github, octo, how
):
    integration = connected_integration(client, github, octo)
    run_sync_now(integration)
    token = Connection.objects.get().access_token.reveal()
    if how == "revoked":
        github.oauth.revoke(token)
    else:
        github.oauth.expire_tokens(octo)
    github.clear()

    [run] = run_sync_now(integration)

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert "connect GitHub again" in run.error_summary
    assert run.attempts == 1
    # One refused request, no retry loop: GitHub OAuth app tokens have no
    # refresh token to try.
    assert github.count("/api/v3/user/repos") == 1
    assert github.count() == 1
    connection = Connection.objects.get()
    assert connection.status == ConnectionStatus.NEEDS_REAUTHORIZATION
    integration.refresh_from_db()
    assert not integration.enabled
    assert len(live_names(integration)) == MANY + 2
