"""Rate limits on the OAuth flows, against brute force and state guessing.

allauth limits password sign-in itself (``login_failed``); the start of a
connection (``<provider>_login``) and its callback (``<provider>_callback``)
have no limit there, so this middleware applies the portal's
``oauth_start`` and ``oauth_callback`` limits of ``ACCOUNT_RATE_LIMITS``
through allauth's own rate-limit machinery (the cache), answering 429.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.core import ratelimit
from django.http import HttpRequest, HttpResponse


class OAuthRateLimitMiddleware:
    """Answer 429 when a client starts or completes too many OAuth flows."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        """Consume one unit of the matching limit before an OAuth view runs."""
        match = request.resolver_match
        name = match.url_name if match is not None else ""
        if not name:
            return None
        provider_id, _, step = name.rpartition("_")
        if step not in _ACTIONS or provider_id not in _provider_ids():
            return None
        action = _ACTIONS[step]
        rates = account_settings.RATE_LIMITS.get(action) or ""
        if not request.user.is_authenticated:
            # A sign-in through a service has no user yet: its per-address
            # limits apply, the per-user ones cannot.
            rates = ",".join(
                part for part in rates.split(",") if not part.strip().endswith("/user")
            )
        # Callbacks are GETs, which allauth does not count unless told to.
        return ratelimit.consume_or_429(
            request, action=action, limit_get=True, config={action: rates}
        )


_ACTIONS = {"login": "oauth_start", "callback": "oauth_callback"}


def _provider_ids() -> set[str]:
    from allauth.socialaccount import providers

    providers.registry.load()
    return {provider.id for provider in providers.registry.get_class_list()}
