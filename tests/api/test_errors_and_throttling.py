"""One error shape for every failure, and rate limits per user and token."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from rest_framework.test import APIClient

from portal.api import throttling


def assert_error(response, status: int, code: str) -> dict:
    """Check the status and the error shape; return the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


def test_every_error_has_the_one_shape(world, client_for):
    client = client_for(world.learner_a)
    progress = f"/api/v1/progress/{world.progress_a.pk}/"

    assert_error(client.get("/api/v1/courses/", {"ordering": "secret"}), 400, "invalid")
    assert_error(
        client.post("/api/v1/progress/", "{not json", content_type="application/json"),
        400,
        "parse_error",
    )
    assert_error(APIClient().get("/api/v1/courses/"), 401, "not_authenticated")
    assert_error(client.get("/api/v1/sync-runs/"), 403, "permission_denied")
    assert_error(client.get("/api/v1/courses/999999/"), 404, "not_found")
    assert_error(client.delete(progress), 405, "method_not_allowed")
    assert_error(
        client.post(
            "/api/v1/progress/",
            {"course": world.course_a.pk, "percent": 1},
            format="json",
        ),
        409,
        "conflict",
    )
    assert_error(
        client.get("/api/v1/courses/", HTTP_ACCEPT="application/xml"),
        406,
        "not_acceptable",
    )


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here/", "/api/v1/courses/abc/", "/api/v1/", "/api/v1/x"]
)
def test_unknown_api_paths_answer_in_the_error_shape(world, client_for, path):
    body = assert_error(client_for(world.learner_a).get(path), 404, "not_found")

    assert "/api/v1/docs/" in body["message"]


def test_a_bad_query_parameter_is_named_in_details(world, client_for):
    response = client_for(world.learner_a).get(
        "/api/v1/progress/", {"page_size": "0", "updated_since": "never"}
    )

    body = assert_error(response, 400, "invalid")
    assert set(body["details"]) == {"updated_since"}


@pytest.fixture
def rates(settings):
    """Set throttle rates for one test; unspecified scopes are off."""

    def set_rates(**values):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                "anon": None,
                "user": None,
                "token": None,
                "write": None,
                **values,
            },
        }

    return set_rates


def test_a_user_over_the_limit_gets_429_with_retry_after(world, client_for, rates):
    rates(user="3/minute")
    client = client_for(world.learner_a)

    answers = [client.get("/api/v1/courses/") for _ in range(4)]
    other_user = client_for(world.learner_b).get("/api/v1/courses/")

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    body = assert_error(answers[-1], 429, "throttled")
    retry_after = int(answers[-1]["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["details"] == {"retry_after": retry_after}
    assert other_user.status_code == 200


def test_each_token_has_its_own_budget_and_the_user_limit_spans_them(
    world, token_client, rates
):
    rates(token="2/minute", user="5/minute")
    first, _ = token_client(world.learner_a, "first")
    second, _ = token_client(world.learner_a, "second")

    first_answers = [first.get("/api/v1/courses/").status_code for _ in range(3)]
    second_answers = [second.get("/api/v1/courses/").status_code for _ in range(3)]
    third, _ = token_client(world.learner_a, "third")
    third_answers = [third.get("/api/v1/courses/").status_code for _ in range(2)]

    assert first_answers == [200, 200, 429]
    assert second_answers == [200, 200, 429]
    # Four requests went through on the user's count (and the 429s count too,
    # as each was an attempt): the user's budget of five is spent.
    assert third_answers == [429, 429]


def test_writes_have_their_own_limit(world, client_for, rates):
    rates(write="1/minute")
    client = client_for(world.learner_a)
    url = f"/api/v1/progress/{world.progress_a.pk}/"

    first = client.patch(url, {"percent": 41}, format="json")
    second = client.patch(url, {"percent": 42}, format="json")
    read = client.get(url)

    assert first.status_code == 200
    assert_error(second, 429, "throttled")
    assert read.status_code == 200


def test_anonymous_requests_to_the_schema_are_limited_per_address(db, rates):
    rates(anon="2/minute")
    client = APIClient()

    answers = [client.get("/api/v1/schema/").status_code for _ in range(3)]

    assert answers == [200, 200, 429]


@pytest.mark.parametrize("rate", ["ten/minute", "10/fortnight", "0/minute", "10"])
def test_a_bad_rate_fails_the_system_check(settings, rate):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": rate},
    }

    errors = [error for error in run_checks() if error.id == "api.E001"]

    assert len(errors) == 1
    assert "user" in errors[0].hint


def test_rates_parse_the_usual_periods():
    assert throttling.parse_rate("100/minute") == (100, 60)
    assert throttling.parse_rate("5/s") == (5, 1)
    assert throttling.parse_rate("1000/day") == (1000, 86400)
    assert throttling.parse_rate(None) is None
