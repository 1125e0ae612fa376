"""Each auth style of the generic REST provider reaches a real API correctly."""

from __future__ import annotations

import pytest

from integrations.errors import AuthenticationFailed, ConfigurationError
from tests import leakcheck
from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import read_records, school_collections

SECRET = leakcheck.secret("s3cret-api-key-0123456789")

AUTH_CASES = {
    "bearer": ({}, {"token": SECRET}),
    "header": ({"auth_header": "X-Portal-Key"}, {"token": SECRET}),
    "query": ({"auth_param": "access_key"}, {"token": SECRET}),
    "basic": ({"username": "svc-portal"}, {"password": SECRET}),
    "none": ({}, {}),
}


def serve(auth: str, **options) -> JsonApiFake:
    """Return a fake that expects ``auth`` with the secret above, two items a page."""
    return JsonApiFake(
        collections=school_collections(),
        auth=auth,
        token=SECRET,
        auth_header="X-Portal-Key",
        auth_param="access_key",
        username="svc-portal",
        password=SECRET,
        page_size=2,
        **options,
    )


@pytest.mark.parametrize("auth", list(AUTH_CASES))
def test_each_auth_style_reads_every_page(auth, make_integration):
    settings, credentials = AUTH_CASES[auth]
    with serve(auth) as fake:
        integration = make_integration(
            fake, credentials=credentials, auth=auth, **settings
        )

        records = read_records(integration, "courses")

        assert [r["external_id"] for r in records] == ["1001", "c-1002", "1003"]
        pages = fake.requests_to("/api/courses")
        assert len(pages) == 2


def test_query_auth_is_added_again_to_links_that_leave_it_out(make_integration):
    with serve("query") as fake:
        integration = make_integration(
            fake, credentials={"token": SECRET}, auth="query", auth_param="access_key"
        )

        read_records(integration, "courses")

        first, second = fake.requests_to("/api/courses")
        assert first.arg("access_key") == SECRET
        assert second.arg("page") == "2"
        assert second.arg("access_key") == SECRET


def test_header_auth_uses_the_configured_header_only(make_integration):
    with serve("header") as fake:
        integration = make_integration(
            fake,
            credentials={"token": SECRET},
            auth="header",
            auth_header="X-Portal-Key",
        )

        read_records(integration, "courses")

        request = fake.requests_to("/api/courses")[0]
        assert request.header("X-Portal-Key") == SECRET
        assert request.header("Authorization") is None


@pytest.mark.parametrize("auth", ["bearer", "header", "query", "basic"])
def test_wrong_secret_raises_authentication_failed(auth, make_integration):
    settings, credentials = AUTH_CASES[auth]
    wrong = {key: "not-the-right-secret-999" for key in credentials}
    with serve(auth) as fake:
        integration = make_integration(fake, credentials=wrong, auth=auth, **settings)

        with pytest.raises(AuthenticationFailed) as caught:
            read_records(integration, "courses")

        assert caught.value.status == 401
        assert "not-the-right-secret-999" not in str(caught.value)
        assert fake.count("/api/courses") == 1


def test_missing_credentials_against_a_protected_api_fail_authentication(
    make_integration,
):
    with serve("bearer") as fake:
        integration = make_integration(fake, credentials={}, auth="none")

        with pytest.raises(AuthenticationFailed):
            read_records(integration, "courses")


@pytest.mark.parametrize(
    ("auth", "options", "missing"),
    [
        ("bearer", {}, "token"),
        ("header", {}, "token"),
        ("query", {}, "token"),
        ("basic", {"username": "svc-portal"}, "password"),
    ],
)
def test_missing_credential_names_it(
    auth, options, missing, provider, make_integration
):
    with serve(auth) as fake:
        integration = make_integration(fake, credentials={}, auth=auth, **options)

        with pytest.raises(ConfigurationError) as caught:
            provider.build_client(integration)

        assert caught.value.details == {"credential": missing}
        assert f"uses auth '{auth}', which needs the credential '{missing}'" in str(
            caught.value
        )
        assert fake.count() == 0


def test_basic_auth_takes_the_token_credential_for_nothing(provider, make_integration):
    with serve("basic") as fake:
        integration = make_integration(
            fake, credentials={"token": SECRET}, auth="basic", username="svc-portal"
        )

        with pytest.raises(ConfigurationError) as caught:
            provider.build_client(integration)

        assert caught.value.details == {"credential": "password"}


def test_extra_headers_and_accept_reach_the_api(make_integration):
    with serve("bearer") as fake:
        integration = make_integration(
            fake, credentials={"token": SECRET}, headers={"X-Tenant": "north-campus"}
        )

        read_records(integration, "courses")

        request = fake.requests_to("/api/courses")[0]
        assert request.header("X-Tenant") == "north-campus"
        assert request.header("Accept") == "application/json"
