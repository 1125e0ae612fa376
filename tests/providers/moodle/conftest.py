"""Fixtures of the Moodle provider's tests: the fake site and integrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations.models import Integration
from integrations.registry import get_provider
from tests.fakes.moodle import MoodleFake
from tests.providers.moodle.helpers import make_moodle_integration, school_fake


@pytest.fixture(autouse=True)
def _loopback_http(loopback_http) -> None:
    """Let integrations reach loopback fakes, with tiny retry waits."""


@pytest.fixture
def moodle() -> Iterator[MoodleFake]:
    """Serve the school on a fake Moodle."""
    with school_fake() as fake:
        yield fake


@pytest.fixture
def provider():
    """Return the registered Moodle provider."""
    return get_provider("moodle")


@pytest.fixture
def make_integration(db) -> Callable[..., Integration]:
    """Return a factory of saved Moodle integrations pointed at a fake."""
    counter = iter(range(1, 1000))

    def make(fake: MoodleFake, **options: Any) -> Integration:
        options.setdefault("name", f"moodle-{next(counter)}")
        return make_moodle_integration(fake, **options)

    return make


@pytest.fixture
def integration(make_integration, moodle) -> Integration:
    """Return a saved Moodle integration for the school, two users a window."""
    return make_integration(moodle, page_size=2)
