"""Credential kinds: what they send, what they register, what they never show."""

from __future__ import annotations

import base64
import hashlib

import pytest

from integrations import redaction
from integrations.errors import ConfigurationError
from integrations.http.auth import BasicAuth, BearerToken, HeaderApiKey, QueryApiKey
from tests import leakcheck
from tests.fakes.server import FakeServer, Reply
from tests.http.support import make_client

TOKEN = leakcheck.secret("tok-3b9c1f0e8d7a6b5c")


@pytest.fixture
def server():
    with FakeServer() as fake:
        fake.route("*", "/whoami", lambda request: Reply.json({"ok": True}))
        yield fake


def test_bearer_token_is_sent_as_authorization(server):
    make_client(server.url, auth=BearerToken(TOKEN)).request("GET", "/whoami")

    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"


def test_header_api_key_is_sent_in_its_header(server):
    make_client(server.url, auth=HeaderApiKey("PRIVATE-TOKEN", TOKEN)).request(
        "GET", "/whoami"
    )

    assert server.requests[0].header("PRIVATE-TOKEN") == TOKEN
    assert server.requests[0].header("Authorization") is None


def test_query_api_key_is_sent_as_a_parameter_beside_the_callers(server):
    client = make_client(server.url, auth=QueryApiKey("wstoken", TOKEN))

    client.request(
        "GET", "/whoami", params={"wsfunction": "core_webservice_get_site_info"}
    )

    assert server.requests[0].arg("wstoken") == TOKEN
    assert server.requests[0].arg("wsfunction") == "core_webservice_get_site_info"


def test_basic_auth_is_sent_as_rfc_7617_credentials(server):
    make_client(server.url, auth=BasicAuth("ana", "pässword-1")).request(
        "POST", "/whoami"
    )

    expected = base64.b64encode("ana:pässword-1".encode()).decode()
    assert server.requests[0].header("Authorization") == f"Basic {expected}"


@pytest.mark.parametrize(
    "auth",
    [
        BearerToken(TOKEN),
        HeaderApiKey("X-Api-Key", TOKEN),
        QueryApiKey("key", TOKEN),
        BasicAuth("ana", TOKEN),
    ],
    ids=["bearer", "header", "query", "basic"],
)
def test_repr_and_str_never_show_the_secret(auth):
    assert TOKEN not in repr(auth)
    assert TOKEN not in str(auth)
    assert "***" in repr(auth)


@pytest.mark.parametrize(
    ("auth", "material"),
    [
        (BearerToken(TOKEN), TOKEN),
        (HeaderApiKey("X-Api-Key", TOKEN), TOKEN),
        (QueryApiKey("key", TOKEN), TOKEN),
        (BasicAuth("ana", TOKEN), f"ana:{TOKEN}"),
    ],
    ids=["bearer", "header", "query", "basic"],
)
def test_fingerprint_is_a_sha256_of_the_secret_not_the_secret(auth, material):
    assert auth.fingerprint() == hashlib.sha256(material.encode()).hexdigest()
    assert TOKEN not in auth.fingerprint()


def test_different_secrets_have_different_fingerprints():
    assert (
        BearerToken("first-token-111").fingerprint()
        != BearerToken("second-token-222").fingerprint()
    )


def test_making_an_auth_registers_its_secret_for_redaction():
    secret = "fresh-secret-7d1e2c3b4a"
    assert secret in redaction.redact_text(f"saw {secret} in a message")

    BearerToken(secret)

    assert secret not in redaction.redact_text(f"saw {secret} in a message")


def test_basic_auth_registers_the_encoded_pair_too():
    auth = BasicAuth("ana", "hunter2-correct-horse")
    encoded = base64.b64encode(b"ana:hunter2-correct-horse").decode()

    assert encoded not in redaction.redact_text(f"header was {encoded}")
    assert "hunter2-correct-horse" not in repr(auth)


def test_query_key_scrub_removes_only_its_parameter_byte_for_byte():
    auth = QueryApiKey("wstoken", TOKEN)
    url = f"https://m.example/ws?include%5B%5D=a&wstoken={TOKEN}&page=2&wstoken=again#frag"

    assert auth.scrub_url(url) == "https://m.example/ws?include%5B%5D=a&page=2#frag"
    assert (
        auth.scrub_url(f"https://m.example/ws?wstoken={TOKEN}")
        == "https://m.example/ws"
    )
    assert auth.scrub_url("https://m.example/ws") == "https://m.example/ws"
    assert BearerToken(TOKEN).scrub_url(url) == url


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: BearerToken(""), "BearerToken needs a non-empty string for 'token'"),
        (lambda: BearerToken(None), "BearerToken needs a non-empty string"),
        (lambda: BearerToken("abc\r\nX-Evil: 1"), "must not contain line breaks"),
        (lambda: HeaderApiKey("X Api Key", TOKEN), "valid header name"),
        (lambda: HeaderApiKey("X-Api-Key", "  "), "'value'"),
        (lambda: QueryApiKey("a&b", TOKEN), "plain query parameter name"),
        (lambda: BasicAuth("a:b", TOKEN), "without ':'"),
        (lambda: BasicAuth("ana", ""), "'password'"),
    ],
)
def test_bad_credentials_are_refused_with_the_problem_named(build, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        build()

    assert TOKEN not in str(caught.value)
