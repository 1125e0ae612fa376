"""How django-allauth behaves in the portal."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest


class PortalAccountAdapter(DefaultAccountAdapter):
    """Keep sign-up closed unless PORTAL_OPEN_SIGNUP allows it.

    Learner accounts come from syncs (and, later, from connecting an OAuth
    account); an open sign-up form would let anyone create accounts.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Tell allauth whether the sign-up form is available."""
        return bool(getattr(settings, "PORTAL_OPEN_SIGNUP", False))
