"""Provider apps and learners for the accounts tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from portal.accounts.models import ProviderApp
from tests import leakcheck

CLIENT_SECRET = leakcheck.secret("oauth-client-secret-5e8d1b")
LEARNER_PASSWORD = leakcheck.secret("learner-password-93kq")


def make_app(provider: str, **fields: Any) -> ProviderApp:
    """Create an enabled provider app with the test client secret."""
    secret = fields.pop("secret", CLIENT_SECRET)
    app = ProviderApp(
        provider=provider,
        name=fields.pop("name", provider.title()),
        client_id=fields.pop("client_id", f"{provider}-client-id"),
        **fields,
    )
    app.set_secret(secret)
    app.save()
    return app


def make_learner(username: str = "ada", email: str = "ada@school.example.edu"):
    """Create a learner who signs in with a password."""
    return get_user_model().objects.create_user(
        username=username, email=email, password=LEARNER_PASSWORD
    )
