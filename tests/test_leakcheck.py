"""The leak-check plugin catches a secret that leaks and passes clean output."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from django.utils.html import format_html
from rest_framework.test import APIClient

from integrations.redaction import register_secret
from tests import leakcheck as plugin
from tests.leakcheck import KNOWN_TEST_SECRETS, LeakChecker, LeakDetected

PROJECT = Path(__file__).resolve().parent.parent


def echo(request):
    return HttpResponse(request.GET.get("q", ""))


def echo_escaped(request):
    return HttpResponse(format_html("<p>{}</p>", request.GET.get("q", "")))


def echo_json(request):
    return JsonResponse({"value": request.GET.get("q", "")})


def echo_header(request):
    response = HttpResponse("ok")
    response["X-Debug"] = request.GET.get("q", "")
    return response


def echo_stream(request):
    return StreamingHttpResponse(iter(["start ", request.GET.get("q", ""), " end"]))


def quiet(request):
    return HttpResponse("nothing to see")


urlpatterns = [
    path("echo/", echo),
    path("echo-escaped/", echo_escaped),
    path("echo-json/", echo_json),
    path("echo-header/", echo_header),
    path("echo-stream/", echo_stream),
    path("quiet/", quiet),
]


@pytest.fixture
def local():
    """A checker with its own secrets, so the suite's own guard stays clean."""
    return LeakChecker(secrets=set())


@pytest.fixture
def echo_urls(settings):
    settings.ROOT_URLCONF = __name__


def test_make_secret_returns_unique_registered_values(make_secret):
    first, second = make_secret(), make_secret("canvas")

    assert first != second
    assert first.startswith("tok-")
    assert second.startswith("canvas-")
    assert {first, second} <= KNOWN_TEST_SECRETS


def test_secret_registers_a_constant_and_rejects_short_values():
    value = plugin.secret("constant-test-token-1234")

    assert value in KNOWN_TEST_SECRETS
    with pytest.raises(ValueError, match="at least 6 characters"):
        plugin.secret("short")


def test_response_that_echoes_a_secret_is_detected(local, echo_urls):
    token = local.secret("leaky-token-0123456789")

    with local.watching():
        Client().get("/echo/", {"q": token})

    [leak] = local.find_leaks()
    assert leak.source == "response to GET /echo/ (body)"
    assert token not in str(leak)
    assert "<secret leak… (22 chars)>" in leak.excerpt
    with pytest.raises(LeakDetected, match="1 secret leak"):
        local.assert_clean()


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("/echo-json/", "response to GET /echo-json/ (body)"),
        ("/echo-header/", "response to GET /echo-header/ (headers)"),
        ("/echo-stream/", "response to GET /echo-stream/ (body)"),
    ],
)
def test_secret_in_json_headers_or_stream_is_detected(local, echo_urls, url, source):
    token = local.secret("leaky-token-abcdef012345")

    with local.watching():
        response = Client().get(url, {"q": token})

    assert [leak.source for leak in local.find_leaks()] == [source]
    if response.streaming:
        # The checker read the stream; the test still gets every byte.
        assert b"".join(response.streaming_content) == f"start {token} end".encode()


def test_escaped_forms_of_a_secret_are_detected(local, echo_urls):
    token = local.secret('p&ss<word>"0123')

    with local.watching():
        Client().get("/echo-escaped/", {"q": token})
        Client().get("/echo-json/", {"q": token})

    sources = [leak.source for leak in local.find_leaks()]
    assert sources == [
        "response to GET /echo-escaped/ (body)",
        "response to GET /echo-json/ (body)",
    ]


def test_async_client_responses_are_watched(local, echo_urls):
    token = local.secret("leaky-async-token-0123")

    with local.watching():
        asyncio.run(AsyncClient().get("/echo/", {"q": token}))

    assert [leak.source for leak in local.find_leaks()] == [
        "response to GET /echo/ (body)"
    ]


def test_drf_api_client_responses_are_watched(local, echo_urls):
    token = local.secret("leaky-api-token-0123")

    with local.watching():
        APIClient().get("/echo-json/", {"q": token})

    assert [leak.source for leak in local.find_leaks()] == [
        "response to GET /echo-json/ (body)"
    ]


def test_clean_responses_pass(local, echo_urls):
    local.secret("never-shown-token-0123")

    with local.watching():
        Client().get("/quiet/")
        Client().get("/echo/", {"q": "harmless"})

    assert local.find_leaks() == []
    local.assert_clean()


