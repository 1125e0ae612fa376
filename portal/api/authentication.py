"""Bearer token authentication: ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from portal.api.models import ApiToken

KEYWORD = "Bearer"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate a request by one of the user's API tokens.

    ``request.auth`` is the ApiToken row, which the per-token throttle keys
    on. A request without an ``Authorization: Bearer`` header is left to the
    other authentication classes (the session).
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        """Return (user, token) for a valid bearer token, None when none is sent."""
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: send 'Bearer <token>' with one "
                "token and no spaces in it."
            )
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "Invalid bearer token: it must be ASCII."
            ) from None

        row = ApiToken.objects.authenticate(token)
        if row is None or not row.user.is_active:
            raise exceptions.AuthenticationFailed(
                "Invalid, expired or revoked bearer token."
            )
        row.touch()
        return row.user, row

    def authenticate_header(self, request: Request) -> str:
        """Return the WWW-Authenticate value of a 401 answer."""
        return f'{KEYWORD} realm="api"'
