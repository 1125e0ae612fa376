"""Fixtures of the Vimeo provider's tests: the fake Vimeo and an integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.models import Integration
from tests.conftest import LOOPBACK_HTTP_DEFAULTS
from tests.fakes.vimeo import VimeoFake
from tests.providers.vimeo.helpers import Account, make_vimeo_integration


@pytest.fixture(autouse=True)
def _loopback(loopback_http) -> None:
    """Reach the loopback fake with the tests' short retry budget."""
    loopback_http.INTEGRATIONS_HTTP_DEFAULTS = {
        **LOOPBACK_HTTP_DEFAULTS,
        "retry_budget": 3.0,
        "max_retries": 3,
    }


@pytest.fixture
def vimeo() -> Iterator[VimeoFake]:
    """Serve an empty Vimeo; tests add the users, videos and showcases they need."""
    with VimeoFake() as fake:
        yield fake


@pytest.fixture
def account(vimeo) -> Account:
    """A school account: 5 videos, a showcase of 3 of them, and its token."""
    return Account.build(vimeo, videos=5, showcase=3)


@pytest.fixture
def integration(db, vimeo, account) -> Integration:
    """Return a Vimeo integration reading the account's videos and showcase."""
    return make_vimeo_integration(
        vimeo,
        account.token,
        user_id=account.user_id,
        showcase_ids=[account.showcase],
    )
