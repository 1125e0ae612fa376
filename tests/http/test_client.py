"""HttpClient against a real loopback service that fails on demand."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime

import pytest
import requests

import portal
from integrations.errors import (
    AuthenticationFailed,
    ConfigurationError,
    IntegrationError,
    InvalidResponse,
    NotFound,
    PermanentError,
    PermissionDenied,
    ProviderError,
    RateLimited,
    RateLimitWaitTooLong,
    TransientError,
    UnsafeURLError,
)
from integrations.http import metrics
from integrations.http.auth import BearerToken, HeaderApiKey, HttpAuth, QueryApiKey
from integrations.http.client import USER_AGENT, HttpClient, HttpPolicy, RateLimitSignal
from integrations.http.ratelimit import RateLimit
from tests import leakcheck
from tests.fakes.faulty import (
    Delayed,
    FaultyServer,
    Reset,
    SlowBody,
    Truncated,
    http_date,
    malformed_json,
    rate_limited,
    redirect,
    server_error,
    truncated_json,
)
from tests.fakes.server import Reply
from tests.http.support import make_client, tiny_policy, unique_name

OK = Reply.json({"ok": True})
SECRET_TOKEN = leakcheck.secret("wstoken-9f8e7d6c5b4a39281706")


@pytest.fixture
def server():
    with FaultyServer() as fake:
        yield fake
    assert not fake.errors, "a fake handler raised"


@pytest.fixture
def other_host():
    with FaultyServer() as fake:
        yield fake


# --- basics -----------------------------------------------------------------


def test_user_agent_names_the_portal_and_its_version(server):
    server.reply("GET", "/ping", OK)
    client = make_client(server.url, default_headers={"Accept": "application/json"})

    client.get_json("/ping")

    request = server.requests_to("/ping")[0]
    assert request.header("User-Agent") == f"ORCATech-Portal/{portal.__version__}"
    assert USER_AGENT == f"ORCATech-Portal/{portal.__version__}"
    assert request.header("Accept") == "application/json"


def test_provider_user_agent_is_appended_to_the_portals(server):
    server.reply("GET", "/ping", OK)
    client = make_client(
        server.url, default_headers={"User-Agent": "canvas-connector/2"}
    )

    client.request("GET", "/ping")

    assert server.requests_to("/ping")[0].header("User-Agent") == (
        f"{USER_AGENT} canvas-connector/2"
    )


def test_relative_paths_join_the_base_url_path(server):
    server.reply("GET", "/api/v1/courses", Reply.json([{"id": 1}]))
    client = make_client(server.url + "/api/v1/")

    assert client.get_json("courses", params={"per_page": 5}) == [{"id": 1}]
    assert client.get_json("/courses") == [{"id": 1}]

    requests_seen = server.requests_to("/api/v1/courses")
    assert requests_seen[0].arg("per_page") == "5"
    assert len(requests_seen) == 2


def test_response_exposes_status_headers_text_links_and_timing(server):
    link = f'<{server.url}/items?page=2>; rel="next", <{server.url}/items?page=9>; rel="last"'
    server.reply(
        "GET",
        "/items",
        Reply.json([1, 2], headers={"Link": link, "X-Request-Id": "abc"}),
    )
    client = make_client(server.url)

    response = client.request("GET", "/items")

    assert response.status == 200
    assert response.ok
    assert response.headers["x-request-id"] == "abc"
    assert json.loads(response.text) == [1, 2]
    assert response.json() == [1, 2]
    assert response.links["next"]["url"] == f"{server.url}/items?page=2"
    assert response.links["last"]["url"] == f"{server.url}/items?page=9"
    assert response.from_cache is False
    assert response.retries == 0
    assert response.elapsed > 0


def test_every_request_carries_connect_and_read_timeouts(server):
    # A service that never answers would hang a sync forever without a read
    # timeout; the client gives up after read_timeout on every attempt.
    server.reply("GET", "/hang", Delayed(5))
    client = make_client(
        server.url, policy=tiny_policy(read_timeout=0.2, max_retries=1)
    )

    with pytest.raises(TransientError) as caught:
        client.request("GET", "/hang")

    assert "read timeout of 0.2 s" in caught.value.message
    assert isinstance(caught.value.__cause__, requests.ReadTimeout)
    assert server.count("/hang") == 2


def test_connect_timeout_applies_when_the_service_does_not_accept(server):
    # A listener whose accept queue is full drops new SYNs, as an overloaded
    # host does; the connection attempt must time out, not hang.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        client = make_client(
            f"http://127.0.0.1:{port}",
            policy=tiny_policy(connect_timeout=0.2, max_retries=0),
        )

        with pytest.raises(TransientError) as caught:
            client.request("GET", "/")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()

    assert isinstance(caught.value.__cause__, requests.ConnectTimeout)
    assert "timed out after 0.2 s" in caught.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", 0),
        ("read_timeout", None),
        ("retry_budget", -1),
        ("max_retries", 1.5),
        ("backoff_cap", "30"),
    ],
)
def test_policy_refuses_missing_or_bad_values(field, value):
    values = {
        "connect_timeout": 1,
        "read_timeout": 1,
        "retry_budget": 1,
        "max_retries": 1,
    }
    values[field] = value

    with pytest.raises(ConfigurationError, match=f"HttpPolicy.{field}"):
        HttpPolicy(**values)


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("", "needs a base URL"),
        ("ftp://lms.example.edu", "http:// or https://"),
        ("https://user:pw@lms.example.edu", "must not carry credentials"),
        ("https://lms.example.edu/?token=abc", "query string"),
        ("https://", "no host name"),
    ],
)
def test_bad_base_url_is_refused_with_the_problem_named(base_url, problem):
    with pytest.raises(ConfigurationError, match=problem) as caught:
        HttpClient(integration="x", base_url=base_url, policy=tiny_policy())

    assert "pw" not in str(caught.value)


def test_bad_call_arguments_are_named(server):
    client = make_client(server.url)

    with pytest.raises(ValueError, match="Unsupported HTTP method 'FETCH'"):
        client.request("FETCH", "/x")
    with pytest.raises(ValueError, match="either json= or data="):
        client.request("POST", "/x", json={}, data=b"")
    assert server.count() == 0


# --- retries ------------------------------------------------------------------


def test_5xx_burst_then_success_is_retried(server):
    server.reply("GET", "/flaky", server_error(503), server_error(502), OK)
    client = make_client(server.url)

    response = client.request("GET", "/flaky")

    assert response.json() == {"ok": True}
    assert response.retries == 2
    assert server.count("/flaky") == 3


def test_persistent_5xx_raises_transient_error_with_context(server):
    server.reply("GET", "/down", server_error(500))
    client = make_client(server.url, policy=tiny_policy(max_retries=2))

    with pytest.raises(TransientError) as caught:
        client.request("GET", "/down", params={"page": 3})

    error = caught.value
    assert type(error) is TransientError
    assert error.integration == client.integration
    assert error.method == "GET"
    assert error.url == f"{server.url}/down?page=3"
    assert error.status == 500
    assert "Service Unavailable" not in str(error)
    assert server.count("/down") == 3


def test_connection_reset_mid_response_is_retried(server):
    server.reply("GET", "/reset", Reset(), OK)
    client = make_client(server.url)

    response = client.request("GET", "/reset")

    assert response.json() == {"ok": True}
    assert response.retries == 1
    assert server.count("/reset") == 2


def test_connection_reset_every_time_raises_transient_error_from_the_transport(server):
    server.reply("GET", "/reset", Reset())
    client = make_client(server.url, policy=tiny_policy(max_retries=1))

    with pytest.raises(TransientError) as caught:
        client.request("GET", "/reset", params={"page": 2})

    assert isinstance(caught.value.__cause__, requests.RequestException)
    assert caught.value.status is None
    assert caught.value.url == f"{server.url}/reset?page=2"
    assert server.count("/reset") == 2


def test_reset_before_any_response_is_retried(server):
    server.reply("GET", "/drop", Reset(partial=None), OK)
    client = make_client(server.url)

    assert client.get_json("/drop") == {"ok": True}
    assert server.count("/drop") == 2


def test_body_shorter_than_its_content_length_is_retried(server):
    server.reply("GET", "/short", Truncated(b'{"items": [1', declared_length=200), OK)
    client = make_client(server.url)

    assert client.get_json("/short") == {"ok": True}
    assert server.count("/short") == 2


def test_slow_body_within_the_read_timeout_succeeds(server):
    body = Reply.json({"items": list(range(200))})
    server.reply("GET", "/slow", SlowBody(body, chunks=4, delay=0.05))
    client = make_client(server.url, policy=tiny_policy(read_timeout=0.5))

    response = client.request("GET", "/slow")

    assert response.json() == {"items": list(range(200))}
    assert response.retries == 0


def test_post_is_not_retried(server):
    server.reply("POST", "/grades", server_error(503), OK)
    client = make_client(server.url)

    with pytest.raises(TransientError):
        client.request("POST", "/grades", json={"score": 9})

    assert server.count("/grades") == 1


def test_patch_is_not_retried_after_a_reset(server):
    server.reply("PATCH", "/grades/1", Reset(), OK)
    client = make_client(server.url)

    with pytest.raises(TransientError):
        client.request("PATCH", "/grades/1", json={"score": 9})

    assert server.count("/grades/1") == 1


def test_post_marked_idempotent_is_retried_with_the_same_body(server):
    server.reply(
        "POST", "/grades", server_error(503), Reply.json({"id": 7}, status=201)
    )
    client = make_client(server.url)

    response = client.request(
        "POST",
        "/grades",
        json={"score": 9},
        headers={"Idempotency-Key": "grade-42"},
        idempotent=True,
    )

    assert response.status == 201
    sent = server.requests_to("/grades")
    assert len(sent) == 2
    assert [request.json() for request in sent] == [{"score": 9}, {"score": 9}]
    assert {request.header("Idempotency-Key") for request in sent} == {"grade-42"}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_idempotent_methods_are_retried(server, method):
    server.reply(method, "/thing", server_error(502), Reply(204))
    client = make_client(server.url)

    assert client.request(method, "/thing").status == 204
    assert server.count("/thing") == 2


def test_get_marked_not_idempotent_is_not_retried(server):
    server.reply("GET", "/report", server_error(503), OK)
    client = make_client(server.url)

    with pytest.raises(TransientError):
        client.request("GET", "/report", idempotent=False)

    assert server.count("/report") == 1


def test_budget_stops_retries_before_max_retries(server):
    # Each attempt burns a 0.3 s read timeout; after two of them the next
    # would start past the 0.5 s budget, so the client stops there although
    # max_retries allows ten.
    server.reply("GET", "/hang", Delayed(5))
    client = make_client(
        server.url,
        policy=tiny_policy(read_timeout=0.3, retry_budget=0.5, max_retries=10),
    )

    with pytest.raises(TransientError):
        client.request("GET", "/hang")

    assert server.count("/hang") == 2


def test_server_wait_beyond_the_budget_stops_at_once(server):
    server.reply("GET", "/maint", server_error(503, retry_after=60), OK)
    client = make_client(server.url, policy=tiny_policy(retry_budget=5))

    with pytest.raises(TransientError) as caught:
        client.request("GET", "/maint")

    assert caught.value.status == 503
    assert server.count("/maint") == 1


def test_retries_are_logged_with_context(server, caplog):
    server.reply("GET", "/flaky", server_error(503), OK)
    client = make_client(server.url)

    with caplog.at_level(logging.INFO, logger="integrations.http.client"):
        client.request("GET", "/flaky")

    retry = next(
        record for record in caplog.records if record.msg == "http.request.retry"
    )
    assert retry.integration == client.integration
    assert retry.method == "GET"
    assert retry.url == f"{server.url}/flaky"
    assert retry.status == 503
    assert retry.attempt == 1
    assert retry.getMessage() == "http.request.retry"


def test_final_failure_is_logged_once(server, caplog):
    server.reply("GET", "/gone", Reply.json({"message": "nope"}, status=404))
    client = make_client(server.url)

    with caplog.at_level(logging.INFO, logger="integrations.http.client"):
        with pytest.raises(NotFound):
            client.request("GET", "/gone")

    failed = [
        record for record in caplog.records if record.msg == "http.request.failed"
    ]
    assert len(failed) == 1
    assert failed[0].status == 404
    assert failed[0].error_code == "not_found"
    assert failed[0].levelno == logging.WARNING


# --- rate limits --------------------------------------------------------------


def test_429_with_retry_after_seconds_waits_that_long_then_retries(server, caplog):
    server.reply("GET", "/busy", rate_limited(retry_after=0.3), OK)
    client = make_client(server.url)

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="integrations.http.client"):
        response = client.request("GET", "/busy")

    assert time.monotonic() - started >= 0.3
    assert response.retries == 1
    retry = next(
        record for record in caplog.records if record.msg == "http.request.retry"
    )
    assert retry.delay == 0.3
    assert retry.error_code == "rate_limited"


def test_429_with_retry_after_date_in_the_past_retries_at_once(server):
    server.reply(
        "GET", "/busy", rate_limited(retry_after=http_date(time.time() - 30)), OK
    )
    client = make_client(server.url)

    assert client.get_json("/busy") == {"ok": True}
    assert server.count("/busy") == 2


def test_429_with_retry_after_date_beyond_the_budget_raises_rate_limited(server):
    reset = int(time.time()) + 3600
    server.reply("GET", "/busy", rate_limited(retry_after=http_date(reset)), OK)
    client = make_client(server.url, policy=tiny_policy(retry_budget=30))

    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/busy")

    error = caught.value
    assert error.status == 429
    assert error.retry_at == datetime.fromtimestamp(reset, tz=UTC)
    assert error.as_dict()["details"]["retry_at"] == error.retry_at.isoformat()
    assert server.count("/busy") == 1


def test_429_with_retry_after_seconds_beyond_the_budget_raises_rate_limited(server):
    server.reply("GET", "/busy", rate_limited(retry_after=120))
    client = make_client(server.url, policy=tiny_policy(retry_budget=5))

    before = time.time()
    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/busy")

    retry_at = caught.value.retry_at.timestamp()
    assert before + 119 <= retry_at <= time.time() + 121
    assert server.count("/busy") == 1


def test_429_without_retry_after_backs_off_and_reports_when_to_retry(server):
    server.reply("GET", "/busy", rate_limited())
    client = make_client(server.url, policy=tiny_policy(max_retries=2))

    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/busy")

    assert server.count("/busy") == 3
    assert caught.value.retry_at is not None
    assert caught.value.retry_at.timestamp() >= time.time() - 1


def test_429_on_post_is_not_retried_but_says_when(server):
    server.reply("POST", "/messages", rate_limited(retry_after=2), OK)
    client = make_client(server.url)

    with pytest.raises(RateLimited) as caught:
        client.request("POST", "/messages", json={"text": "hi"})

    assert caught.value.retry_at is not None
    assert server.count("/messages") == 1


def test_retry_after_pauses_every_client_of_the_integration(server):
    # A 429 tells the shared limiter to hold off; another client of the same
    # integration (another worker) then waits instead of hammering.
    name = unique_name("paused")
    limit = RateLimit(requests=1000, window=60)
    server.reply("POST", "/messages", rate_limited(retry_after=30))
    server.reply("GET", "/courses", OK)
    first = make_client(server.url, integration=name, rate_limit=limit)
    second = make_client(
        server.url, integration=name, rate_limit=limit, max_rate_limit_wait=0.05
    )

    with pytest.raises(RateLimited):
        first.request("POST", "/messages")
    with pytest.raises(RateLimitWaitTooLong) as caught:
        second.request("GET", "/courses")

    assert server.count("/courses") == 0
    assert caught.value.integration == name
    assert caught.value.method == "GET"
    assert caught.value.url == f"{server.url}/courses"


def test_local_rate_limit_refuses_a_wait_longer_than_allowed(server):
    server.reply("GET", "/courses", OK)
    client = make_client(
        server.url, rate_limit=RateLimit(requests=2, window=60), max_rate_limit_wait=0
    )

    client.request("GET", "/courses")
    client.request("GET", "/courses")
    with pytest.raises(RateLimitWaitTooLong) as caught:
        client.request("GET", "/courses")

    assert caught.value.retry_at is not None
    assert server.count("/courses") == 2


def canvas_signals(response):
    """Read Canvas's throttling signals, including the legacy 403."""
    remaining = response.headers.get("X-Rate-Limit-Remaining")
    limited = response.status == 403 and b"Rate Limit Exceeded" in response.content
    if remaining is None and not limited:
        return None
    return RateLimitSignal(
        remaining=float(remaining) if remaining is not None else None,
        limited=limited,
    )


