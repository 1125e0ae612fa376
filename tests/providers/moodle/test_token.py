"""Obtaining a token from /login/token.php with a username and password."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from django.db import connection

from integrations import errors
from integrations.models import Credential
from integrations.providers.moodle.token import connect, obtain_token, request_token
from integrations.registry import get_provider
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course
from tests.fakes.server import Reply
from tests.providers.moodle.helpers import ADMIN_PASSWORD, load_fixture

pytestmark = pytest.mark.django_db

PASSWORD_LOGIN = {"username": "admin", "service": "portal_sync"}


def password_integration(make_integration, fake, password=ADMIN_PASSWORD, **settings):
    """Return an integration that has only a password, no token."""
    return make_integration(
        fake, credentials={"password": password}, **{**PASSWORD_LOGIN, **settings}
    )


def http_for(integration):
    return get_provider("moodle").build_client(integration)


def test_token_is_obtained_posted_not_in_the_url_and_stored_encrypted(
    make_integration, moodle
):
    integration = password_integration(make_integration, moodle)

    token = obtain_token(integration, http_for(integration))

    assert token in moodle.tokens
    (request,) = moodle.requests_to("/login/token.php")
    assert request.method == "POST"
    assert ADMIN_PASSWORD not in request.target
    assert dict(parse_qsl(request.body.decode())) == {
        "username": "admin",
        "password": ADMIN_PASSWORD,
        "service": "portal_sync",
    }
    credential = Credential.objects.get(integration=integration, key="token")
    assert credential.reveal() == token
    assert credential.kind == "api_key"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value FROM integrations_credential WHERE id = %s", [credential.pk]
        )
        (stored,) = cursor.fetchone()
    assert token not in stored


def test_obtaining_again_replaces_the_stored_token(make_integration, moodle):
    integration = password_integration(make_integration, moodle)
    obtain_token(integration, http_for(integration))
    moodle.revoke_tokens()

    second = obtain_token(integration, http_for(integration))

    assert Credential.objects.filter(integration=integration, key="token").count() == 1
    assert (
        Credential.objects.get(integration=integration, key="token").reveal() == second
    )


def test_wrong_password_is_an_authentication_error(
    make_integration, moodle, make_secret
):
    integration = password_integration(
        make_integration, moodle, password=make_secret("pw")
    )

    with pytest.raises(errors.AuthenticationFailed) as raised:
        obtain_token(integration, http_for(integration))

    assert raised.value.provider_code == "invalidlogin"
    assert "'username' setting and the 'password' credential" in raised.value.message
    assert not Credential.objects.filter(integration=integration, key="token").exists()


def test_unavailable_service_is_a_permission_error_naming_the_setting(
    make_integration, moodle
):
    integration = password_integration(
        make_integration, moodle, service="no_such_service"
    )

    with pytest.raises(errors.PermissionDenied) as raised:
        obtain_token(integration, http_for(integration))

    assert raised.value.provider_code == "servicenotavailable"
    assert "'service'" in raised.value.message


def test_user_not_allowed_for_a_restricted_service(make_integration, moodle):
    moodle.add_service("restricted", users=[])
    integration = password_integration(make_integration, moodle, service="restricted")

    with pytest.raises(errors.PermissionDenied) as raised:
        obtain_token(integration, http_for(integration))

    assert raised.value.provider_code == "usernotallowed"


@pytest.mark.parametrize("status", [200, 500, 503])
def test_error_body_is_read_whatever_the_status(make_integration, moodle, status):
    moodle.token_error_status = status
    integration = password_integration(
        make_integration, moodle, password="Wrong-pass-123"
    )

    with pytest.raises(errors.AuthenticationFailed) as raised:
        obtain_token(integration, http_for(integration))

    assert raised.value.status == status
    # An error body is an answer, not an outage: nothing is retried.
    assert moodle.count("/login/token.php") == 1


def test_captured_error_and_success_bodies(make_integration, moodle):
    integration = password_integration(make_integration, moodle)
    moodle.fail_next(
        Reply.json(load_fixture("token_invalidlogin.json")), function="token.php"
    )

    with pytest.raises(errors.AuthenticationFailed):
        request_token(http_for(integration), "admin", ADMIN_PASSWORD, "portal_sync")

    moodle.fail_next(
        Reply.json(load_fixture("token_success.json")), function="token.php"
    )
    token = request_token(http_for(integration), "admin", ADMIN_PASSWORD, "portal_sync")
    assert token == load_fixture("token_success.json")["token"]


def test_answer_without_a_token_is_an_invalid_response(make_integration, moodle):
    integration = password_integration(make_integration, moodle)
    moodle.fail_next(Reply.json({"privatetoken": None}), function="token.php")

    with pytest.raises(errors.InvalidResponse, match="without a usable 'token'"):
        request_token(http_for(integration), "admin", ADMIN_PASSWORD, "portal_sync")


def test_missing_username_or_service_is_named():
    with pytest.raises(errors.ConfigurationError, match="'service' setting"):
        request_token(_NoHttp(), "admin", ADMIN_PASSWORD, "")
    with pytest.raises(errors.ConfigurationError, match="'password' credential"):
        request_token(_NoHttp(), "admin", "", "portal_sync")


class _NoHttp:
    """An HTTP client that must not be called."""

    integration = "no-http"

    def request(self, *args, **kwargs):
        raise AssertionError("no request expected")


def test_sync_with_only_a_password_obtains_the_token_first(make_integration, moodle):
    integration = password_integration(make_integration, moodle)

    runs = run_sync_now(integration, streams=["courses"])

    assert runs[0].status == "succeeded"
    assert Course.objects.filter(integration=integration).count() == 5
    assert moodle.count("/login/token.php") == 1
    assert Credential.objects.filter(integration=integration, key="token").exists()


def test_token_revoked_in_moodle_is_obtained_again_once(make_integration, moodle):
    integration = password_integration(make_integration, moodle)
    first = obtain_token(integration, http_for(integration))
    moodle.revoke_tokens()

    client = connect(integration, http_for(integration))
    info = client.call("core_webservice_get_site_info")

    assert info["userid"] == 2
    assert moodle.count("/login/token.php") == 2
    assert (
        Credential.objects.get(integration=integration, key="token").reveal() != first
    )


def test_stored_token_is_used_without_asking_token_php(make_integration, moodle):
    integration = password_integration(make_integration, moodle)
    obtain_token(integration, http_for(integration))

    connect(integration, http_for(integration)).call("core_webservice_get_site_info")

    assert moodle.count("/login/token.php") == 1
