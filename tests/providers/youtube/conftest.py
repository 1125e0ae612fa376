"""Fixtures of the YouTube provider's tests: the fake YouTube and an integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.models import Integration
from tests.conftest import LOOPBACK_HTTP_DEFAULTS
from tests.fakes.youtube import YouTubeFake
from tests.providers.youtube.helpers import Channel, make_youtube_integration


@pytest.fixture(autouse=True)
def _loopback(loopback_http) -> None:
    """Reach the loopback fake with the tests' short retry budget."""
    loopback_http.INTEGRATIONS_HTTP_DEFAULTS = {
        **LOOPBACK_HTTP_DEFAULTS,
        "retry_budget": 3.0,
        "max_retries": 3,
    }


@pytest.fixture
def youtube() -> Iterator[YouTubeFake]:
    """Serve an empty YouTube; tests add the channels and playlists they need."""
    with YouTubeFake() as fake:
        yield fake


@pytest.fixture
def api_key(youtube) -> str:
    """Return an API key the fake accepts."""
    return youtube.add_api_key()


@pytest.fixture
def channel(youtube) -> Channel:
    """A school channel: a 7-video course playlist and a 2-video extra one."""
    return Channel.build(youtube, course=7, extra=2)


@pytest.fixture
def integration(db, youtube, api_key, channel) -> Integration:
    """Return a YouTube integration reading the channel's two playlists by id."""
    return make_youtube_integration(
        youtube, api_key, playlist_ids=[channel.course, channel.extra]
    )