def test_provider_signal_classifies_canvas_legacy_403_as_rate_limit(server):
    legacy = Reply.text("403 Forbidden (Rate Limit Exceeded)", status=403)
    server.reply("GET", "/api/v1/courses", legacy, legacy, Reply.json([]))
    client = make_client(server.url, rate_limit_signals=canvas_signals)

    assert client.get_json("/api/v1/courses") == []
    assert server.count("/api/v1/courses") == 3


def test_canvas_legacy_403_on_post_raises_rate_limited_not_permission_denied(server):
    server.reply(
        "POST", "/api/v1/x", Reply.text("403 Forbidden (Rate Limit Exceeded)", 403)
    )
    client = make_client(server.url, rate_limit_signals=canvas_signals)

    with pytest.raises(RateLimited) as caught:
        client.request("POST", "/api/v1/x")

    assert caught.value.status == 403


def test_plain_403_stays_permission_denied_with_signals(server):
    server.reply(
        "GET",
        "/api/v1/admin",
        Reply.json({"errors": [{"message": "unauthorized"}]}, 403),
    )
    client = make_client(server.url, rate_limit_signals=canvas_signals)

    with pytest.raises(PermissionDenied):
        client.request("GET", "/api/v1/admin")

    assert server.count("/api/v1/admin") == 1


