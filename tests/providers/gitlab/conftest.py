"""Fixtures of the GitLab provider's tests: the fake GitLab and an integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.models import Credential, Integration
from tests.conftest import LOOPBACK_HTTP_DEFAULTS
from tests.fakes.gitlab import GitLabFake
from tests.fakes.oauth import OAuthUser


@pytest.fixture(autouse=True)
def _loopback(loopback_http) -> None:
    """Reach the loopback fake; let retries wait out a zero Retry-After."""
    loopback_http.INTEGRATIONS_HTTP_DEFAULTS = {
        **LOOPBACK_HTTP_DEFAULTS,
        "retry_budget": 3.0,
        "max_retries": 3,
    }


@pytest.fixture
def gitlab() -> Iterator[GitLabFake]:
    """Serve a self-managed GitLab under /gitlab; tests add what they need."""
    with GitLabFake(prefix="/gitlab") as fake:
        yield fake


@pytest.fixture
def ada(gitlab) -> OAuthUser:
    """A GitLab user with two projects: one with nested files, one empty."""
    user = gitlab.add_user(4242, "ada.l", name="Ada Lovelace")
    gitlab.add_project(
        user,
        "engine",
        files=["README.md", "src/main.py", "src/notes/loops.md"],
        description="The analytical engine",
        topics=["math", "history"],
    )
    gitlab.add_project(user, "empty", files=[], default_branch=None)
    return user


@pytest.fixture
def token(gitlab, ada) -> str:
    """Return a personal access token of Ada's with read_api."""
    return gitlab.add_personal_token(ada)


def make_gitlab_integration(
    fake: GitLabFake, token: str | None, name: str = "gitlab-test", **settings
) -> Integration:
    """Create a saved GitLab integration on the fake's /api/v4."""
    integration = Integration.objects.create(
        name=name, provider="gitlab", base_url=fake.api_url, settings=settings
    )
    if token is not None:
        Credential.objects.create(
            integration=integration, key="access_token", value=token
        )
    return integration


@pytest.fixture
def integration(db, gitlab, token) -> Integration:
    """Return a GitLab integration reading Ada's projects."""
    return make_gitlab_integration(gitlab, token)
