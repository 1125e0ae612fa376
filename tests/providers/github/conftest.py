"""Fixtures of the GitHub provider's tests: the fake GitHub and an integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

from integrations.models import Integration
from integrations.sync.runs import run_sync_now
from portal.learning.models import Repository
from tests import leakcheck
from tests.conftest import LOOPBACK_HTTP_DEFAULTS
from tests.fakes.github import GitHubFake
from tests.fakes.oauth import OAuthUser
from tests.providers.github.helpers import make_github_integration


@pytest.fixture(autouse=True)
def _loopback(loopback_http) -> None:
    """Reach the loopback fake; give retries room for a reset a second off."""
    loopback_http.INTEGRATIONS_HTTP_DEFAULTS = {
        **LOOPBACK_HTTP_DEFAULTS,
        "retry_budget": 3.0,
        "max_retries": 3,
    }


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    """Serve an empty GitHub; tests add the users and repositories they need."""
    with GitHubFake() as fake:
        yield fake


@pytest.fixture
def octocat(github) -> OAuthUser:
    """A GitHub user with three repositories: two with a README, one private."""
    user = github.add_user(583231, "octocat", name="The Octocat")
    github.add_repo(
        user,
        "hello-world",
        readme="# Hello World\n\nMy first repository.\n",
        description="My first repository",
        language="Python",
        topics=["teaching", "python"],
        stargazers_count=42,
    )
    github.add_repo(user, "no-readme")
    github.add_repo(user, "secret-notes", private=True, readme="private notes")
    return user


@pytest.fixture
def token(github, octocat) -> str:
    """Return a token of octocat's with the ``repo`` scope."""
    return leakcheck.secret(github.issue_token(octocat, ["repo"]))


@pytest.fixture
def integration(db, github, token) -> Integration:
    """Return a GitHub integration reading octocat's repositories."""
    return make_github_integration(github, token)


@pytest.fixture
def repository(integration, octocat) -> Repository:
    """The school's synced hello-world repository."""
    run_sync_now(integration)
    return Repository.objects.get(integration=integration, name="hello-world")


@pytest.fixture
def learner():
    """A learner who reports problems."""
    return get_user_model().objects.create_user(
        "ada", "ada@school.example.edu", "pw-not-used"
    )
