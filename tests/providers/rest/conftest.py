"""Fixtures of the generic REST provider's tests: the fake API and integrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations.models import Credential, Integration
from integrations.registry import get_provider
from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import TOKEN, school_collections, school_endpoints


@pytest.fixture(autouse=True)
def _loopback_http(loopback_http) -> None:
    """Let integrations reach loopback fakes, with tiny retry waits."""


@pytest.fixture
def fake() -> Iterator[JsonApiFake]:
    """Serve the school API payloads with bearer auth and Link pagination."""
    server = JsonApiFake(
        collections=school_collections(),
        token=TOKEN,
        envelopes={"progress": "result.items"},
    )
    with server:
        yield server


@pytest.fixture
def provider():
    """Return the registered generic REST provider."""
    return get_provider("rest")


@pytest.fixture
def make_integration(db) -> Callable[..., Integration]:
    """Return a factory of saved REST integrations pointed at a fake."""
    counter = iter(range(1, 1000))

    def make(
        fake: JsonApiFake,
        *,
        credentials: dict[str, str] | None = None,
        **settings: Any,
    ) -> Integration:
        settings.setdefault("endpoints", school_endpoints())
        integration = Integration.objects.create(
            name=f"rest-{next(counter)}",
            provider="rest",
            base_url=fake.base_url,
            settings=settings,
        )
        for key, value in (
            credentials if credentials is not None else {"token": TOKEN}
        ).items():
            credential = Credential(integration=integration, key=key)
            credential.set_secret(value)
            credential.save()
        return integration

    return make
