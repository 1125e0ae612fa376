"""Fixtures of the Canvas provider's tests: the fake Canvas and integrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.http.factory import forget_clients
from integrations.models import Integration
from integrations.registry import get_provider
from tests.fakes.canvas import CanvasFake
from tests.providers.canvas.helpers import TOKEN, make_canvas_integration


@pytest.fixture(autouse=True)
def _loopback_http(settings) -> Iterator[None]:
    """Let integrations reach the loopback fake, with tiny retry waits."""
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    settings.INTEGRATIONS_HTTP_DEFAULTS = {
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "retry_budget": 2.0,
        "max_retries": 3,
        "backoff_base": 0.001,
        "backoff_cap": 0.005,
    }
    forget_clients()
    yield
    forget_clients()


@pytest.fixture
def canvas() -> Iterator[CanvasFake]:
    """Serve the fixture school: five courses, their assignments and people."""
    with CanvasFake.school(token=TOKEN) as server:
        yield server


@pytest.fixture
def provider():
    """Return the registered Canvas provider."""
    return get_provider("canvas")


@pytest.fixture
def integration(db, canvas) -> Integration:
    """Return a Canvas integration reading account 1, two items a page."""
    return make_canvas_integration(canvas, account_id=1, per_page=2)