def test_provider_quota_signal_slows_every_client_down(server):
    # GitHub-style: remaining 0 until a reset time; the next call must wait.
    reset_at = time.time() + 30

    def signals(response):
        return RateLimitSignal(
            remaining=float(response.headers["X-RateLimit-Remaining"]),
            limit=5000,
            reset_at=float(response.headers["X-RateLimit-Reset"]),
        )

    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset_at))}
    server.reply("GET", "/repos", Reply.json([], headers=headers))
    client = make_client(
        server.url,
        rate_limit=RateLimit(requests=1000, window=60),
        rate_limit_signals=signals,
        max_rate_limit_wait=0.05,
    )

    client.request("GET", "/repos")
    with pytest.raises(RateLimitWaitTooLong):
        client.request("GET", "/repos")

    assert server.count("/repos") == 1


# --- typed errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, PermanentError),
        (401, AuthenticationFailed),
        (403, PermissionDenied),
        (404, NotFound),
        (409, PermanentError),
        (422, PermanentError),
    ],
)
def test_4xx_maps_to_its_typed_error_without_retry(server, status, error_class):
    server.reply(
        "GET", "/thing", Reply.json({"message": "BODY-SECRET-DETAIL"}, status=status)
    )
    client = make_client(server.url)

    with pytest.raises(error_class) as caught:
        client.request("GET", "/thing")

    error = caught.value
    assert type(error) is error_class
    assert error.status == status
    assert error.integration == client.integration
    assert error.method == "GET"
    assert error.url == f"{server.url}/thing"
    assert "BODY-SECRET-DETAIL" not in str(error)
    assert "BODY-SECRET-DETAIL" not in json.dumps(error.as_dict())
    assert server.count("/thing") == 1


