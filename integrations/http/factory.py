"""Build the HttpClient of an integration from its model and its provider.

Policy: the environment's ``settings.INTEGRATIONS_HTTP_DEFAULTS``, overridden
by the integration's own non-null timeouts and retry budget. Rate limit: the
integration's, else the provider's default. Auth: ``provider.auth_for``.
Everything else: ``provider.client_options``. A learner's integration
authenticates with the learner's connection instead (a token that renews
itself).

One client is kept per integration in each process, so its connection pool
is reused from call to call; it is rebuilt when anything it was built from
changes: the integration row (saved or not), its credential, the defaults.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings

from integrations.errors import ConfigurationError
from integrations.http.client import HttpClient, HttpPolicy
from integrations.http.ratelimit import RateLimit

if TYPE_CHECKING:
    from integrations.models import Integration
    from integrations.providers.base import Provider

_POLICY_FIELDS = ("connect_timeout", "read_timeout", "retry_budget")
_OPTIONAL_POLICY_KEYS = ("backoff_base", "backoff_cap")
# What client_options() may not set: the factory owns these.
_OWNED_OPTIONS = frozenset({"integration", "policy", "auth", "rate_limit"})

_lock = threading.Lock()
# integration pk -> (version, client). The version is everything the client
# was built from, so an edit (saved or not), a rotated credential or changed
# environment defaults give a new client.
_clients: dict[Any, tuple[tuple[Any, ...], HttpClient]] = {}


def client_for_integration(integration: Integration, provider: Provider) -> HttpClient:
    """Return the integration's HttpClient, reusing this process's one if unchanged."""
    auth = _learner_auth(integration) or provider.auth_for(integration)
    options = client_kwargs(integration, provider)
    if integration.pk is None:
        # An unsaved integration (a connection test before saving) gets a
        # client of its own that nothing else will reuse.
        return HttpClient(auth=auth, **options)

    fingerprint = auth.fingerprint() if auth is not None else ""
    version = (integration.updated_at, fingerprint, options)
    with _lock:
        cached = _clients.get(integration.pk)
        if cached is not None and cached[0] == version:
            return cached[1]

    client = HttpClient(auth=auth, **options)
    with _lock:
        previous = _clients.get(integration.pk)
        _clients[integration.pk] = (version, client)
    if previous is not None and previous[1] is not client:
        previous[1].close()
    return client


def _learner_auth(integration: Integration) -> Any:
    """Return the token auth of a learner's integration, or None for others.

    A learner's token refreshes itself before it expires and once after a
    401, which a provider's static ``auth_for`` cannot do.
    """
    if integration.connection_id is None:
        return None
    from portal.accounts.tokens import ConnectionToken

    return ConnectionToken(integration.connection)


def client_kwargs(integration: Integration, provider: Provider) -> dict[str, Any]:
    """Return HttpClient's keyword arguments for ``integration``, auth aside."""
    options = dict(provider.client_options(integration) or {})
    owned = sorted(_OWNED_OPTIONS & options.keys())
    if owned:
        raise ConfigurationError(
            f"{type(provider).__name__}.client_options() may not set {', '.join(owned)}: "
            "the factory builds them from the integration.",
            integration=integration.name,
        )
    unknown = sorted(options.keys() - _client_parameters())
    if unknown:
        raise ConfigurationError(
            f"{type(provider).__name__}.client_options() returned unknown option(s) "
            f"{', '.join(unknown)}; HttpClient accepts "
            f"{', '.join(sorted(_client_parameters() - _OWNED_OPTIONS))}.",
            integration=integration.name,
        )

    options.setdefault("base_url", integration.base_url)
    options["integration"] = integration.name
    options["policy"] = policy_for(integration)
    options["rate_limit"] = rate_limit_for(integration, provider)
    return options


def policy_for(integration: Integration) -> HttpPolicy:
    """Return the environment's HTTP policy with the integration's overrides."""
    defaults = dict(settings.INTEGRATIONS_HTTP_DEFAULTS)
    missing = [key for key in (*_POLICY_FIELDS, "max_retries") if key not in defaults]
    if missing:
        raise ConfigurationError(
            f"settings.INTEGRATIONS_HTTP_DEFAULTS lacks {', '.join(missing)}.",
            integration=integration.name,
        )

    values: dict[str, Any] = {
        key: defaults[key] for key in (*_POLICY_FIELDS, "max_retries")
    }
    values.update(
        {key: defaults[key] for key in _OPTIONAL_POLICY_KEYS if key in defaults}
    )
    for name in _POLICY_FIELDS:
        override = getattr(integration, name, None)
        if override is not None:
            values[name] = float(override)
    try:
        return HttpPolicy(**values)
    except ConfigurationError as error:
        error.integration = integration.name
        raise


def rate_limit_for(integration: Integration, provider: Provider) -> RateLimit | None:
    """Return the integration's rate limit, else the provider's default, else None."""
    default = provider.default_rate_limit
    requests = integration.rate_limit_requests
    window = integration.rate_limit_window
    if requests is None and window is None:
        if default is None:
            return None
        requests, window = default
    elif requests is None or window is None:
        # One half set: the other half comes from the provider's default.
        if default is None:
            missing = "rate_limit_window" if window is None else "rate_limit_requests"
            raise ConfigurationError(
                f"Integration '{integration.name}' sets only half of its rate limit: set "
                f"{missing} too (the provider has no default to fill it in).",
                integration=integration.name,
                details={"field": missing},
            )
        requests = default[0] if requests is None else requests
        window = default[1] if window is None else window

    try:
        return RateLimit(requests=int(requests), window=float(window))
    except ValueError as error:
        raise ConfigurationError(
            f"Integration '{integration.name}' has an invalid rate limit: {error}",
            integration=integration.name,
        ) from error


@functools.cache
def _client_parameters() -> frozenset[str]:
    return frozenset(inspect.signature(HttpClient).parameters)


def forget_clients() -> None:
    """Close and drop every cached client (tests, and after settings change)."""
    with _lock:
        clients = [client for _, client in _clients.values()]
        _clients.clear()
    for client in clients:
        client.close()
