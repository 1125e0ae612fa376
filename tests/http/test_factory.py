"""client_for_integration: policy, rate limit, auth and options from the model."""

from __future__ import annotations

import pytest

from integrations.errors import ConfigurationError, RateLimitWaitTooLong
from integrations.http import factory
from integrations.http.auth import BearerToken
from integrations.http.factory import client_for_integration, policy_for, rate_limit_for
from integrations.http.ratelimit import RateLimit
from integrations.models import Credential, Integration
from integrations.providers.base import Provider
from tests import leakcheck
from tests.fakes.server import FakeServer, Reply

TOKEN = leakcheck.secret("factory-token-0a1b2c3d4e")


class TokenProvider(Provider):
    """A provider that authenticates with the integration's access_token."""

    slug = "factory-test"
    default_rate_limit = (50, 10.0)

    def __init__(self, options=None):
        self.options = options or {}

    def auth_for(self, integration):
        return BearerToken(integration.secret("access_token"))

    def client_options(self, integration):
        return dict(self.options)


@pytest.fixture(autouse=True)
def _forget_clients():
    factory.forget_clients()
    yield
    factory.forget_clients()


@pytest.fixture
def server():
    with FakeServer() as fake:
        fake.route("GET", "/api/ping", lambda request: Reply.json({"pong": True}))
        yield fake


@pytest.fixture
def integration(db, server):
    row = Integration.objects.create(
        name="factory-main", provider="factory-test", base_url=server.url
    )
    credential = Credential(integration=row, key="access_token")
    credential.set_secret(TOKEN)
    credential.save()
    return row


@pytest.fixture
def http_defaults(settings):
    settings.INTEGRATIONS_HTTP_DEFAULTS = {
        "connect_timeout": 4.0,
        "read_timeout": 12.0,
        "retry_budget": 45.0,
        "max_retries": 2,
    }
    return settings.INTEGRATIONS_HTTP_DEFAULTS


def test_client_talks_to_the_integration_with_its_credential(
    integration, server, http_defaults
):
    client = client_for_integration(integration, TokenProvider())

    assert client.get_json("/api/ping") == {"pong": True}
    assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"
    assert client.integration == "factory-main"


def test_policy_comes_from_the_environment_defaults(integration, http_defaults):
    policy = policy_for(integration)

    assert (policy.connect_timeout, policy.read_timeout) == (4.0, 12.0)
    assert (policy.retry_budget, policy.max_retries) == (45.0, 2)


def test_integration_fields_override_the_defaults(integration, http_defaults):
    integration.connect_timeout = 1.5
    integration.retry_budget = 0
    integration.save()

    policy = policy_for(integration)

    assert policy.connect_timeout == 1.5
    assert policy.read_timeout == 12.0
    assert policy.retry_budget == 0


def test_backoff_settings_are_optional_defaults(integration, settings, http_defaults):
    settings.INTEGRATIONS_HTTP_DEFAULTS = {**http_defaults, "backoff_base": 0.5}

    assert policy_for(integration).backoff_base == 0.5


def test_missing_default_is_named(integration, settings):
    settings.INTEGRATIONS_HTTP_DEFAULTS = {"connect_timeout": 1.0}

    with pytest.raises(
        ConfigurationError, match="read_timeout, retry_budget, max_retries"
    ):
        policy_for(integration)


def test_rate_limit_comes_from_the_integration_else_the_provider(integration):
    provider = TokenProvider()
    assert rate_limit_for(integration, provider) == RateLimit(50, 10.0)

    integration.rate_limit_requests = 5
    assert rate_limit_for(integration, provider) == RateLimit(5, 10.0)

    integration.rate_limit_window = 1
    assert rate_limit_for(integration, provider) == RateLimit(5, 1.0)


def test_no_rate_limit_anywhere_means_none(integration):
    class Unlimited(TokenProvider):
        default_rate_limit = None

    assert rate_limit_for(integration, Unlimited()) is None
    integration.rate_limit_requests = 10
    with pytest.raises(ConfigurationError, match="rate_limit_window"):
        rate_limit_for(integration, Unlimited())


def test_the_rate_limit_is_enforced(integration, server, http_defaults):
    integration.rate_limit_requests = 1
    integration.rate_limit_window = 60
    integration.save()
    provider = TokenProvider({"max_rate_limit_wait": 0})
    client = client_for_integration(integration, provider)

    client.request("GET", "/api/ping")
    with pytest.raises(RateLimitWaitTooLong):
        client.request("GET", "/api/ping")

    assert server.count("/api/ping") == 1


def test_client_is_reused_until_the_integration_changes(integration, http_defaults):
    provider = TokenProvider()

    first = client_for_integration(integration, provider)
    again = client_for_integration(Integration.objects.get(pk=integration.pk), provider)
    integration.read_timeout = 3
    integration.save()
    changed = client_for_integration(integration, provider)

    assert again is first
    assert changed is not first
    assert changed.policy.read_timeout == 3


def test_unsaved_edits_and_new_defaults_give_a_new_client(
    integration, settings, http_defaults
):
    provider = TokenProvider()
    first = client_for_integration(integration, provider)

    integration.connect_timeout = 0.5
    edited = client_for_integration(integration, provider)
    settings.INTEGRATIONS_HTTP_DEFAULTS = {**http_defaults, "max_retries": 0}
    redefaulted = client_for_integration(integration, provider)

    assert edited is not first
    assert edited.policy.connect_timeout == 0.5
    assert redefaulted is not edited
    assert redefaulted.policy.max_retries == 0


def test_client_is_rebuilt_when_the_credential_rotates(
    integration, server, http_defaults
):
    provider = TokenProvider()
    first = client_for_integration(integration, provider)

    credential = integration.credentials.get(key="access_token")
    credential.set_secret("rotated-token-9z8y7x6w")
    credential.save()
    second = client_for_integration(integration, provider)
    second.request("GET", "/api/ping")

    assert second is not first
    assert (
        server.requests[-1].header("Authorization") == "Bearer rotated-token-9z8y7x6w"
    )


def test_provider_options_reach_the_client(integration, server, http_defaults):
    provider = TokenProvider({"default_headers": {"Accept": "application/json"}})

    client_for_integration(integration, provider).request("GET", "/api/ping")

    assert server.requests[0].header("Accept") == "application/json"


def test_provider_may_supply_the_base_url(integration, server, http_defaults):
    integration.base_url = ""
    provider = TokenProvider({"base_url": server.url + "/api"})

    client = client_for_integration(integration, provider)

    assert client.get_json("ping") == {"pong": True}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": 3}, "unknown option"),
        ({"policy": None}, "may not set policy"),
        ({"auth": None}, "may not set auth"),
    ],
)
def test_bad_provider_options_are_named(integration, http_defaults, options, message):
    with pytest.raises(ConfigurationError, match=message):
        client_for_integration(integration, TokenProvider(options))


def test_missing_credential_is_a_configuration_error(db, server, http_defaults):
    row = Integration.objects.create(
        name="no-token", provider="factory-test", base_url=server.url
    )

    with pytest.raises(ConfigurationError, match="access_token"):
        client_for_integration(row, TokenProvider())
