"""Canvas's OAuth 2 endpoints, on the instance of the portal's Canvas integration.

Canvas OAuth 2 (doc/api/oauth_endpoints.md): authorize at
``/login/oauth2/auth``, exchange and refresh at ``/login/oauth2/token``;
access tokens live one hour. The instance is the base URL of the Canvas
integration chosen on the provider app, so learners connect to the same
Canvas the portal syncs.
"""

from __future__ import annotations

from typing import Any

from allauth.core import context
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from django.http import HttpRequest


class CanvasOAuth2Adapter(OAuth2Adapter):
    """Canvas's authorize, token and profile URLs, from the provider app."""

    provider_id = "canvas"
    # Canvas sends the token endpoint's errors as RFC 6749 JSON and the
    # consent refusal as error=access_denied on the callback.
    login_cancelled_error = "access_denied"

    def _instance(self) -> str:
        app = get_adapter().get_app(context.request, provider=self.provider_id)
        portal_app = getattr(app, "portal_app", None)
        integration = getattr(portal_app, "integration", None)
        if integration is None or not integration.base_url:
            raise OAuth2Error("The Canvas provider app has no Canvas integration.")
        return integration.base_url.rstrip("/")

    @property
    def authorize_url(self) -> str:  # type: ignore[override]
        """Return ``/login/oauth2/auth`` on the Canvas instance."""
        return f"{self._instance()}/login/oauth2/auth"

    @property
    def access_token_url(self) -> str:  # type: ignore[override]
        """Return ``/login/oauth2/token`` on the Canvas instance."""
        return f"{self._instance()}/login/oauth2/token"

    @property
    def profile_url(self) -> str:
        """Return the token user's profile endpoint."""
        return f"{self._instance()}/api/v1/users/self/profile"

    def complete_login(
        self, request: HttpRequest, app: Any, token: Any, **kwargs: Any
    ) -> Any:
        """Fetch the token user's profile and build the social login from it."""
        headers = {"Authorization": f"Bearer {token.token}"}
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, headers=headers)
        if response.status_code != 200:
            # The body is not quoted: error bodies can echo the request.
            raise OAuth2Error(
                f"Canvas answered HTTP {response.status_code} for the user's profile."
            )
        profile = response.json()
        if not isinstance(profile, dict) or "id" not in profile:
            raise OAuth2Error("Canvas's profile answer has no user id.")
        return self.get_provider().sociallogin_from_response(request, profile)


oauth2_login = OAuth2LoginView.adapter_view(CanvasOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(CanvasOAuth2Adapter)
