"""Fixtures of the accounts tests: the fake services, wired to the portal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.models import Integration
from tests.accounts.helpers import CLIENT_SECRET, make_app, make_learner
from tests.fakes.canvas import CanvasOAuthFake
from tests.fakes.github import GitHubFake
from tests.fakes.google import GoogleFake
from tests.providers.canvas.helpers import make_canvas_integration

SITE = "http://testserver"


def callback(provider: str) -> str:
    """Return the redirect URI the portal sends for ``provider`` in tests."""
    return f"{SITE}/accounts/{provider}/login/callback/"


@pytest.fixture
def site(settings, loopback_http):
    """Build redirect URIs on the test client's host, and reach loopback fakes."""
    settings.PORTAL_SITE_URL = SITE
    return settings


@pytest.fixture
def ada(client):
    """Sign Ada, a learner with a password, in on the test client."""
    learner = make_learner()
    client.force_login(learner)
    return learner


@pytest.fixture
def canvas(site, db) -> Iterator[CanvasOAuthFake]:
    """A Canvas with an OAuth client, the portal's Canvas integration and app."""
    with CanvasOAuthFake.school() as fake:
        client = fake.oauth.add_client(
            [callback("canvas")],
            client_id="canvas-client-id",
            client_secret=CLIENT_SECRET,
        )
        integration = make_canvas_integration(fake, "canvas-main", account_id=1)
        make_app("canvas", client_id=client.client_id, integration=integration)
        yield fake


@pytest.fixture
def canvas_integration(canvas) -> Integration:
    """Return the school's Canvas integration (the admin's)."""
    return Integration.objects.get(name="canvas-main")


@pytest.fixture
def github(site, db, monkeypatch) -> Iterator[GitHubFake]:
    """A GitHub with an OAuth app, and allauth's GitHub adapter pointed at it.

    allauth computes the adapter's URLs from ``GITHUB_URL`` when its module
    is imported; setting the same attributes is what that setting does.
    """
    from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter

    with GitHubFake() as fake:
        client = fake.oauth.add_client(
            [callback("github")],
            client_id="github-client-id",
            client_secret=CLIENT_SECRET,
        )
        web, api = fake.web_url.rstrip("/"), f"{fake.web_url.rstrip('/')}/api/v3"
        for name, value in {
            "web_url": web,
            "api_url": api,
            "access_token_url": f"{web}/login/oauth/access_token",
            "authorize_url": f"{web}/login/oauth/authorize",
            "profile_url": f"{api}/user",
            "emails_url": f"{api}/user/emails",
        }.items():
            monkeypatch.setattr(GitHubOAuth2Adapter, name, value)
        make_app("github", client_id=client.client_id)
        yield fake


@pytest.fixture
def google(site, db, monkeypatch) -> Iterator[GoogleFake]:
    """A Google with an OAuth client, and allauth's Google adapter pointed at it.

    allauth reads its Google URLs from SOCIALACCOUNT_PROVIDERS at import;
    the attributes set here are what those settings become. The revocation
    URL is the portal's own setting, read at call time.
    """
    from allauth.socialaccount.providers.google import views as google_views

    with GoogleFake() as fake:
        client = fake.oauth.add_client(
            [callback("google")],
            client_id="google-client-id",
            client_secret=CLIENT_SECRET,
        )
        adapter = google_views.GoogleOAuth2Adapter
        monkeypatch.setattr(adapter, "access_token_url", fake.access_token_url)
        monkeypatch.setattr(adapter, "authorize_url", fake.authorize_url)
        monkeypatch.setattr(adapter, "identity_url", fake.identity_url)
        monkeypatch.setattr(adapter, "id_token_issuer", fake.id_token_issuer)
        monkeypatch.setattr(google_views, "CERTS_URL", fake.certs_url)
        monkeypatch.setattr(google_views, "ID_TOKEN_ISSUER", fake.id_token_issuer)
        site.SOCIALACCOUNT_PROVIDERS = {"google": {"REVOKE_URL": fake.revoke_url}}
        make_app("google", client_id=client.client_id)
        yield fake