def test_expected_status_returns_that_status_as_is(server):
    server.reply("GET", "/maybe", Reply.json({"message": "Not Found"}, status=404))
    client = make_client(server.url)

    response = client.request("GET", "/maybe", expected_status=(200, 404))

    assert response.status == 404


def test_unexpected_success_status_is_invalid_response(server):
    server.reply("DELETE", "/thing", Reply(204))
    client = make_client(server.url)

    with pytest.raises(InvalidResponse) as caught:
        client.request("DELETE", "/thing", expected_status=200)

    assert caught.value.status == 204


def test_malformed_json_raises_invalid_response_without_retry(server):
    server.reply("GET", "/courses", malformed_json())
    client = make_client(server.url)

    with pytest.raises(InvalidResponse) as caught:
        client.get_json("/courses")

    assert caught.value.status == 200
    assert caught.value.url == f"{server.url}/courses"
    assert "Maintenance" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)
    assert server.count("/courses") == 1


def test_truncated_json_raises_invalid_response(server):
    server.reply("GET", "/courses", truncated_json())
    client = make_client(server.url)

    with pytest.raises(InvalidResponse, match="not valid JSON"):
        client.get_json("/courses")


def test_empty_body_where_json_was_expected_is_invalid_response(server):
    server.reply("GET", "/courses", Reply(200, b""))
    client = make_client(server.url)

    with pytest.raises(InvalidResponse, match="empty body"):
        client.get_json("/courses")


