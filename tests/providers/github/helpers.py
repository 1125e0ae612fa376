"""Integrations and readers shared by the GitHub provider's tests."""

from __future__ import annotations

from typing import Any

from integrations.models import Credential, Integration
from integrations.providers.base import Page, StreamContext
from integrations.registry import get_provider
from tests.fakes.github import GitHubFake

LISTING = "/api/v3/user/repos"


def make_github_integration(
    fake: GitHubFake,
    token: str | None,
    name: str = "github-test",
    *,
    base_url: str | None = None,
    **settings: Any,
) -> Integration:
    """Create a saved GitHub integration; by default on the Enterprise layout."""
    integration = Integration.objects.create(
        name=name,
        provider="github",
        base_url=fake.api_url if base_url is None else base_url,
        settings=settings,
    )
    if token is not None:
        Credential.objects.create(
            integration=integration, key="access_token", value=token
        )
    return integration


def read_pages(
    integration: Integration, cursor: dict[str, Any] | None = None
) -> list[Page]:
    """Return every page the repositories stream yields from ``cursor``."""
    provider = get_provider("github")
    stream = provider.stream(integration, "repositories")
    context = StreamContext(
        integration, provider.build_client(integration), integration.settings
    )
    return list(stream.pages(context, cursor))


def read_records(integration: Integration) -> list[dict[str, Any]]:
    """Return every repository record the stream yields, in order."""
    return [record for page in read_pages(integration) for record in page.records]
