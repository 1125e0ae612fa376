"""OAuth redirect URIs built from PORTAL_SITE_URL, never from the Host header.

allauth builds a provider's ``redirect_uri`` with
``request.build_absolute_uri``, i.e. from the Host header the browser (or an
attacker) sent. The portal's callback address is a fact of its
configuration, registered at every service, so it is built from
``settings.PORTAL_SITE_URL`` instead. allauth offers no setting or adapter
hook for this, so :func:`build_callbacks_from_site_url` replaces
``OAuth2Adapter.get_callback_url`` once at start-up; every OAuth 2
provider, allauth's and the portal's own, goes through it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse


def site_url() -> str:
    """Return the portal's public address, without a trailing slash."""
    return settings.PORTAL_SITE_URL.rstrip("/")


def callback_url(provider_id: str) -> str:
    """Return the redirect URI of ``provider_id`` (register it at the service)."""
    return f"{site_url()}{reverse(f'{provider_id}_callback')}"


def _callback_from_site_url(adapter: Any, request: Any, app: Any) -> str:
    return callback_url(adapter.provider_id)


def build_callbacks_from_site_url() -> None:
    """Make every allauth OAuth 2 adapter use :func:`callback_url`."""
    from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter

    OAuth2Adapter.get_callback_url = _callback_from_site_url
