"""Sign-up, password reset and address verification of learner accounts."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail

from tests import leakcheck

pytestmark = pytest.mark.django_db

OLD_PASSWORD = leakcheck.secret("old-learner-password-61xq")
NEW_PASSWORD = leakcheck.secret("new-learner-password-83zt")


def test_signup_is_closed_by_default(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "mallory",
            "email": "victim@school.example.edu",
            "password1": "a-long-enough-passw0rd",
            "password2": "a-long-enough-passw0rd",
        },
    )

    assert b"closed" in response.content.lower()
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_signup_can_be_opened(client, settings):
    settings.PORTAL_OPEN_SIGNUP = True

    response = client.get("/accounts/signup/")

    assert response.status_code == 200
    assert b"password1" in response.content


@pytest.fixture
def learner(db):
    """A learner with a verified address, who signs in with a password."""
    user = get_user_model().objects.create_user(
        "ada", email="ada@school.example.edu", password=OLD_PASSWORD
    )
    EmailAddress.objects.create(
        user=user, email=user.email, verified=True, primary=True
    )
    return user


def test_a_learner_resets_a_forgotten_password_through_the_mailed_link(client, learner):
    asked = client.post(
        "/accounts/password/reset/", {"email": "ada@school.example.edu"}
    )

    assert asked.status_code == 302
    [message] = mail.outbox
    assert message.to == ["ada@school.example.edu"]
    link = re.search(
        r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", message.body
    )
    assert link, message.body
    # allauth moves the key from the URL into the session, then asks.
    form = client.get(link.group(1), follow=True)
    assert b"password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        follow=True,
    )

    assert b"Your password is now changed." in done.content
    learner.refresh_from_db()
    assert learner.check_password(NEW_PASSWORD)
    assert not learner.check_password(OLD_PASSWORD)
    # The link works once.
    again = client.get(link.group(1), follow=True)
    assert b"password1" not in again.content


def test_a_reset_for_an_unknown_address_reveals_nothing(client, learner):
    answer = client.post(
        "/accounts/password/reset/", {"email": "nobody@school.example.edu"}
    )

    # The same answer as for a known address, so the form cannot be used
    # to find out who has an account; allauth mails the stranger a notice.
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/password/reset/done/"
    assert all("/accounts/password/reset/key/" not in m.body for m in mail.outbox)


@pytest.mark.parametrize(
    ("mode", "signs_in"), [("mandatory", False), ("optional", True), ("none", True)]
)
def test_email_verification_is_configurable(client, settings, mode, signs_in):
    settings.ACCOUNT_EMAIL_VERIFICATION = mode
    user = get_user_model().objects.create_user(
        "grace", email="grace@school.example.edu", password=OLD_PASSWORD
    )
    EmailAddress.objects.create(
        user=user, email=user.email, verified=False, primary=True
    )

    answer = client.post(
        "/accounts/login/", {"login": "grace", "password": OLD_PASSWORD}, follow=True
    )

    assert answer.wsgi_request.user.is_authenticated is signs_in
    if mode == "mandatory":
        assert b"Verify Your Email Address" in answer.content
        [message] = mail.outbox
        assert "/accounts/confirm-email/" in message.body


def test_guessing_a_password_is_stopped_after_a_few_tries(client, learner):
    wrong = leakcheck.secret("guessed-password-0000")
    answers = [
        client.post("/accounts/login/", {"login": "ada", "password": wrong})
        for _ in range(6)
    ]
    # Even the right password is refused while the limit holds.
    after = client.post("/accounts/login/", {"login": "ada", "password": OLD_PASSWORD})

    # ACCOUNT_RATE_LIMITS["login_failed"]: 5 failures per 5 minutes per account.
    assert [b"Too many failed login attempts" in a.content for a in answers] == [
        False
    ] * 5 + [True]
    assert b"Too many failed login attempts" in after.content
    assert not after.wsgi_request.user.is_authenticated
