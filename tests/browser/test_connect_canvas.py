"""A learner connects Canvas in a real browser, sees their courses, disconnects.

The whole round trip runs as a learner's browser makes it: the portal's
Connect button, the Canvas fake's consent page on its own loopback port,
the callback on the live server, the token exchange, the learner's first
sync (run in the server's thread by ``eager_celery``), and the revocation
on disconnect.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.accounts.models import Connection
from tests.accounts.helpers import (
    CLIENT_SECRET,
    LEARNER_CANVAS_ID,
    add_canvas_learner,
    make_app,
    make_learner,
)
from tests.fakes.canvas import CanvasOAuthFake
from tests.providers.canvas.helpers import make_canvas_integration

pytestmark = pytest.mark.browser

CONNECTIONS_PATH = "/accounts/connections/"


@pytest.fixture
def canvas(
    live_server, settings, loopback_http, eager_celery
) -> Iterator[CanvasOAuthFake]:
    """A Canvas whose OAuth client calls back to the live server."""
    settings.PORTAL_SITE_URL = live_server.url
    with CanvasOAuthFake.school() as fake:
        client = fake.oauth.add_client(
            [f"{live_server.url}/accounts/canvas/login/callback/"],
            client_id="canvas-client-id",
            client_secret=CLIENT_SECRET,
        )
        integration = make_canvas_integration(fake, "canvas-main", account_id=1)
        make_app("canvas", client_id=client.client_id, integration=integration)
        # A second service, offered but not connected, as a school has several.
        make_app("github", name="GitHub")
        add_canvas_learner(fake)
        yield fake


def test_learner_connects_canvas_sees_their_courses_and_disconnects(
    browser, screenshot, canvas
):
    browser.force_login(make_learner())

    browser.open(CONNECTIONS_PATH)
    screenshot("connections-before")
    assert browser.text("main h1") == "Connected accounts"
    assert browser.text("#connection-canvas .badge") == "Not connected"
    assert browser.text("#connection-github .badge") == "Not connected"

    browser.press("Connect Canvas")
    screenshot("canvas-consent")
    # The consent page is Canvas's, on the fake's own address.
    assert browser.driver.current_url.startswith(canvas.url)
    assert "wants to use your Canvas account" in browser.text("h1")

    browser.press("Approve")
    screenshot("connected")
    assert browser.path == CONNECTIONS_PATH
    assert browser.text(".messages") == "Canvas is connected as Ada Lovelace."
    card = browser.text("#connection-canvas")
    assert "Connected as Ada Lovelace" in card
    assert browser.text("#connection-canvas .badge") == "Connected"
    connection = Connection.objects.get()
    token = connection.access_token.reveal()
    assert canvas.oauth.user_for(token).id == LEARNER_CANVAS_ID
    # Nothing on the page gives the token away.
    assert token not in browser.driver.page_source

    # On a phone the cards stack and nothing scrolls sideways.
    browser.driver.set_window_size(390, 844)
    browser.open(CONNECTIONS_PATH)
    screenshot("connected-phone")
    assert browser.driver.execute_script(
        "return document.documentElement.scrollWidth"
        " <= document.documentElement.clientWidth"
    )
    canvas_card = browser.find("#connection-canvas").rect
    github_card = browser.find("#connection-github").rect
    assert github_card["y"] >= canvas_card["y"] + canvas_card["height"]
    browser.driver.set_window_size(1280, 900)

    # The first sync ran with the learner's token: their courses are home.
    browser.open("/")
    screenshot("home-with-courses")
    courses = browser.text('section[aria-labelledby="courses-heading"]')
    assert "Introduction to Biology" in courses
    assert "Discrete Mathematics" in courses
    assert "History of Computing" not in courses
    accounts = browser.text('section[aria-labelledby="accounts-heading"]')
    assert "Canvas\nconnected as Ada Lovelace since" in accounts
    # The learner's own integration is their connection, not a platform.
    assert "learner-" not in accounts

    browser.open(CONNECTIONS_PATH)
    browser.press("Disconnect Canvas")
    screenshot("disconnected")
    assert browser.path == CONNECTIONS_PATH
    assert browser.text(".messages") == "Canvas is disconnected and its access revoked."
    assert browser.text("#connection-canvas .badge") == "Not connected"
    assert canvas.oauth.user_for(token) is None
    assert not Connection.objects.exists()
