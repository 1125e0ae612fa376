"""The Moodle client: PHP parameter encoding, the call's shape, error mapping."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from urllib.parse import parse_qsl

import pytest

from integrations import errors
from integrations.http.client import HttpClient, HttpPolicy
from integrations.http.response import HttpResponse
from integrations.providers.moodle.client import (
    MoodleClient,
    encode_params,
    map_moodle_error,
)
from tests.fakes.moodle import MoodleFake, parse_php_params
from tests.fakes.server import Reply
from tests.providers.moodle.helpers import TOKEN, load_fixture

pytestmark = pytest.mark.django_db

WS_URL = "https://moodle.example.edu/webservice/rest/server.php?wsfunction=x"


def response(body: bytes | str, status: int = 200, url: str = WS_URL, **headers):
    """Return an HttpResponse as the client would hand it to the mapper."""
    content = body.encode() if isinstance(body, str) else body
    return HttpResponse(
        status=status,
        headers={"Content-Type": "application/json", **headers},
        url=url,
        content=content,
    )


def http_client(fake: MoodleFake, **options) -> HttpClient:
    """Return an HttpClient for the fake with the Moodle error mapper."""
    return HttpClient(
        integration="moodle-client-test",
        base_url=fake.base_url,
        policy=HttpPolicy(
            connect_timeout=2,
            read_timeout=5,
            retry_budget=1,
            max_retries=2,
            backoff_base=0.001,
            backoff_cap=0.005,
        ),
        error_mapper=map_moodle_error,
        response_cache=False,
        **options,
    )


# --- Parameter encoding -----------------------------------------------------


def test_nested_mappings_and_lists_use_php_brackets():
    pairs = encode_params({"options": {"ids": [2, 5]}, "courseid": 21})

    assert pairs == [
        ("options[ids][0]", "2"),
        ("options[ids][1]", "5"),
        ("courseid", "21"),
    ]


def test_list_of_structures_numbers_each_structure():
    pairs = encode_params(
        {
            "courseid": 7,
            "options": [
                {"name": "onlyactive", "value": 1},
                {"name": "userfields", "value": "id,email"},
            ],
        }
    )

    assert pairs == [
        ("courseid", "7"),
        ("options[0][name]", "onlyactive"),
        ("options[0][value]", "1"),
        ("options[1][name]", "userfields"),
        ("options[1][value]", "id,email"),
    ]


def test_booleans_become_1_and_0_and_none_is_left_out():
    assert encode_params({"a": True, "b": False, "c": None, "d": 1.5}) == [
        ("a", "1"),
        ("b", "0"),
        ("d", "1.5"),
    ]


def test_deeper_structures_encode_every_level():
    pairs = encode_params({"grades": [{"studentid": 501, "grade": "7.5"}]})

    assert pairs == [("grades[0][studentid]", "501"), ("grades[0][grade]", "7.5")]
    assert parse_php_params(pairs) == {"grades": [{"studentid": "501", "grade": "7.5"}]}


def test_unencodable_value_names_the_parameter():
    with pytest.raises(TypeError, match=r"options\[when\].*datetime"):
        encode_params({"options": {"when": datetime(2025, 1, 1)}})


# --- The call ---------------------------------------------------------------


def test_call_posts_token_and_arguments_in_the_body_never_the_url():
    with MoodleFake(token=TOKEN) as fake:
        fake.add_course(21, "Organic Chemistry", "CHEM-231")
        client = MoodleClient(http_client(fake), TOKEN)

        courses = client.call("core_course_get_courses", {"options": {"ids": [21]}})

        assert [course["id"] for course in courses] == [21]
        (request,) = fake.requests
        assert request.method == "POST"
        assert TOKEN not in request.target
        assert request.query == {
            "wsfunction": ["core_course_get_courses"],
            "moodlewsrestformat": ["json"],
        }
        assert request.header("Content-Type") == "application/x-www-form-urlencoded"
        form = parse_qsl(request.body.decode())
        assert form == [("wstoken", TOKEN), ("options[ids][0]", "21")]


def test_read_calls_are_retried_after_server_errors_but_writes_are_not():
    with MoodleFake(token=TOKEN) as fake:
        client = MoodleClient(http_client(fake), TOKEN)
        fake.fail_next(Reply(503, "<html>busy</html>", content_type="text/html"))

        info = client.call("core_webservice_get_site_info")

        assert info["sitename"] == "Fake Moodle"
        assert fake.calls("core_webservice_get_site_info") == 2

        fake.fail_next(Reply(503, "<html>busy</html>", content_type="text/html"))
        with pytest.raises(errors.TransientError):
            client.call("core_grades_update_grades", {"courseid": 1}, write=True)
        assert fake.calls("core_grades_update_grades") == 1


def test_client_without_the_mapper_still_raises_moodle_errors():
    with MoodleFake(token=TOKEN) as fake:
        plain = http_client(fake)
        plain._error_mapper = None
        client = MoodleClient(plain, "not-the-token-000000")

        with pytest.raises(errors.AuthenticationFailed) as raised:
            client.call("core_webservice_get_site_info")

        assert raised.value.provider_code == "invalidtoken"
        assert raised.value.integration == "moodle-client-test"
        assert "server.php" in raised.value.url


def test_invalid_token_is_refreshed_once_when_the_client_can():
    with MoodleFake(token="fresh-token-0123456789abcdef") as fake:
        refreshed = []

        def refresh() -> str:
            refreshed.append(True)
            return "fresh-token-0123456789abcdef"

        client = MoodleClient(
            http_client(fake), "stale-token-0123456789", refresh_token=refresh
        )

        assert client.call("core_webservice_get_site_info")["userid"] == 2
        assert refreshed == [True]
        assert fake.calls() == 2


def test_a_refreshed_token_that_fails_too_is_final():
    with MoodleFake(token="never-matches-0123456789") as fake:
        client = MoodleClient(
            http_client(fake),
            "stale-token-0123456789",
            refresh_token=lambda: "also-stale-0123456789",
        )

        with pytest.raises(errors.AuthenticationFailed):
            client.call("core_webservice_get_site_info")
        with pytest.raises(errors.AuthenticationFailed):
            client.call("core_webservice_get_site_info")
        assert fake.calls() == 3


# --- Error mapping ----------------------------------------------------------


@pytest.mark.parametrize(
    ("errorcode", "expected"),
    [
        ("invalidtoken", errors.AuthenticationFailed),
        ("invalidtimedtoken", errors.AuthenticationFailed),
        ("invalidiptoken", errors.AuthenticationFailed),
        ("wsaccessusersuspended", errors.AuthenticationFailed),
        ("accessexception", errors.PermissionDenied),
        ("nopermissions", errors.PermissionDenied),
        ("requireloginerror", errors.PermissionDenied),
        ("nopermissiontoviewgrades", errors.PermissionDenied),
        ("errorcoursecontextnotvalid", errors.PermissionDenied),
        ("invalidrecord", errors.NotFound),
        ("sitemaintenance", errors.TransientError),
        ("invalidparameter", errors.ProviderError),
        ("nocriteriaset", errors.ProviderError),
        ("somepluginerror", errors.ProviderError),
    ],
)
def test_each_moodle_errorcode_becomes_its_typed_error(errorcode, expected):
    body = json.dumps(
        {"exception": "moodle_exception", "errorcode": errorcode, "message": "Whatever"}
    )

    error = map_moodle_error(response(body))

    assert type(error) is expected
    assert error.provider_code == errorcode
    assert error.details["moodle_message"] == "Whatever"
    assert error.details["exception"] == "moodle_exception"


def test_captured_invalid_token_body_is_an_authentication_error():
    error = map_moodle_error(
        response(json.dumps(load_fixture("error_invalidtoken.json")))
    )

    assert isinstance(error, errors.AuthenticationFailed)
    assert "token" in error.message


def test_debuginfo_is_never_kept_and_the_message_is_redacted():
    body = load_fixture("error_invalidparameter_debug.json")
    body["message"] = f"Invalid parameter value detected: wstoken={TOKEN}"

    error = map_moodle_error(response(json.dumps(body)))

    assert isinstance(error, errors.ProviderError)
    assert error.provider_code == "invalidparameter"
    text = repr(error.as_dict()) + str(error)
    assert "debuginfo" not in text
    assert "external_tokens" not in text
    assert "f00dface" not in text
    assert TOKEN not in text


def test_successful_bodies_and_lists_are_not_errors():
    assert map_moodle_error(response('[{"id": 21}]')) is None
    assert map_moodle_error(response('{"statuses": [], "warnings": []}')) is None
    assert map_moodle_error(response("null")) is None


def test_empty_answer_of_the_ws_server_points_at_disabled_web_services():
    empty = map_moodle_error(response(b"", content_type="text/html"))
    forbidden = map_moodle_error(response(b"", status=403))

    assert isinstance(empty, errors.ProviderError)
    assert "web services" in empty.message
    assert isinstance(forbidden, errors.PermissionDenied)
    assert "REST protocol" in forbidden.message


def test_proxy_error_pages_are_left_to_the_status():
    page = response(
        "<html>502 Bad Gateway</html>", status=502, **{"Content-Type": "text/html"}
    )

    assert map_moodle_error(page) is None


@pytest.mark.parametrize(
    ("errorcode", "expected"),
    [
        ("invalidlogin", errors.AuthenticationFailed),
        ("passwordisexpired", errors.AuthenticationFailed),
        ("servicenotavailable", errors.PermissionDenied),
        ("enablewsdescription", errors.PermissionDenied),
        ("usernotallowed", errors.PermissionDenied),
        ("sitemaintenance", errors.TransientError),
        ("cannotcreatetoken", errors.ProviderError),
    ],
)
def test_token_endpoint_errors_are_typed_whatever_the_status(errorcode, expected):
    body = json.dumps({"error": "Nope", "errorcode": errorcode, "stacktrace": None})
    url = "https://moodle.example.edu/login/token.php"

    for status in (200, 500, 503):
        error = map_moodle_error(response(body, status=status, url=url))
        assert type(error) is expected
        assert error.provider_code == errorcode


def test_mapped_error_is_logged_without_the_token(caplog):
    with MoodleFake(token=TOKEN) as fake:
        client = MoodleClient(http_client(fake), TOKEN)
        fake.functions.discard("core_course_get_courses")

        with caplog.at_level(logging.DEBUG), pytest.raises(errors.PermissionDenied):
            client.call("core_course_get_courses")

        logged = " ".join(repr(vars(record)) for record in caplog.records)
        assert TOKEN not in logged
        assert "wsfunction=core_course_get_courses" in logged
