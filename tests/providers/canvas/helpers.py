"""Payloads, integrations and readers shared by the Canvas provider's tests."""

from __future__ import annotations

from typing import Any

from integrations.models import Credential, Integration
from integrations.providers.base import Page, StreamContext
from integrations.registry import get_provider
from tests import leakcheck
from tests.fakes.canvas import CanvasFake, load_fixture

TOKEN = leakcheck.secret("canvas-admin-token-7f3a9c1e5b")

__all__ = ["TOKEN", "load_fixture", "make_canvas_integration", "read_pages"]


def make_canvas_integration(
    fake: CanvasFake,
    name: str = "canvas-test",
    *,
    token: str | None = TOKEN,
    **settings: Any,
) -> Integration:
    """Create a saved Canvas integration pointed at ``fake``."""
    integration = Integration.objects.create(
        name=name, provider="canvas", base_url=fake.base_url, settings=settings
    )
    if token is not None:
        credential = Credential(integration=integration, key="access_token")
        credential.set_secret(token)
        credential.save()
    return integration


def read_pages(
    integration: Integration,
    stream_name: str,
    cursor: dict[str, Any] | None = None,
    *,
    page_limit: int | None = None,
) -> list[Page]:
    """Return every page a Canvas stream yields from ``cursor``."""
    provider = get_provider("canvas")
    context = StreamContext(
        integration,
        client=provider.build_client(integration),
        settings=integration.settings,
        page_limit=page_limit,
    )
    return list(provider.stream(integration, stream_name).pages(context, cursor))


def read_records(integration: Integration, stream_name: str) -> list[dict[str, Any]]:
    """Return every record a Canvas stream yields, in order."""
    return [
        record
        for page in read_pages(integration, stream_name)
        for record in page.records
    ]
