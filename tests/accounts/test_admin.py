"""The admin pages of provider apps and connections: secrets go in, never out."""

from __future__ import annotations

import re

import pytest

from integrations.models import Integration
from portal.accounts.models import Connection, ProviderApp
from tests import leakcheck
from tests.accounts.helpers import (
    CLIENT_SECRET,
    add_canvas_learner,
    connect,
    make_app,
    make_learner,
    raw_rows,
)

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/accounts/providerapp/add/"
NEW_SECRET = leakcheck.secret("github-client-secret-new-4417")


def change_url(app: ProviderApp) -> str:
    return f"/admin/accounts/providerapp/{app.pk}/change/"


def app_form(**fields) -> dict[str, str]:
    """Return the POST data of the provider app form, ``fields`` overriding."""
    data = {
        "provider": "github",
        "name": "GitHub",
        "client_id": "github-client-id",
        "new_secret": "",
        "integration": "",
        "base_url": "",
        "scopes": "",
        "enabled": "on",
    }
    data.update(fields)
    return data


def form_errors(response) -> dict[str, list[str]]:
    """Return the admin form's errors by field, from the re-rendered page."""
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    return {name: list(messages) for name, messages in form.errors.items()}


def test_adding_an_app_encrypts_the_secret_and_never_shows_it(admin_client, site):
    response = admin_client.post(ADD_URL, app_form(new_secret=NEW_SECRET))

    assert response.status_code == 302, form_errors(response)
    app = ProviderApp.objects.get()
    assert app.secret.reveal() == NEW_SECRET
    assert not any(NEW_SECRET in str(row) for row in raw_rows("accounts_providerapp"))
    page = admin_client.get(change_url(app)).content.decode()
    assert NEW_SECRET not in page
    assert f"••••{NEW_SECRET[-4:]}" in page
    # The field is empty, not the secret, however the page is rendered.
    assert 'name="new_secret"' in page
    assert "http://testserver/accounts/github/login/callback/" in page


def test_saving_with_the_secret_left_empty_keeps_the_stored_one(admin_client, site):
    app = make_app("github")

    response = admin_client.post(change_url(app), app_form(name="GitHub (school)"))

    assert response.status_code == 302, form_errors(response)
    app.refresh_from_db()
    assert app.name == "GitHub (school)"
    assert app.secret.reveal() == CLIENT_SECRET


def test_a_new_secret_replaces_the_stored_one(admin_client, site):
    app = make_app("github")

    admin_client.post(change_url(app), app_form(new_secret=NEW_SECRET))

    app.refresh_from_db()
    assert app.secret.reveal() == NEW_SECRET


def test_a_new_app_without_a_secret_is_refused(admin_client, site):
    response = admin_client.post(ADD_URL, app_form())

    assert form_errors(response) == {
        "new_secret": ["Enter the client secret the service issued."]
    }
    assert not ProviderApp.objects.exists()


def test_only_installed_providers_can_be_chosen(admin_client, site):
    response = admin_client.post(
        ADD_URL, app_form(provider="githb", new_secret=NEW_SECRET)
    )

    [message] = form_errors(response)["provider"]
    assert "githb is not one of the available choices" in message


def test_canvas_needs_a_canvas_integration(admin_client, site):
    other = Integration.objects.create(
        name="moodle-main", provider="moodle", base_url="https://moodle.example.edu"
    )
    missing = admin_client.post(
        ADD_URL, app_form(provider="canvas", name="Canvas", new_secret=NEW_SECRET)
    )
    wrong = admin_client.post(
        ADD_URL,
        app_form(
            provider="canvas",
            name="Canvas",
            new_secret=NEW_SECRET,
            integration=str(other.pk),
        ),
    )

    assert form_errors(missing) == {
        "integration": ["Choose the Canvas integration to sign in to."]
    }
    assert form_errors(wrong) == {
        "integration": ["'moodle-main' is not a Canvas integration."]
    }
    assert not ProviderApp.objects.exists()


def test_a_base_url_is_only_for_gitlab(admin_client, site):
    refused = admin_client.post(
        ADD_URL,
        app_form(new_secret=NEW_SECRET, base_url="https://git.example.edu"),
    )
    accepted = admin_client.post(
        ADD_URL,
        app_form(
            provider="gitlab",
            name="GitLab",
            new_secret=NEW_SECRET,
            base_url="https://git.example.edu",
        ),
    )

    assert form_errors(refused) == {
        "base_url": ["Only a self-hosted GitLab needs a base URL."]
    }
    assert accepted.status_code == 302
    assert ProviderApp.objects.get().base_url == "https://git.example.edu"


def test_connection_pages_show_who_and_state_but_no_token(admin_client, client, canvas):
    add_canvas_learner(canvas)
    client.force_login(make_learner())
    connect(client, canvas.oauth, "canvas")
    connection = Connection.objects.get()
    tokens = [connection.access_token.reveal(), connection.refresh_token.reveal()]

    listing = admin_client.get("/admin/accounts/connection/").content.decode()
    detail = admin_client.get(
        f"/admin/accounts/connection/{connection.pk}/change/"
    ).content.decode()
    add = admin_client.get("/admin/accounts/connection/add/")

    assert "Ada Lovelace" in listing
    assert "Ada Lovelace" in detail and "Connected" in detail
    for token in tokens:
        assert token not in listing
        assert token not in detail
    # Every field is read-only: no field a token could be typed into or shown in.
    form = detail.split('id="connection_form"')[1].split("</form>")[0]
    fields = re.findall(r'<(?:input|textarea|select)[^>]*name="([^"]+)"', form)
    assert set(fields) <= {"csrfmiddlewaretoken", "_save", "_continue"}, fields
    assert add.status_code == 403