def moodle_errors(response):
    """Map Moodle's HTTP 200 error bodies to typed errors."""
    body = response.json()
    if not isinstance(body, dict) or "exception" not in body:
        return None
    code = body.get("errorcode", "")
    if code == "invalidtoken":
        return AuthenticationFailed("Moodle rejected the token", provider_code=code)
    if code == "servicenotavailable":
        return TransientError(
            "The Moodle web service is not available", provider_code=code
        )
    return ProviderError("Moodle reported an error", provider_code=code)


def test_error_mapper_gets_first_say_on_http_200_errors(server):
    body = {
        "exception": "moodle_exception",
        "errorcode": "invalidtoken",
        "message": "Invalid token - token not found",
    }
    server.reply("GET", "/webservice/rest/server.php", Reply.json(body))
    client = make_client(
        server.url,
        auth=QueryApiKey("wstoken", SECRET_TOKEN),
        error_mapper=moodle_errors,
    )

    with pytest.raises(AuthenticationFailed) as caught:
        client.request("GET", "/webservice/rest/server.php", params={"wsfunction": "x"})

    error = caught.value
    assert error.provider_code == "invalidtoken"
    assert error.status == 200
    assert error.integration == client.integration
    assert error.method == "GET"
    assert SECRET_TOKEN not in error.url
    assert SECRET_TOKEN not in str(error)
    assert server.count("/webservice/rest/server.php") == 1


