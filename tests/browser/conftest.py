"""Fixtures of the tests that drive a real, headless Chromium against the portal.

A browser test is marked ``browser`` and asks for ``browser``, a
:class:`LiveBrowser` on pytest-django's ``live_server``, and ``screenshot`` to
keep what it saw::

    pytestmark = pytest.mark.browser

    def test_learner_sees_their_home_page(browser, screenshot, django_user_model):
        browser.force_login(django_user_model.objects.create_user("ada"))
        browser.open("/")
        screenshot("home")
        assert browser.text("h1") == "My learning"

The browser is Debian's chromium, driven by Selenium through Debian's
chromedriver from the same source package, so the two always match and
nothing is downloaded (Selenium Manager is never asked: the driver's path is
always given). PORTAL_BROWSER names another Chromium or Chrome binary,
PORTAL_CHROMEDRIVER another driver. When either is missing the test is
skipped with how to install it, unless PORTAL_REQUIRE_BROWSER=1 (CI), where
that is a failure.

Screenshots go to ``test-output/screenshots/<test name>/`` at the repository
root, numbered in the order they were taken; the folder is emptied when the
test starts, and a test that fails leaves one more, ``failure.png``.

live_server runs the portal in a thread of this process on a transactional
database: rows a test creates are committed, so the server sees them, and
what the ``settings`` fixture changes (the suite's cheap password hasher, the
per-test cache) applies to the server too. Its responses never pass through
``django.test.Client``, so an autouse fixture here hands them to the leak
checker itself.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase
from django.test import Client
from django.urls import reverse
from selenium import webdriver
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.leakcheck import LeakChecker

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_ROOT = REPOSITORY_ROOT / "test-output" / "screenshots"

DEFAULT_BROWSER = "/usr/bin/chromium"
#: Looked up on PATH, where Debian's chromium-driver and Homebrew put it.
DEFAULT_DRIVER = "chromedriver"
INSTALL_HINT = (
    "on Debian install it with `sudo apt-get install chromium chromium-driver`; "
    "elsewhere point PORTAL_BROWSER and PORTAL_CHROMEDRIVER at a Chromium or "
    "Chrome and its chromedriver (Ubuntu, macOS: see docs/testing.md)"
)

#: Seconds an explicit wait gives the page before the test fails.
WAIT_SECONDS = 10

CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--window-size=1280,1000",
    # Chromium's sandbox refuses to start as root (CI, containers); the browser
    # only ever visits the portal on loopback, so there is nothing to contain.
    "--no-sandbox",
    # Containers often give /dev/shm only 64 MB, where Chromium crashes.
    "--disable-dev-shm-usage",
)
CHROMIUM_PREFERENCES = {
    # The password manager would offer to save the test password and check it
    # against Google's leak database, a request that has nowhere to go here.
    "credentials_enable_service": False,
    "profile.password_manager_enabled": False,
    "profile.password_manager_leak_detection": False,
}


def _slug(text: str) -> str:
    # Test names carry brackets and spaces when parametrized; keep file names
    # that a shell or a CI artefact upload takes without quoting.
    return re.sub(r"[^\w.-]+", "-", text).strip("-")


class BrowserNotFound(Exception):
    """The browser or its driver is not installed where the tests look."""


@dataclass(frozen=True)
class BrowserBinaries:
    """The Chromium binary and the chromedriver that drives it."""

    browser: str
    driver: str


def find_browser(environ: Mapping[str, str] = os.environ) -> BrowserBinaries:
    """Return the browser and driver to use, or raise BrowserNotFound saying why."""
    wanted_browser = environ.get("PORTAL_BROWSER") or DEFAULT_BROWSER
    browser = shutil.which(wanted_browser)
    if browser is None:
        raise BrowserNotFound(f"no Chromium at {wanted_browser}: {INSTALL_HINT}")

    wanted_driver = environ.get("PORTAL_CHROMEDRIVER") or DEFAULT_DRIVER
    driver = shutil.which(wanted_driver)
    if driver is None:
        raise BrowserNotFound(f"no chromedriver at {wanted_driver}: {INSTALL_HINT}")
    return BrowserBinaries(browser=browser, driver=driver)


def require_browser(reason: str, environ: Mapping[str, str] = os.environ) -> NoReturn:
    """Skip (or fail, when PORTAL_REQUIRE_BROWSER=1) for a missing browser."""
    if environ.get("PORTAL_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"a browser is required (PORTAL_REQUIRE_BROWSER=1): {reason}", pytrace=False
        )
    pytest.skip(reason)


def start_chromium(binaries: BrowserBinaries) -> WebDriver:
    """Start a headless Chromium with a fresh profile and return its driver."""
    options = ChromeOptions()
    options.binary_location = binaries.browser
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_experimental_option("prefs", CHROMIUM_PREFERENCES)
    service = ChromeService(executable_path=binaries.driver)
    return webdriver.Chrome(options=options, service=service)


class LiveBrowser:
    """A headless Chromium bound to the live server.

    ``driver`` is Selenium's WebDriver for everything the helpers here do not
    cover; paths given to the helpers are relative to the live server.
    """

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def url(self, path: str) -> str:
        """Return the live server's absolute URL of ``path``."""
        return self.base_url + path

    def open(self, path: str) -> None:
        """Load ``path`` from the live server; return once the page has loaded."""
        self.driver.get(self.url(path))

    @property
    def path(self) -> str:
        """Return the path, and query if any, of the page the browser shows."""
        parts = urlsplit(self.driver.current_url)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path

    def find(self, css: str) -> WebElement:
        """Wait until an element matching ``css`` is visible, and return it."""
        return WebDriverWait(self.driver, WAIT_SECONDS).until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
        )

    def text(self, css: str = "body") -> str:
        """Return the visible text of the first element matching ``css``."""
        return self.find(css).text

    def fill(self, name: str, value: str) -> None:
        """Replace what the form field called ``name`` holds with ``value``."""
        field = self.find(f'[name="{name}"]')
        field.clear()
        field.send_keys(value)

    def submit(self, css: str = 'main [type="submit"]') -> None:
        """Click the submit button matching ``css`` and wait for the next page."""
        self._click_and_wait(self.find(css))

    def press(self, label: str) -> None:
        """Click the button whose text is ``label`` and wait for the next page.

        For pages the portal does not render (a service's consent page), where
        no CSS hook is there to find the button by.
        """
        locator = (By.XPATH, f'//button[normalize-space()="{label}"]')
        button = WebDriverWait(self.driver, WAIT_SECONDS).until(
            expected_conditions.element_to_be_clickable(locator)
        )
        self._click_and_wait(button)

    def _click_and_wait(self, button: WebElement) -> None:
        page = self.driver.find_element(By.TAG_NAME, "html")
        button.click()
        WebDriverWait(self.driver, WAIT_SECONDS).until(
            expected_conditions.staleness_of(page)
        )

    def force_login(self, user: AbstractBaseUser) -> None:
        """Sign ``user`` in without the form, like ``Client.force_login``."""
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME]
        # WebDriver sets cookies only for the site of the page it shows, so a
        # page of the live server comes first; the probe is the cheapest one.
        self.open(reverse("healthz"))
        self.driver.add_cookie(
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session.value,
                "path": "/",
                "httpOnly": True,
                "sameSite": "Lax",
            }
        )


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:
    """Keep each phase's report on the test, for the failure screenshot."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(node: pytest.Item) -> bool:
    reports = node.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


@pytest.fixture(autouse=True)
def _leakcheck_live_server(leakcheck: LeakChecker) -> Iterator[None]:
    """Hand the live server's responses to the leak checker, as the client's are."""
    original = BaseHandler.get_response

    @functools.wraps(original)
    def get_response(handler: BaseHandler, request: HttpRequest) -> HttpResponseBase:
        response = original(handler, request)
        # The test client leaves the WSGI environ here, which the checker reads
        # to name the response; the live server's responses get the same.
        response.request = request.META  # type: ignore[attr-defined]
        leakcheck.capture_response(response)
        return response

    # The server thread looks the method up on every request, so the patch
    # reaches it; it is undone before the leak checker reads what it caught.
    BaseHandler.get_response = get_response  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseHandler.get_response = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def browser_binaries() -> BrowserBinaries:
    """Return the browser and driver, or skip (fail under PORTAL_REQUIRE_BROWSER=1)."""
    try:
        return find_browser()
    except BrowserNotFound as missing:
        require_browser(str(missing))


@pytest.fixture
def screenshot_dir(request: pytest.FixtureRequest) -> Path:
    """Return this test's screenshot folder, emptied of an earlier run's files."""
    folder = SCREENSHOT_ROOT / _slug(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    return folder


@pytest.fixture
def browser(
    request: pytest.FixtureRequest,
    browser_binaries: BrowserBinaries,
    live_server: Any,
    screenshot_dir: Path,
) -> Iterator[LiveBrowser]:
    """Return a headless Chromium bound to ``live_server``, closed after the test."""
    if request.node.get_closest_marker("browser") is None:
        pytest.fail(
            "a test that uses the browser fixture must be marked "
            "@pytest.mark.browser, so that -m 'not browser' leaves it out",
            pytrace=False,
        )
    driver = start_chromium(browser_binaries)
    try:
        yield LiveBrowser(driver, live_server.url)
        if _failed(request.node):
            screenshot_dir.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot_dir / "failure.png"))
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser: LiveBrowser, screenshot_dir: Path) -> Callable[[str], Path]:
    """Return ``screenshot(name)``: save what the browser shows, return the path.

    Files are named ``01-<name>.png``, ``02-<name>.png``, ... in the order the
    test took them.
    """
    numbers = itertools.count(1)

    def take(name: str) -> Path:
        path = screenshot_dir / f"{next(numbers):02d}-{_slug(name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(browser.driver.get_screenshot_as_png())
        return path

    return take
