"""Provider apps and learners for the accounts tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import connection as db_connection

from portal.accounts.models import ProviderApp
from tests import leakcheck

CLIENT_SECRET = leakcheck.secret("oauth-client-secret-5e8d1b")
LEARNER_PASSWORD = leakcheck.secret("learner-password-93kq")
#: Ada's user id in the Canvas fakes of the accounts and browser tests.
LEARNER_CANVAS_ID = 701


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


def add_canvas_learner(canvas) -> None:
    """Give ``canvas`` (a CanvasOAuthFake) Ada, a student of courses 101 and 102."""
    canvas.add_learner(
        LEARNER_CANVAS_ID,
        "Ada Lovelace",
        email="ada@school.example.edu",
        login_id="ada",
        course_ids=[101, 102],
    )


def connect(client, authority, provider: str, *, user=None, deny: bool = False):
    """Run the OAuth dance for the signed-in ``client``; return the last page.

    The portal redirects to the fake's authorize URL; the fake's consent
    page is approved (or denied) as a browser would; the callback URL it
    redirects to is followed on the portal.
    """
    start = client.post(f"/accounts/{provider}/login/?process=connect")
    assert start.status_code == 302, start.content[:300]
    if deny:
        back = authority.deny(start["Location"])
    else:
        back = authority.approve(start["Location"], user)
    parts = urlsplit(back)
    assert f"{parts.scheme}://{parts.netloc}" == "http://testserver", back
    return client.get(f"{parts.path}?{parts.query}", follow=True)


def raw_rows(table: str) -> list[tuple]:
    """Return every row of ``table`` as the database stores it."""
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - a test's own table name
        return list(cursor.fetchall())
