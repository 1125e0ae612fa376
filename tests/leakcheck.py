"""A pytest plugin that fails any test in which a known test secret leaks.

Tests name the secrets they use, and for every test the plugin watches what
the portal puts out:

- every log record, passed through :class:`RedactingFilter` and
  :class:`StructuredFormatter` exactly as the production handler does;
- every response of ``django.test.Client`` and ``AsyncClient`` (DRF's
  ``APIClient`` goes through ``Client.request``): content and headers;
- everything management commands write to their stdout and stderr.

At teardown the test errors if a registered secret, or its HTML-, JSON- or
URL-escaped form, appears in any of it. The report names the secret by a
short label and shows where it leaked, with the secret itself cut out.
Not watched: responses built with RequestFactory and called directly, the
bodies of async streaming responses, and plain print() output.

Naming secrets::

    def test_something(make_secret):
        token = make_secret("canvas")          # unique, already registered

    TOKEN = leakcheck.secret("a-constant-test-token")   # module level

A test that shows a secret on purpose is marked
``@pytest.mark.allow_secret_leak("why")``.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from integrations.redaction import RedactingFilter, StructuredFormatter

#: Every secret registered in this test session. Tests may add to it directly.
KNOWN_TEST_SECRETS: set[str] = set()
MIN_SECRET_LENGTH = 6


def secret(value: str) -> str:
    """Register ``value`` as a test secret for the whole session and return it."""
    _check_secret(value)
    KNOWN_TEST_SECRETS.add(value)
    return value


def _check_secret(value: str) -> None:
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"A test secret must be a str of at least {MIN_SECRET_LENGTH} "
            "characters; a shorter one would match ordinary output."
        )


def _label(value: str) -> str:
    return f"<secret {value[:4]}… ({len(value)} chars)>"


@functools.lru_cache(maxsize=4096)
def _forms(value: str) -> tuple[str, ...]:
    # The ways a template, a JSON encoder or a URL builder writes the value.
    return tuple(
        {
            value,
            html.escape(value),
            html.escape(value, quote=False),
            json.dumps(value)[1:-1],
            quote(value, safe=""),
            quote_plus(value, safe=""),
        }
    )


class LeakDetected(AssertionError):
    """A registered secret appeared in captured output."""


@dataclass(frozen=True)
class Leak:
    """One registered secret found in one captured output."""

    secret_label: str
    source: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.secret_label} in {self.source}: {self.excerpt}"


class _CapturingHandler(logging.Handler):
    """Format records as production does and hand the text to the checker."""

    def __init__(self, checker: LeakChecker) -> None:
        super().__init__(level=logging.NOTSET)
        self.checker = checker
        self.addFilter(RedactingFilter())
        self.setFormatter(StructuredFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.checker.capture(f"log record of {record.name!r}", self.format(record))
        except Exception:  # a broken record must not break the test run
            self.handleError(record)


class LeakChecker:
    """Collect what the portal puts out and look for registered secrets in it."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        self.secrets = KNOWN_TEST_SECRETS if secrets is None else secrets
        self.captured: list[tuple[str, str]] = []

    def secret(self, value: str) -> str:
        """Register ``value`` with this checker and return it."""
        _check_secret(value)
        self.secrets.add(value)
        return value

    def capture(self, source: str, content: str | bytes) -> None:
        """Remember ``content`` (text or bytes) as output from ``source``."""
        if isinstance(content, bytes):
            content = content.decode("utf-8", errors="replace")
        if content:
            self.captured.append((source, content))

    def capture_response(self, response: Any) -> None:
        """Remember the headers, cookies and body of a test client response."""
        # Client keeps the WSGI environ here, AsyncClient the ASGI scope.
        request = getattr(response, "request", None) or {}
        method = request.get("REQUEST_METHOD") or request.get("method") or "?"
        where = request.get("PATH_INFO") or request.get("path") or "?"
        source = f"response to {method} {where}"
        headers = "\n".join(f"{name}: {value}" for name, value in response.items())
        self.capture(f"{source} (headers)", headers)
        self.capture(f"{source} (cookies)", response.cookies.output())
        if not response.streaming:
            self.capture(f"{source} (body)", response.content)
        elif not response.is_async:
            # Read the stream once and hand the test the same bytes back.
            chunks = list(response.streaming_content)
            response.streaming_content = chunks
            self.capture(f"{source} (body)", b"".join(chunks))

    def find_leaks(self) -> list[Leak]:
        """Return every registered secret found in the captured output."""
        if not self.captured or not self.secrets:
            return []
        everything = "\n".join(content for _, content in self.captured)
        leaked = [
            value
            for value in self.secrets
            if any(form in everything for form in _forms(value))
        ]
        leaks = []
        for value in leaked:
            for source, content in self.captured:
                if any(form in content for form in _forms(value)):
                    excerpt = self._excerpt(content, _label(value))
                    leaks.append(Leak(_label(value), source, excerpt))
        return leaks

    def _excerpt(self, content: str, label: str) -> str:
        # The report must not become the leak: every secret is replaced by
        # its label before a window is cut, so none shows even in part.
        for value in sorted(self.secrets, key=len, reverse=True):
            for form in _forms(value):
                content = content.replace(form, _label(value))
        start = content.index(label)
        excerpt = content[max(0, start - 60) : start + len(label) + 60]
        return " ".join(excerpt.split())

    def assert_clean(self) -> None:
        """Raise LeakDetected listing every leak, if there is one."""
        leaks = self.find_leaks()
        if leaks:
            lines = "\n".join(f"- {leak}" for leak in leaks)
            raise LeakDetected(f"{len(leaks)} secret leak(s):\n{lines}")

    @contextmanager
    def watching(self) -> Iterator[LeakChecker]:
        """Capture logs, test client responses and command output meanwhile."""
        from django.core.management.base import OutputWrapper
        from django.test.client import AsyncClient, Client

        handler = _CapturingHandler(self)
        root = logging.getLogger()
        patches = _Patches()
        root.addHandler(handler)
        try:
            patches.replace(Client, "request", self._wrap_request)
            patches.replace(AsyncClient, "request", self._wrap_async_request)
            patches.replace(OutputWrapper, "write", self._wrap_write)
            yield self
        finally:
            patches.restore()
            root.removeHandler(handler)

    def _wrap_request(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def request(client: Any, **kwargs: Any) -> Any:
            response = original(client, **kwargs)
            self.capture_response(response)
            return response

        return request

    def _wrap_async_request(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        async def request(client: Any, **kwargs: Any) -> Any:
            response = await original(client, **kwargs)
            self.capture_response(response)
            return response

        return request

    def _wrap_write(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def write(wrapper: Any, msg: str = "", *args: Any, **kwargs: Any) -> Any:
            self.capture("management command output", msg)
            return original(wrapper, msg, *args, **kwargs)

        return write


class _Patches:
    """Replace class attributes and put them back, innermost first."""

    def __init__(self) -> None:
        self._undo: list[tuple[type, str, Any]] = []

    def replace(
        self, owner: type, name: str, wrap: Callable[[Callable[..., Any]], Any]
    ) -> None:
        previous = owner.__dict__[name] if name in owner.__dict__ else None
        current = getattr(owner, name)
        self._undo.append((owner, name, previous))
        setattr(owner, name, wrap(current))

    def restore(self) -> None:
        while self._undo:
            owner, name, previous = self._undo.pop()
            if previous is None:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that lets a test show a secret on purpose."""
    config.addinivalue_line(
        "markers",
        "allow_secret_leak(reason): the test shows a registered secret on purpose; "
        "skip the leak check",
    )


@pytest.fixture(autouse=True)
def _leakcheck_guard(request: pytest.FixtureRequest) -> Iterator[LeakChecker]:
    """Watch every test's output and fail it when a registered secret leaks."""
    checker = LeakChecker()
    with checker.watching():
        yield checker
    if request.node.get_closest_marker("allow_secret_leak") is None:
        checker.assert_clean()


@pytest.fixture
def leakcheck(_leakcheck_guard: LeakChecker) -> LeakChecker:
    """Return the running test's leak checker (``leakcheck.secret(value)``)."""
    return _leakcheck_guard


@pytest.fixture
def make_secret() -> Callable[..., str]:
    """Return a factory of unique random secrets, each already registered."""

    def make(prefix: str = "tok") -> str:
        return secret(f"{prefix}-{secrets.token_hex(16)}")

    return make
