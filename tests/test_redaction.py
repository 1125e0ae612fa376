"""Redaction of secrets from text, URLs, headers, mappings and log records."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import sys
import threading

import pytest

from integrations import redaction
from integrations.redaction import (
    MASK,
    RedactingFilter,
    StructuredFormatter,
    is_sensitive_header,
    is_sensitive_name,
    redact_headers,
    redact_mapping,
    redact_text,
    redact_url,
    register_secret,
)


def unique_secret(prefix: str = "s3cr") -> str:
    """Return a random secret value no other test uses."""
    return f"{prefix}{secrets.token_urlsafe(24)}"


# --- The registry -----------------------------------------------------------


def test_registered_secret_is_masked_anywhere_in_free_text(make_secret):
    token = make_secret("reg")
    register_secret(token)

    text = f"provider said: invalid credentials ({token}); retrying"

    assert redact_text(text) == f"provider said: invalid credentials ({MASK}); retrying"


def test_registered_secret_with_punctuation_is_masked_whole():
    token = "7~" + secrets.token_urlsafe(30) + "/x+y="
    register_secret(token)

    assert redact_text(f"[{token}]") == f"[{MASK}]"


def test_registered_secret_is_masked_in_its_url_encoded_form():
    password = "p@ss/" + secrets.token_hex(8) + "&=+"
    register_secret(password)

    redacted = redact_text(f"GET /login?next=%2F&pw_field={_quote(password)}")

    assert _quote(password) not in redacted
    assert MASK in redacted


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def test_values_shorter_than_six_characters_are_not_registered():
    before = redaction.known_secret_count()

    register_secret("abc12")
    register_secret("")
    register_secret(None)

    assert redaction.known_secret_count() == before
    assert redact_text("error abc12 again") == "error abc12 again"


def test_registering_a_non_string_is_a_clear_error():
    with pytest.raises(TypeError, match="str, not bytes"):
        register_secret(b"bytes-secret-value")


def test_registry_forgets_the_oldest_values_beyond_its_limit():
    registry = redaction._SecretRegistry(limit=3)
    values = [unique_secret() for _ in range(4)]

    for value in values:
        registry.add(value)

    assert len(registry) == 3
    assert registry.mask(values[0]) == values[0]
    assert registry.mask(f"a {values[3]} b") == f"a {MASK} b"


def test_registry_keeps_a_value_registered_again_as_the_newest():
    registry = redaction._SecretRegistry(limit=2)
    first, second, third = (unique_secret() for _ in range(3))

    registry.add(first)
    registry.add(second)
    registry.add(first)
    registry.add(third)

    assert registry.mask(first) == MASK
    assert registry.mask(second) == second


def test_registry_limit_is_ten_thousand():
    assert redaction.MAX_KNOWN_SECRETS == 10_000
    assert redaction._registry._limit == redaction.MAX_KNOWN_SECRETS


def test_registry_is_safe_to_fill_from_many_threads():
    per_thread = [[unique_secret() for _ in range(200)] for _ in range(8)]
    threads = [
        threading.Thread(
            target=lambda values=values: [register_secret(v) for v in values]
        )
        for values in per_thread
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for values in per_thread:
        assert redact_text(" ".join(values[-3:])) == " ".join([MASK] * 3)


def test_secret_containing_another_secret_is_masked_whole():
    inner = unique_secret("inner")
    outer = f"{inner}-and-more-{secrets.token_hex(4)}"
    register_secret(inner)
    register_secret(outer)

    assert redact_text(f"x {outer} y") == f"x {MASK} y"


def test_short_piece_secret_is_still_found():
    value = "ab-cd-ef-" + secrets.token_hex(1)
    register_secret(value)

    assert redact_text(f"pw={value}!") == "pw=***!"
    assert redact_text(f"value {value} seen") == f"value {MASK} seen"


# --- Patterns ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer 7~AbCdEf1234567890xyz", "Authorization: Bearer ***"),
        ("authorization: token ghp_0123456789", "authorization: token ***"),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic ***"),
        ("sent Bearer eyJhbGciOi.payload.sig to it", "sent Bearer *** to it"),
        ("header was Basic dXNlcjpwYXNz", "header was Basic ***"),
        ("header was bearer abcdef0123456789", "header was bearer ***"),
        ("Cookie: sessionid=abc123; csrftoken=def", "Cookie: ***"),
        ("Set-Cookie: sessionid=abc123; Path=/", "Set-Cookie: ***"),
        ("X-Api-Key: k3y-v4lue-123", "X-Api-Key: ***"),
        (
            "{'Authorization': 'Bearer abc123def', 'Accept': '*/*'}",
            "{'Authorization': 'Bearer ***', 'Accept': '*/*'}",
        ),
    ],
)
def test_authorization_values_are_masked(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "wstoken",
        "api_key",
        "apikey",
        "apiKey",
        "key",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "signature",
        "sig",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "private_token",
        "oauth_token_secret",
        "credentials[access_token]",
    ],
)
def test_sensitive_parameters_are_masked_in_queries_forms_and_json(name):
    value = "Val-" + secrets.token_hex(6)

    query = redact_text(f"GET /x?a=1&{name}={value}&b=2")
    form = redact_text(f"body: grant_type=x&{name}={value}")
    document = redact_text(json.dumps({name: value, "other": "kept"}))

    assert query == f"GET /x?a=1&{name}={MASK}&b=2"
    assert form == f"body: grant_type=x&{name}={MASK}"
    assert json.loads(document) == {name: MASK, "other": "kept"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http.call url=/x?token=abc123", "http.call url=/x?token=***"),
        (
            "redirect next=/login?next=/a&api_key=abc123",
            "redirect next=/login?next=/a&api_key=***",
        ),
        (
            'url="https://h/p?a=1&password=hunter22"',
            'url="https://h/p?a=1&password=***"',
        ),
    ],
)
def test_parameters_nested_in_another_value_are_masked(text, expected):
    assert redact_text(text) == expected


def test_python_repr_of_a_dict_is_masked_by_key():
    text = str({"client_secret": "shh-123456", "client_id": "portal"})

    assert redact_text(text) == "{'client_secret': '***', 'client_id': 'portal'}"


def test_oauth_code_is_masked_beside_state_but_not_elsewhere():
    callback = "GET /accounts/callback/?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj"
    exchange = "POST body grant_type=authorization_code&code=abc123xyz&redirect_uri=x"
    document = json.dumps({"code": "abc123xyz", "state": "s1"})

    assert redact_text(callback) == "GET /accounts/callback/?code=***&state=af0ifjsldkj"
    assert "abc123xyz" not in redact_text(exchange)
    assert json.loads(redact_text(document))["code"] == MASK
    assert (
        redact_text("sync failed code=rate_limited") == "sync failed code=rate_limited"
    )
    assert redact_text('{"code": "not_found", "message": "x"}') == (
        '{"code": "not_found", "message": "x"}'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret whsec_***"),
        ("slack xoxb-1234567890-0987654321-AbCdEfGhIj", "slack xoxb-***"),
        ("user xoxp-1234567890-0987654321-AbCdEfGhIj ok", "user xoxp-*** ok"),
        ("pat ghp_0123456789abcdefghijABCDEFGHIJ012345", "pat ghp_***"),
        ("api opt_0123456789ab_" + "x" * 43, "api opt_***"),
        ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "pat github_pat_***"),
        ("gitlab glpat-0123456789abcdefghij", "gitlab glpat-***"),
        ("aws AKIAIOSFODNN7EXAMPLE in env", "aws AKIA*** in env"),
        ("stripe sk_live_0123456789abcdef", "stripe sk_live_***"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w",
            "jwt eyJ***",
        ),
        (
            "POST https://hooks.slack.com/services/T0001/B0002/aBcDeFgHiJkLmNoP failed",
            "POST https://hooks.slack.com/services/*** failed",
        ),
        (
            "db postgres://portal:hunter2pw@db:5432/portal",
            "db postgres://portal:***@db:5432/portal",
        ),
    ],
)
def test_well_known_token_formats_are_masked(text, expected):
    assert redact_text(text) == expected


def test_pem_private_key_is_masked():
    pem = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n"
        "-----END RSA PRIVATE KEY-----"
    )

    assert (
        redact_text(f"key: {pem} end") == "key: -----BEGIN RSA PRIVATE KEY-----*** end"
    )


@pytest.mark.parametrize(
    "text",
    [
        "http.request.retry",
        "canvas.sync.page_failed",
        "GET https://canvas.example.edu/api/v1/courses?per_page=100&page=2",
        "Basic authentication failed for this user",
        "Bearer token missing in response",
        "authorization failed: the token expired",
        "sync failed code=rate_limited retry_at=2025-01-01T00:00:00Z",
        'token_type="Bearer" expires_in=3600',
        "course_code=CS101 state=available",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact_text(text) == text


def test_every_sensitive_name_contains_a_gating_hint():
    # redact_text skips its name patterns when no hint occurs in the text;
    # a sensitive name without a hint would silently never be masked.
    names = [*redaction._SENSITIVE_EXACT, *redaction._SENSITIVE_SUFFIXES]
    names += [*redaction._SENSITIVE_WORDS, "code"]

    for name in names:
        assert any(hint in name for hint in redaction._NAME_HINTS), name


def test_sensitive_names_and_headers():
    assert is_sensitive_name("access_token")
    assert is_sensitive_name("X-Amz-Signature")
    assert is_sensitive_name("aws_secret_access_key")
    assert not is_sensitive_name("token_type")
    assert not is_sensitive_name("credential")
    assert not is_sensitive_name("course_code")
    assert is_sensitive_header("X-Auth-Token")
    assert is_sensitive_header("X-Hub-Signature-256")
    assert is_sensitive_header("Idempotency-Key")
    assert not is_sensitive_header("WWW-Authenticate")
    assert not is_sensitive_header("Content-Type")


# --- URLs -------------------------------------------------------------------


def test_url_keeps_its_shape_and_masks_secret_parameters():
    url = (
        "https://moodle.example.edu/webservice/rest/server.php"
        "?wstoken=0123456789abcdef&wsfunction=core_course_get_courses"
        "&moodlewsrestformat=json"
    )

    assert redact_url(url) == (
        "https://moodle.example.edu/webservice/rest/server.php"
        "?wstoken=***&wsfunction=core_course_get_courses"
        "&moodlewsrestformat=json"
    )


def test_url_password_is_masked_and_user_kept():
    assert redact_url("https://bob:hunter2@git.example.com/x.git") == (
        "https://bob:***@git.example.com/x.git"
    )


def test_url_user_part_alone_is_masked_as_a_token():
    assert redact_url("https://ghs_abcdef0123456789@github.com/o/r.git") == (
        "https://***@github.com/o/r.git"
    )


def test_url_signed_s3_parameters_are_masked():
    url = (
        "https://bucket.s3.amazonaws.com/a.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-Signature=abcdef0123"
    )

    redacted = redact_url(url)

    assert "X-Amz-Credential=***" in redacted
    assert "X-Amz-Signature=***" in redacted
    assert "X-Amz-Date=20250101T000000Z&X-Amz-Expires=900" in redacted
    assert "AKIAEXAMPLE" not in redacted


def test_url_fragment_token_and_oauth_code_are_masked():
    assert redact_url(
        "https://app.example/cb#access_token=abc123&token_type=bearer"
    ) == ("https://app.example/cb#access_token=***&token_type=bearer")
    assert redact_url("https://portal/cb?code=abc123&state=xyz") == (
        "https://portal/cb?code=***&state=xyz"
    )
    assert redact_url("https://canvas/api?course_code=CS1&code=7") == (
        "https://canvas/api?course_code=CS1&code=7"
    )


def test_url_with_registered_secret_in_the_path_is_masked():
    token = unique_secret()
    register_secret(token)

    assert redact_url(f"https://api.telegram.org/bot/{token}/sendMessage") == (
        "https://api.telegram.org/bot/***/sendMessage"
    )


def test_url_without_secrets_is_unchanged():
    url = "https://canvas.example.edu/api/v1/courses/1/assignments?per_page=100&page=3"

    assert redact_url(url) == url
    assert redact_url("") == ""


# --- Headers and mappings ---------------------------------------------------


def test_headers_with_credentials_are_masked_and_others_kept():
    headers = {
        "Authorization": "Bearer 7~abcdef0123456789",
        "Proxy-Authorization": "Basic dXNlcjpwYXNz",
        "Cookie": "sessionid=abc",
        "Set-Cookie": "sessionid=abc; HttpOnly",
        "X-Api-Key": "k-123456",
        "X-Auth-Token": "t-123456",
        "X-Hub-Signature-256": "sha256=abcdef",
        "Private-Token": "glpat-abc",
        "X-Client-Secret": "shh",
        "X-Db-Password": "pw",
        "Content-Type": "application/json",
        "Link": '<https://canvas/api/v1/c?page=2&access_token=abc123>; rel="next"',
    }

    redacted = redact_headers(headers)

    assert redacted == {
        "Authorization": "Bearer ***",
        "Proxy-Authorization": "Basic ***",
        "Cookie": MASK,
        "Set-Cookie": MASK,
        "X-Api-Key": MASK,
        "X-Auth-Token": MASK,
        "X-Hub-Signature-256": MASK,
        "Private-Token": MASK,
        "X-Client-Secret": MASK,
        "X-Db-Password": MASK,
        "Content-Type": "application/json",
        "Link": '<https://canvas/api/v1/c?page=2&access_token=***>; rel="next"',
    }
    assert headers["Authorization"] == "Bearer 7~abcdef0123456789"


def test_header_values_in_bytes_are_read_and_masked():
    assert redact_headers({"Authorization": b"Token abcdef123456"}) == {
        "Authorization": "Token ***"
    }


def test_mapping_is_masked_recursively_by_key():
    data = {
        "name": "canvas-main",
        "credentials": {"access_token": "abc", "refresh_token": None},
        "headers": [{"X-Api-Key": "abc"}, ("token", "tuple-stays")],
        "oauth": {"code": "c0de", "state": "s"},
        "error": {"code": "not_found"},
        "note": "used Bearer abcdef0123456789",
        "count": 3,
    }

    redacted = redact_mapping(data)

    assert redacted == {
        "name": "canvas-main",
        "credentials": MASK,
        "headers": [{"X-Api-Key": MASK}, ("token", "tuple-stays")],
        "oauth": {"code": MASK, "state": "s"},
        "error": {"code": "not_found"},
        "note": "used Bearer ***",
        "count": 3,
    }
    assert data["credentials"]["access_token"] == "abc"


def test_mapping_keeps_absent_secrets_visible():
    assert redact_mapping({"access_token": None, "password": ""}) == {
        "access_token": None,
        "password": "",
    }


def test_mapping_with_a_cycle_terminates():
    data: dict = {"a": 1}
    data["self"] = data

    assert redact_mapping(data) == {"a": 1, "self": "<recursion>"}


# --- Logging ----------------------------------------------------------------


def make_record(msg, *args, exc_info=None, **extra):
    """Build a record the way Logger.makeRecord does, extras included."""
    logger = logging.getLogger("tests.redaction")
    return logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, msg, args, exc_info, extra=extra
    )


def test_filter_renders_the_message_then_masks_it_and_drops_args():
    token = unique_secret()
    register_secret(token)
    record = make_record("got %s from %s", token, "https://x/?api_key=abc123")

    assert RedactingFilter().filter(record) is True

    assert record.msg == f"got {MASK} from https://x/?api_key={MASK}"
    assert record.args is None
    assert record.getMessage() == record.msg


def test_filter_masks_extra_attributes():
    record = make_record(
        "http.request.failed",
        url="https://m/?wstoken=0123456789",
        access_token="abc123456",
        headers={"Authorization": "Bearer abcdef123456", "Accept": "x"},
        attempts=[{"password": "p4ss"}],
        status=401,
    )

    RedactingFilter().filter(record)

    assert record.url == "https://m/?wstoken=***"
    assert record.access_token == MASK
    assert record.headers == {"Authorization": MASK, "Accept": "x"}
    assert record.attempts == [{"password": MASK}]
    assert record.status == 401


def test_filter_masks_the_traceback_of_an_exception():
    token = unique_secret()
    register_secret(token)
    try:
        raise ValueError(f"server rejected token {token}")
    except ValueError:
        record = make_record("integration.failed", exc_info=sys.exc_info())

    RedactingFilter().filter(record)

    assert "ValueError: server rejected token ***" in record.exc_text
    assert token not in record.exc_text
    assert token not in logging.Formatter().format(record)


def test_filter_masks_an_already_formatted_traceback():
    record = make_record("x")
    record.exc_text = "Traceback...\nError: url https://h/?password=hunter22"

    RedactingFilter().filter(record)

    assert record.exc_text.endswith("password=***")


def test_filter_never_drops_a_record_with_a_bad_format_string():
    record = make_record("needs two %s %s", "Bearer abcdef0123456789")

    assert RedactingFilter().filter(record) is True

    assert "Bearer ***" in record.msg
    assert "abcdef0123456789" not in record.msg


def test_filter_running_twice_changes_nothing_more():
    record = make_record("token=%s", "abc123456")
    log_filter = RedactingFilter()

    log_filter.filter(record)
    log_filter.filter(record)

    assert record.getMessage() == "token=***"


def test_formatter_writes_one_line_with_extra_context():
    record = make_record(
        "http.request.retry",
        integration="canvas-main",
        status=503,
        url="https://c/api?per_page=100&access_token=abc123",
        reason="Service Unavailable",
        details={"attempt": 2},
    )
    RedactingFilter().filter(record)

    line = StructuredFormatter().format(record)

    pattern = (
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
        r"INFO tests\.redaction http\.request\.retry "
        r"integration=canvas-main status=503 "
        r'url="https://c/api\?per_page=100&access_token=\*\*\*" '
        r'reason="Service Unavailable" details=\{"attempt":2\}'
    )
    assert re.fullmatch(pattern, line), line


def test_formatter_masks_values_even_without_the_filter():
    class Opaque:
        def __str__(self) -> str:
            return "client with Authorization: Bearer abcdef0123456789"

    record = make_record(
        "event client_secret=%s", "shh123456", client=Opaque(), password="x"
    )

    line = StructuredFormatter().format(record)

    assert "shh123456" not in line
    assert "abcdef0123456789" not in line
    assert "password=***" in line


def test_formatter_appends_the_redacted_traceback():
    try:
        raise RuntimeError("refused https://u:pw123456@host/")
    except RuntimeError:
        record = make_record("boom", exc_info=sys.exc_info())

    text = StructuredFormatter().format(record)

    first, *rest = text.splitlines()
    assert first.endswith(" INFO tests.redaction boom")
    assert "Traceback (most recent call last):" in rest
    assert "RuntimeError: refused https://u:***@host/" in rest
    assert "pw123456" not in text


def test_formatter_keeps_a_multiline_message_on_one_line():
    line = StructuredFormatter().format(make_record("first\nsecond"))

    assert "first\\nsecond" in line
    assert "\n" not in line


def test_production_logging_config_redacts_what_reaches_the_console():
    token = unique_secret()
    register_secret(token)
    handler = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(item, RedactingFilter) for item in handler.filters)
    )
    assert isinstance(handler.formatter, StructuredFormatter)
    stream = io.StringIO()
    previous = handler.setStream(stream)

    try:
        logging.getLogger("integrations.tests").warning(
            "provider.auth_failed %s", token, extra={"integration": "canvas-main"}
        )
    finally:
        handler.setStream(previous)

    output = stream.getvalue()
    assert "WARNING integrations.tests provider.auth_failed ***" in output
    assert "integration=canvas-main" in output
    assert token not in output


def _configured_handlers() -> list[tuple[str, logging.Handler]]:
    """Return (logger name, handler) for every handler the settings attached."""
    loggers = [("root", logging.getLogger())]
    loggers += [
        (name, logger)
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    ]
    return [
        (name, handler)
        for name, logger in loggers
        for handler in logger.handlers
        # pytest's capture handlers and this suite's leak check are not
        # part of the portal's configuration.
        if not type(handler).__module__.startswith(("_pytest", "tests."))
        and not isinstance(handler, logging.NullHandler)
    ]


def test_every_configured_log_handler_redacts():
    unguarded = [
        f"{name}: {type(handler).__name__}"
        for name, handler in _configured_handlers()
        if not any(isinstance(item, RedactingFilter) for item in handler.filters)
    ]

    assert unguarded == []


def test_ga4_api_secret_in_the_query_string_is_masked():
    url = (
        "https://www.google-analytics.com/mp/collect"
        "?measurement_id=G-AB12CD34&api_secret=Xy9Zq8Wv7Ut6"
    )

    assert redact_url(url) == (
        "https://www.google-analytics.com/mp/collect"
        "?measurement_id=G-AB12CD34&api_secret=***"
    )
    assert "Xy9Zq8Wv7Ut6" not in redact_text(f"POST {url} failed")
