"""Sign-up is closed unless PORTAL_OPEN_SIGNUP opens it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


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
