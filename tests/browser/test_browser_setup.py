"""How the browser fixtures find Chromium, skip without it, and watch for leaks."""

from __future__ import annotations

import stat

import pytest

from tests.browser.conftest import (
    SCREENSHOT_ROOT,
    BrowserNotFound,
    find_browser,
    require_browser,
)


def make_executable(path):
    """Write a do-nothing executable at ``path`` and return its name."""
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_named_browser_and_driver_are_used(tmp_path):
    browser = make_executable(tmp_path / "chrome")
    driver = make_executable(tmp_path / "chromedriver")

    found = find_browser({"PORTAL_BROWSER": browser, "PORTAL_CHROMEDRIVER": driver})

    assert (found.browser, found.driver) == (browser, driver)


def test_missing_browser_is_named_with_how_to_install_it(tmp_path):
    missing = str(tmp_path / "no-chromium")

    with pytest.raises(BrowserNotFound) as raised:
        find_browser({"PORTAL_BROWSER": missing})

    assert missing in str(raised.value)
    assert "apt-get install chromium chromium-driver" in str(raised.value)


def test_missing_driver_is_named(tmp_path):
    browser = make_executable(tmp_path / "chrome")
    missing = str(tmp_path / "no-chromedriver")

    with pytest.raises(BrowserNotFound, match="no chromedriver at .*no-chromedriver"):
        find_browser({"PORTAL_BROWSER": browser, "PORTAL_CHROMEDRIVER": missing})


def test_missing_browser_skips_by_default():
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        require_browser("no Chromium at /nowhere", {})


def test_missing_browser_fails_when_required():
    with pytest.raises(pytest.fail.Exception, match="PORTAL_REQUIRE_BROWSER=1"):
        require_browser("no Chromium at /nowhere", {"PORTAL_REQUIRE_BROWSER": "1"})


@pytest.mark.browser
@pytest.mark.allow_secret_leak("checks that a secret on a page is caught")
def test_live_server_pages_are_leak_checked(browser, leakcheck, make_secret):
    secret = make_secret("next")

    # allauth keeps ?next= in a hidden field of the sign-in form.
    browser.open(f"/accounts/login/?next=/{secret}/")

    sources = [leak.source for leak in leakcheck.find_leaks()]
    assert "response to GET /accounts/login/ (body)" in sources


@pytest.mark.browser
def test_screenshots_are_numbered_in_the_test_folder(browser, screenshot):
    browser.open("/")

    first = screenshot("home page")
    second = screenshot("home page")

    folder = SCREENSHOT_ROOT / "test_screenshots_are_numbered_in_the_test_folder"
    assert [first, second] == [folder / "01-home-page.png", folder / "02-home-page.png"]
    assert first.read_bytes().startswith(b"\x89PNG")


@pytest.mark.browser
def test_force_login_signs_the_browser_in_without_the_form(browser, django_user_model):
    browser.force_login(django_user_model.objects.create_user("grace"))

    browser.open("/")

    assert browser.text(".site-nav__user") == "grace"
    assert browser.text("main h1") == "My learning"