def test_error_mapper_transient_error_is_retried(server):
    unavailable = {"exception": "moodle_exception", "errorcode": "servicenotavailable"}
    server.reply(
        "GET", "/ws", Reply.json(unavailable), Reply.json({"sitename": "Demo"})
    )
    client = make_client(server.url, error_mapper=moodle_errors)

    assert client.get_json("/ws") == {"sitename": "Demo"}
    assert server.count("/ws") == 2


def test_error_mapper_that_cannot_read_an_error_page_leaves_the_status_to_decide(
    server,
):
    server.reply("GET", "/ws", server_error(502), Reply.json({"sitename": "Demo"}))
    client = make_client(server.url, error_mapper=moodle_errors)

    assert client.get_json("/ws") == {"sitename": "Demo"}
    assert server.count("/ws") == 2


def test_query_token_is_redacted_from_errors_logs_and_response_url(server, caplog):
    server.reply("GET", "/webservice/rest/server.php", server_error(500))
    client = make_client(
        server.url,
        auth=QueryApiKey("wstoken", SECRET_TOKEN),
        policy=tiny_policy(max_retries=1),
    )

    with caplog.at_level(logging.DEBUG):
        with pytest.raises(TransientError) as caught:
            client.request(
                "GET", "/webservice/rest/server.php", params={"wsfunction": "f"}
            )

    sent = server.requests_to("/webservice/rest/server.php")[0]
    assert sent.arg("wstoken") == SECRET_TOKEN
    error = caught.value
    assert SECRET_TOKEN not in error.url
    assert SECRET_TOKEN not in str(error)
    assert SECRET_TOKEN not in json.dumps(error.as_dict())
    assert SECRET_TOKEN not in caplog.text
    for record in caplog.records:
        assert SECRET_TOKEN not in str(record.__dict__)


def test_response_url_redacts_the_query_token(server):
    server.reply("GET", "/ws", OK)
    client = make_client(server.url, auth=QueryApiKey("wstoken", SECRET_TOKEN))

    response = client.request("GET", "/ws", params={"wsfunction": "f"})

    assert "wsfunction=f" in response.url
    assert SECRET_TOKEN not in response.url
    assert SECRET_TOKEN not in repr(response)


def test_typed_errors_are_integration_errors_carrying_codes(server):
    server.reply("GET", "/a", Reply(401))
    client = make_client(server.url)

    with pytest.raises(IntegrationError) as caught:
        client.request("GET", "/a")

    assert caught.value.code == "authentication_failed"
    assert caught.value.as_dict()["details"]["status"] == 401


# --- redirects and hosts ------------------------------------------------------


def test_same_host_redirect_is_followed_with_credentials(server):
    server.reply("GET", "/old", redirect("/new", status=301))
    server.reply("GET", "/new", OK)
    client = make_client(server.url, auth=BearerToken("tok-abcdef-123456"))

    response = client.request("GET", "/old")

    assert response.json() == {"ok": True}
    assert response.url == f"{server.url}/new"
    assert (
        server.requests_to("/new")[0].header("Authorization")
        == "Bearer tok-abcdef-123456"
    )


