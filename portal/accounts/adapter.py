"""How django-allauth's social accounts behave in the portal.

- Apps come from :class:`~portal.accounts.models.ProviderApp` rows, whose
  client secret is encrypted, never from allauth's plaintext ``SocialApp``
  table: :meth:`PortalSocialAccountAdapter.list_apps` builds the unsaved
  ``SocialApp`` objects allauth works with.
- A social login is linked to an existing portal user by email only when
  the address is verified on both sides: at the service and in the
  portal. Otherwise allauth asks (the sign-up form) or refuses.
- Errors of a provider are logged without the exception's text, which
  can embed the token endpoint's response body.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from integrations.http.client import guarded_session
from portal.accounts.models import ProviderApp
from portal.accounts.services import service_for

logger = logging.getLogger(__name__)


def social_app_for(app: ProviderApp) -> SocialApp:
    """Return the unsaved allauth ``SocialApp`` a provider app stands for."""
    service = service_for(app.provider)
    app_settings: dict[str, Any] = {}
    scopes = app.scopes.split() or list(service.default_scopes if service else ())
    if scopes:
        app_settings["scope"] = scopes
    if service is not None:
        app_settings["oauth_pkce_enabled"] = service.pkce
        if service.auth_params:
            app_settings["auth_params"] = dict(service.auth_params)
    if app.provider == "gitlab" and app.base_url:
        app_settings["gitlab_url"] = app.base_url.rstrip("/")

    social_app = SocialApp(
        provider=app.provider,
        name=app.name,
        client_id=app.client_id,
        secret=app.secret.reveal() if app.secret else "",
        settings=app_settings,
    )
    # Kept for the portal's own provider (Canvas needs its instance).
    social_app.portal_app = app
    return social_app


class PortalSocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth's social-account behaviour, with the portal's apps and rules."""

    def list_apps(
        self, request: HttpRequest | None, provider: str | None = None, client_id=None
    ) -> list[SocialApp]:
        """Return the enabled provider apps as allauth ``SocialApp`` objects."""
        apps = ProviderApp.objects.filter(enabled=True).select_related("integration")
        if provider:
            apps = apps.filter(provider=provider)
        if client_id:
            apps = apps.filter(client_id=client_id)
        return [social_app_for(app) for app in apps]

    def authenticate_by_email(self, sociallogin: SocialLogin) -> Any:
        """Link to the portal user whose verified address the service verified.

        allauth would also pick a user whose address is not verified in the
        portal; that would let whoever controls the service account take over
        a portal account that merely typed the same address.
        """
        for address in sociallogin.email_addresses:
            if not address.verified:
                continue
            if not self.can_authenticate_by_email(sociallogin, address.email):
                continue
            verified = (
                EmailAddress.objects.filter(
                    email__iexact=address.email, verified=True, user__is_active=True
                )
                .select_related("user")
                .first()
            )
            if verified is not None:
                return verified.user, address.email
        return None

    def get_connect_redirect_url(self, request: HttpRequest, socialaccount: Any) -> str:
        """Return the learner's Connected accounts page after a connection."""
        return reverse("accounts_connections")

    def get_requests_session(self) -> requests.Session:
        """Return a session with the portal's host guard and timeouts.

        allauth exchanges codes and fetches profiles with it; the guard
        refuses private and metadata addresses as it does for every
        integration.
        """
        session = guarded_session("oauth")
        defaults = settings.INTEGRATIONS_HTTP_DEFAULTS
        timeout = (defaults["connect_timeout"], defaults["read_timeout"])
        session.request = functools.partial(session.request, timeout=timeout)
        return session

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: str | None = None,
        exception: Exception | None = None,
        extra_context: dict | None = None,
    ) -> None:
        """Log a failed OAuth step by its kind, never by the exception's text."""
        logger.warning(
            "accounts.oauth.failed",
            extra={
                "provider": getattr(provider, "id", str(provider)),
                "error": error or "",
                "exception": type(exception).__name__ if exception else "",
            },
        )
