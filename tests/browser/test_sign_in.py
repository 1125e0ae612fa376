"""Signing in through allauth's form in a real browser, as a learner does."""

from __future__ import annotations

import pytest
from django.conf import settings
from selenium.webdriver.common.by import By

from tests.test_home import enroll, make_integration

pytestmark = pytest.mark.browser

LOGIN_PATH = "/accounts/login/"


@pytest.fixture
def password(make_secret) -> str:
    """Return the learner's password, registered so no page may show it."""
    return make_secret("password")


@pytest.fixture
def learner(django_user_model, password):
    """Create a learner (not staff) who signs in with ``password``."""
    return django_user_model.objects.create_user(
        "ada", email="ada@example.edu", password=password
    )


def test_learner_signs_in_with_the_form_and_sees_their_learning(
    browser, screenshot, learner, password
):
    enroll(learner, make_integration("canvas-main"), 1, percent="40", grade="B+")

    browser.open(LOGIN_PATH)
    screenshot("sign-in-form")
    assert browser.text("main h1") == "Sign In"
    browser.fill("login", "ada")
    browser.fill("password", password)
    screenshot("filled-in")
    browser.submit()
    screenshot("home")

    assert browser.path == "/"
    assert browser.driver.title == "My learning · ORCATech portal"
    assert browser.text(".messages") == "Successfully signed in as ada."
    assert browser.text("main h1") == "My learning"
    courses = browser.text('section[aria-labelledby="courses-heading"]')
    assert "Course 01" in courses and "C-1" in courses
    progress = browser.text('section[aria-labelledby="progress-heading"]')
    assert "Course 01" in progress
    assert "40%" in progress and "B+" in progress and "not yet" in progress
    accounts = browser.text('section[aria-labelledby="accounts-heading"]')
    assert "No account is connected yet." in accounts
    # A learner's header: their name and a way out, none of the staff links.
    assert browser.text(".site-nav__user") == "ada"
    assert browser.find(".site-nav button").text == "Sign out"
    assert not browser.driver.find_elements(By.LINK_TEXT, "Sign in")
    assert not browser.driver.find_elements(By.LINK_TEXT, "Admin")
    assert "canvas-main" not in browser.text()


def test_wrong_password_shows_the_error_and_does_not_sign_in(
    browser, screenshot, learner, make_secret
):
    wrong_password = make_secret("wrong-password")

    browser.open(LOGIN_PATH)
    browser.fill("login", "ada")
    browser.fill("password", wrong_password)
    screenshot("filled-in")
    browser.submit()
    screenshot("error")

    assert browser.path == LOGIN_PATH
    assert browser.text("main .errorlist") == (
        "The username and/or password you specified are not correct."
    )
    # The form comes back with the name kept and the password emptied.
    assert browser.find('[name="login"]').get_attribute("value") == "ada"
    assert browser.find('[name="password"]').get_attribute("value") == ""
    assert browser.driver.get_cookie(settings.SESSION_COOKIE_NAME) is None

    browser.open("/")
    screenshot("home-signed-out")

    assert browser.text("main h1") == "Your learning platforms, in one place"
    assert browser.driver.find_elements(By.LINK_TEXT, "Sign in")
    assert not browser.driver.find_elements(By.CSS_SELECTOR, ".site-nav__user")
