"""The registry of providers: slug to provider instance.

Each provider package registers itself from its ``provider.py``;
:func:`autodiscover` imports every package under integrations/providers/ when
the app is ready, so adding a provider means adding its folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from integrations.providers.base import Provider

_providers: dict[str, Provider] = {}


class UnknownProvider(LookupError):
    """No provider is registered under the requested slug."""

    def __init__(self, slug: str) -> None:
        known = ", ".join(sorted(_providers)) or "none"
        super().__init__(f"Unknown provider {slug!r}; known providers: {known}.")
        self.slug = slug


def register(provider_class: type[Provider]) -> type[Provider]:
    """Register a provider class by its slug; usable as a class decorator."""
    slug = provider_class.slug
    if not slug:
        raise ValueError(f"{provider_class.__name__} has no slug")
    existing = _providers.get(slug)
    if existing is not None and type(existing) is not provider_class:
        raise ValueError(f"provider slug {slug!r} is already registered")
    _providers[slug] = provider_class()
    return provider_class


def get_provider(slug: str) -> Provider:
    """Return the provider registered as ``slug`` or raise UnknownProvider."""
    try:
        return _providers[slug]
    except KeyError:
        raise UnknownProvider(slug) from None


def all_providers() -> list[Provider]:
    """Return every registered provider, sorted by slug."""
    return [_providers[slug] for slug in sorted(_providers)]


def autodiscover() -> None:
    """Import ``provider`` of every package under integrations.providers."""
    import integrations.providers as package

    for module in pkgutil.iter_modules(package.__path__):
        name = f"{package.__name__}.{module.name}.provider"
        # A package without provider.py (shared helpers) registers nothing.
        if module.ispkg and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
