"""The health check makes one cheap authenticated call and says what it found."""

from __future__ import annotations

from tests.fakes.json_api import JsonApiFake
from tests.providers.rest.helpers import TOKEN, school_collections, school_endpoints


def check(provider, integration):
    """Run the provider's health check with the integration's own client."""
    return provider.check_health(integration, provider.build_client(integration))


def test_healthy_api_reads_one_item_of_the_first_endpoint(provider, make_integration):
    with JsonApiFake(
        collections=school_collections(), token=TOKEN, pagination="page"
    ) as fake:
        endpoints = school_endpoints()
        endpoints[0]["params"] = {"include": "term"}
        integration = make_integration(fake, pagination="page", endpoints=endpoints)

        report = check(provider, integration)

        assert report.status == "healthy"
        assert report.error == ""
        assert isinstance(report.details["latency_ms"], int)
        assert report.details["latency_ms"] >= 0
        assert report.details["path"] == "/api/courses"
        assert report.details["status"] == 200
        (request,) = fake.requests
        assert request.path == "/api/courses"
        assert request.arg("per_page") == "1"
        assert request.arg("include") == "term"


def test_offset_health_check_asks_for_a_limit_of_one(provider, make_integration):
    with JsonApiFake(
        collections=school_collections(), token=TOKEN, pagination="offset"
    ) as fake:
        integration = make_integration(fake, pagination="offset")

        assert check(provider, integration).status == "healthy"

        assert fake.requests[0].arg("limit") == "1"


def test_health_path_is_read_without_parameters(provider, make_integration):
    with JsonApiFake(
        collections=school_collections(), token=TOKEN, pagination="page"
    ) as fake:
        integration = make_integration(fake, pagination="page", health_path="/api/me")

        report = check(provider, integration)

        assert report.status == "healthy"
        assert report.details["path"] == "/api/me"
        (request,) = fake.requests
        assert request.path == "/api/me"
        assert request.query == {}


def test_wrong_token_is_unhealthy_with_the_reason(provider, make_integration, fake):
    integration = make_integration(fake, credentials={"token": "expired-token-0000000"})

    report = check(provider, integration)

    assert report.status == "unhealthy"
    assert report.error == "authentication failed: check the token"
    assert report.details["code"] == "authentication_failed"
    assert report.details["status"] == 401
    assert "expired-token-0000000" not in repr(report)


def test_wrong_basic_password_names_username_and_password(provider, make_integration):
    fake = JsonApiFake(
        collections=school_collections(), auth="basic", password="right-pass"
    )
    with fake:
        integration = make_integration(
            fake,
            credentials={"password": "wrong-pass"},
            auth="basic",
            username="portal",
        )

        report = check(provider, integration)

        assert report.status == "unhealthy"
        assert report.error == "authentication failed: check the username and password"


def test_missing_health_path_is_unhealthy(provider, make_integration, fake):
    integration = make_integration(fake, health_path="/api/status")

    report = check(provider, integration)

    assert report.status == "unhealthy"
    assert (
        report.error == "/api/status was not found: check the base URL and health_path"
    )
    assert report.details["status"] == 404


def test_forbidden_is_unhealthy(provider, make_integration, fake):
    fake.fail_next(403, body={"error": "forbidden"})
    integration = make_integration(fake)

    report = check(provider, integration)

    assert report.status == "unhealthy"
    assert (
        report.error == "permission denied: the credentials may not read /api/courses"
    )


def test_server_errors_after_retries_are_unhealthy(provider, make_integration, fake):
    fake.fail_next(503, times=10)
    integration = make_integration(fake)

    report = check(provider, integration)

    assert report.status == "unhealthy"
    assert report.error == "The service failed with a server error"
    assert report.details["code"] == "transient_error"
    assert fake.count("/api/courses") == 3  # the first call and two retries


def test_html_instead_of_json_is_unhealthy(provider, make_integration, fake):
    fake.fail_next(200, body=b"<html><body>Sign in to continue</body></html>")
    integration = make_integration(fake)

    report = check(provider, integration)

    assert report.status == "unhealthy"
    assert report.error == "/api/courses did not answer JSON"
    assert report.details["code"] == "invalid_response"


def test_throttling_that_outlasts_the_retry_budget_is_degraded(
    provider, make_integration, fake
):
    fake.fail_next(429, times=10, headers={"Retry-After": "3600"})
    integration = make_integration(fake)

    report = check(provider, integration)

    assert report.status == "degraded"
    assert report.details["code"] == "rate_limited"