def test_redirect_to_another_host_is_refused(server, other_host):
    other_host.reply("GET", "/steal", OK)
    server.reply("GET", "/old", redirect(other_host.url_for("/steal")))
    client = make_client(server.url, auth=BearerToken("tok-abcdef-123456"))

    with pytest.raises(UnsafeURLError) as caught:
        client.request("GET", "/old")

    assert other_host.count() == 0
    assert caught.value.integration == client.integration
    assert server.count("/old") == 1


def test_redirect_to_an_allowed_host_drops_the_credentials(server, other_host):
    other_host.reply("GET", "/files/1", Reply(200, b"file-bytes"))
    server.reply("GET", "/download", redirect(other_host.url_for("/files/1")))
    client = make_client(
        server.url,
        auth=QueryApiKey("access_token", SECRET_TOKEN),
        allowed_hosts=["127.0.0.1"],
    )

    response = client.request("GET", "/download")

    assert response.content == b"file-bytes"
    received = other_host.requests_to("/files/1")[0]
    assert received.header("Authorization") is None
    assert "access_token" not in received.query
    assert server.requests_to("/download")[0].arg("access_token") == SECRET_TOKEN


def test_redirect_to_an_allowed_host_drops_session_headers_too(server, other_host):
    other_host.reply("GET", "/files/1", Reply(200, b"file-bytes"))
    server.reply("GET", "/download", redirect(other_host.url_for("/files/1")))
    client = make_client(
        server.url,
        auth=HeaderApiKey("PRIVATE-TOKEN", "glpat-secret-token-123"),
        allowed_hosts=["127.0.0.1"],
    )

    client.request("GET", "/download")
    client.request("GET", "/download")

    assert other_host.requests_to("/files/1")[0].header("PRIVATE-TOKEN") is None
    home = server.requests_to("/download")
    assert [request.header("PRIVATE-TOKEN") for request in home] == [
        "glpat-secret-token-123"
    ] * 2


class NonceAuth(HttpAuth):
    """A credential that differs on every request, like a signed nonce."""

    static = False

    def __init__(self):
        self.sent = 0
        self._fingerprint = "nonce"

    def apply(self, headers, params):
        self.sent += 1
        headers["X-Nonce"] = str(self.sent)


def test_a_per_request_credential_is_applied_to_every_attempt(server):
    server.reply("GET", "/signed", server_error(503), OK)
    auth = NonceAuth()
    client = make_client(server.url, auth=auth)

    client.request("GET", "/signed")
    client.request("GET", "/signed")

    nonces = [request.header("X-Nonce") for request in server.requests_to("/signed")]
    assert nonces == ["1", "2", "3"]


def test_redirect_loop_stops_after_five_hops(server):
    server.reply("GET", "/loop", redirect("/loop"))
    client = make_client(server.url)

    with pytest.raises(InvalidResponse, match="redirected more than 5 times"):
        client.request("GET", "/loop")

    assert server.count("/loop") == 6


def test_303_after_post_is_followed_with_get(server):
    server.reply("POST", "/submissions", redirect("/submissions/9", status=303))
    server.reply("GET", "/submissions/9", Reply.json({"id": 9}))
    client = make_client(server.url)

    response = client.request("POST", "/submissions", json={"x": 1})

    assert response.json() == {"id": 9}
    assert server.requests_to("/submissions/9")[0].body == b""


def test_307_keeps_method_and_body(server):
    server.reply("POST", "/v1/submit", redirect("/v2/submit", status=307))
    server.reply("POST", "/v2/submit", Reply.json({"ok": 1}, status=201))
    client = make_client(server.url)

    client.request("POST", "/v1/submit", json={"x": 1})

    assert server.requests_to("/v2/submit", "POST")[0].json() == {"x": 1}


def test_absolute_url_on_another_host_is_refused_before_any_request(server, other_host):
    client = make_client(server.url, auth=BearerToken("tok-abcdef-123456"))

    with pytest.raises(UnsafeURLError, match="not the integration's host"):
        client.request("GET", other_host.url_for("/api"))
    with pytest.raises(UnsafeURLError):
        client.request("GET", "//evil.example/api")

    assert other_host.count() == 0