def test_log_output_is_checked_after_production_redaction(local):
    masked_by_name = local.secret("named-token-0123456789")
    registered = local.secret("registered-token-0123456789")
    register_secret(registered)
    unknown = local.secret("unknown-token-0123456789")
    logger = logging.getLogger("integrations.tests.leakcheck")

    with local.watching():
        logger.warning(
            "http.request.failed", extra={"url": f"/x?access_token={masked_by_name}"}
        )
        logger.warning("provider said %s", registered)
        logger.warning("provider said %s", unknown)

    leaks = local.find_leaks()
    assert [leak.source for leak in leaks] == [
        "log record of 'integrations.tests.leakcheck'"
    ]
    assert "<secret unkn… (24 chars)>" in leaks[0].excerpt
    assert any("access_token=***" in text for _, text in local.captured)


def test_management_command_output_is_checked(local):
    token = local.secret("command-token-0123456789")

    class PrintsToken(BaseCommand):
        def handle(self, *args, **options):
            self.stdout.write(f"token is {token}")

    with local.watching():
        call_command(PrintsToken(), stdout=io.StringIO())

    assert [leak.source for leak in local.find_leaks()] == ["management command output"]


def test_watching_restores_everything_it_patched(local):
    from django.core.management.base import OutputWrapper

    before = (Client.request, AsyncClient.request, OutputWrapper.write)
    handlers = list(logging.getLogger().handlers)

    with local.watching():
        assert Client.request is not before[0]

    assert (Client.request, AsyncClient.request, OutputWrapper.write) == before
    assert logging.getLogger().handlers == handlers


@override_settings(ROOT_URLCONF=__name__)
def test_the_suite_guard_watches_this_test_too(leakcheck, make_secret):
    token = make_secret()

    Client().get("/quiet/")
    logging.getLogger("integrations.tests").warning("token=%s", token)

    assert any("token=***" in text for _, text in leakcheck.captured)
    assert leakcheck.find_leaks() == []


INNER_TESTS = """
import logging

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from tests import leakcheck


def echo(request):
    return HttpResponse(request.GET.get("q", ""))


urlpatterns = [path("echo/", echo)]
# Built from pieces so that the source shown in a report never holds it.
TOKEN = leakcheck.secret("inner" + "-secret-" + "value-0042")


@override_settings(ROOT_URLCONF=__name__)
def test_view_echoes_secret(client):
    client.get("/echo/", {"q": TOKEN})


def test_log_masks_secret_by_name():
    logging.getLogger("inner").warning("http.call url=/x?token=%s", TOKEN)


def test_log_leaks_unregistered_secret():
    logging.getLogger("inner").warning("provider said %s", TOKEN)


@pytest.mark.allow_secret_leak("shows the secret on purpose")
@override_settings(ROOT_URLCONF=__name__)
def test_leak_allowed(client):
    client.get("/echo/", {"q": TOKEN})


def test_clean(make_secret):
    make_secret()
    logging.getLogger("inner").warning("nothing.secret.here")
"""


def test_plugin_fails_leaking_tests_and_passes_clean_ones(tmp_path):
    test_file = tmp_path / "test_inner_leaks.py"
    test_file.write_text(textwrap.dedent(INNER_TESTS))
    report = tmp_path / "report.xml"

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(test_file),
            "-p",
            "tests.leakcheck",
            "-p",
            "no:cacheprovider",
            "-c",
            str(PROJECT / "pyproject.toml"),
            "--rootdir",
            str(PROJECT),
            f"--junitxml={report}",
            "-q",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )

    outcomes = _outcomes(report)
    assert outcomes == {
        "test_view_echoes_secret": "error",
        "test_log_masks_secret_by_name": "passed",
        "test_log_leaks_unregistered_secret": "error",
        "test_leak_allowed": "passed",
        "test_clean": "passed",
    }, completed.stdout + completed.stderr
    # The leak reports name the secret by its label only. (pytest's own
    # "Captured log" sections in the output do show the leaked log line:
    # that line is the leak being reported.)
    errors = _error_reports(report)
    assert len(errors) == 2
    for text in errors:
        assert "secret leak(s)" in text
        assert "<secret inne… (23 chars)>" in text
        assert "inner-secret-value-0042" not in text
    assert "response to GET /echo/ (body)" in errors[0]
    assert "log record of 'inner'" in errors[1]


def _outcomes(report: Path) -> dict[str, str]:
    outcomes = {}
    # The report is the one the subprocess above just wrote.
    root = ElementTree.parse(report).getroot()  # noqa: S314
    for case in root.iter("testcase"):
        if case.find("error") is not None:
            outcome = "error"
        elif case.find("failure") is not None:
            outcome = "failed"
        else:
            outcome = "passed"
        outcomes[case.get("name")] = outcome
    return outcomes


def _error_reports(report: Path) -> list[str]:
    root = ElementTree.parse(report).getroot()  # noqa: S314
    return [f"{error.get('message')}\n{error.text}" for error in root.iter("error")]
