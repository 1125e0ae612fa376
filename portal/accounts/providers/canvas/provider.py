"""Canvas as an allauth OAuth 2 provider: identity, scopes, profile fields.

A learner's Canvas user id is the uid; the profile (``GET
/api/v1/users/self/profile``) gives the name and the address Canvas has on
file. Canvas does not say whether it verified that address, so it is never
treated as verified: a Canvas sign-in never links to a portal account by
email on its own.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from portal.accounts.providers.canvas.views import CanvasOAuth2Adapter


class CanvasAccount(ProviderAccount):
    """A connected Canvas user, shown by name."""

    def get_avatar_url(self) -> str | None:
        """Return the Canvas avatar, if the profile has one."""
        return self.account.extra_data.get("avatar_url")

    def to_str(self) -> str:
        """Return the name Canvas shows, else the login id."""
        data = self.account.extra_data
        return str(data.get("name") or data.get("login_id") or super().to_str())


class CanvasProvider(OAuth2Provider):
    """Sign in with, or connect, a Canvas account."""

    id = "canvas"
    name = "Canvas"
    account_class = CanvasAccount
    oauth2_adapter_class = CanvasOAuth2Adapter

    def get_default_scope(self) -> list[str]:
        """Ask for no scope: keys without enforced scopes grant the user's access.

        A developer key that enforces scopes needs them listed on the
        provider app (Canvas answers ``invalid_scope`` otherwise).
        """
        return []

    def extract_uid(self, data: dict[str, Any]) -> str:
        """Return the Canvas user id."""
        return str(data["id"])

    def extract_common_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        """Return the fields a new portal user is filled in with."""
        return {
            "email": data.get("primary_email") or None,
            "username": data.get("login_id") or None,
            "name": data.get("name") or "",
        }

    def extract_email_addresses(self, data: dict[str, Any]) -> list[EmailAddress]:
        """Return Canvas's address, unverified (Canvas does not say)."""
        email = data.get("primary_email")
        if not email:
            return []
        return [EmailAddress(email=email, verified=False, primary=True)]


provider_classes = [CanvasProvider]