def test_connect_time_guard_refusal_is_unsafe_url_error_not_retried(server, settings):
    # With private hosts not allowed, the adapter refuses the loopback peer
    # when it connects; the client reports that as it is, without retrying.
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = []
    server.reply("GET", "/api", OK)
    client = make_client(server.url)

    with pytest.raises(UnsafeURLError) as caught:
        client.request("GET", "/api")

    assert caught.value.integration == client.integration
    assert caught.value.method == "GET"
    assert "loopback" in caught.value.message
    assert server.count() == 0


def test_absolute_url_on_the_base_host_is_allowed(server):
    server.reply("GET", "/api/v1/courses", Reply.json([]))
    client = make_client(server.url + "/api/v1")

    assert client.get_json(server.url_for("/api/v1/courses")) == []


# --- response cache -----------------------------------------------------------


def test_cache_ttl_answers_a_repeated_get_from_the_cache(server):
    server.reply("GET", "/terms", Reply.json([{"id": 1}]))
    client = make_client(server.url, auth=BearerToken("tok-abcdef-123456"))

    first = client.request("GET", "/terms", cache_ttl=60)
    second = client.request("GET", "/terms", cache_ttl=60)

    assert first.from_cache is False
    assert second.from_cache is True
    assert second.json() == [{"id": 1}]
    assert server.count("/terms") == 1


def test_cache_is_keyed_by_credential(server):
    server.reply("GET", "/me", Reply.json({"id": 1}))
    name = unique_name("shared")
    alice = make_client(
        server.url, integration=name, auth=BearerToken("alice-token-123456")
    )
    bob = make_client(
        server.url, integration=name, auth=BearerToken("bob-token-654321")
    )

    alice.request("GET", "/me", cache_ttl=60)
    response = bob.request("GET", "/me", cache_ttl=60)

    assert response.from_cache is False
    assert server.count("/me") == 2


def test_etag_is_revalidated_with_if_none_match_and_304(server):
    resource = server.serve_versioned("/course/1", {"title": "Biology"}, etag='"v1"')
    client = make_client(server.url)

    first = client.request("GET", "/course/1")
    second = client.request("GET", "/course/1")
    resource.update({"title": "Biology II"}, etag='"v2"')
    third = client.request("GET", "/course/1")

    sent = server.requests_to("/course/1")
    assert len(sent) == 3
    assert sent[0].header("If-None-Match") is None
    assert sent[1].header("If-None-Match") == '"v1"'
    assert second.from_cache is True
    assert second.status == 200
    assert second.json() == first.json() == {"title": "Biology"}
    assert third.from_cache is False
    assert third.json() == {"title": "Biology II"}


def test_post_is_never_cached(server):
    server.reply("POST", "/search", Reply.json([1], headers={"ETag": '"x"'}))
    client = make_client(server.url)

    client.request("POST", "/search", json={}, cache_ttl=60)
    client.request("POST", "/search", json={}, cache_ttl=60)

    assert server.count("/search") == 2


def test_client_without_response_cache_always_fetches(server):
    server.reply("GET", "/terms", Reply.json([]))
    client = make_client(server.url, response_cache=False)

    client.request("GET", "/terms", cache_ttl=60)
    response = client.request("GET", "/terms", cache_ttl=60)

    assert response.from_cache is False
    assert server.count("/terms") == 2


# --- metrics ------------------------------------------------------------------


def test_every_call_is_counted_as_success_failure_or_halt(server):
    server.reply("GET", "/ok", server_error(503), OK)
    server.reply("GET", "/missing", Reply(404))
    server.reply("GET", "/busy", rate_limited(retry_after=600))
    client = make_client(server.url)

    client.request("GET", "/ok")
    client.request("GET", "/ok", cache_ttl=60)
    client.request("GET", "/ok", cache_ttl=60)
    with pytest.raises(NotFound):
        client.request("GET", "/missing")
    with pytest.raises(RateLimited):
        client.request("GET", "/busy")

    stats = metrics.snapshot(client.integration)
    assert stats["count"] == 5
    assert stats["successes"] == 3
    assert stats["failures"] == 1
    assert stats["halted"] == 1
    assert stats["retries"] == 1
    assert stats["cache_hits"] == 1
    assert stats["cache_misses"] == 1
