"""Obtain a Moodle web service token from a username and password.

Admins who prefer not to create a token in Moodle's admin can give the
integration a ``username`` setting, a ``service`` setting (the short name of
an enabled external service the user is allowed to use) and a ``password``
credential. The portal then asks ``/login/token.php`` for the user's token
and stores it, encrypted, as the ``token`` credential; later calls use the
stored token, and a token Moodle stops accepting is replaced the same way.

``/login/token.php`` answers ``{"token": "<32 hex>", "privatetoken": ...}``
on success and ``{"error": "...", "errorcode": "...", ...}`` on failure (the
HTTP status of failures varies between Moodle versions, so the body decides;
see :func:`integrations.providers.moodle.client.map_moodle_error`). The
password travels only in the POST body and is never logged.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING

from django.db import transaction

from integrations import errors, redaction
from integrations.models import Credential, CredentialKind
from integrations.providers.moodle.client import (
    TOKEN_PATH,
    MoodleClient,
    map_moodle_error,
)

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

logger = logging.getLogger(__name__)

TOKEN_CREDENTIAL = "token"  # noqa: S105 (a credential key)
PASSWORD_CREDENTIAL = "password"  # noqa: S105 (a credential key)
# Moodle's tokens are 32 hexadecimal characters (md5 of random data); a
# site with a customised generator may differ, so only the character set
# and a sane length are checked.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9]{16,128}$")


def can_obtain_token(integration: Integration) -> bool:
    """Tell whether the integration is set up to obtain tokens by password."""
    settings = integration.settings or {}
    return bool(
        settings.get("username")
        and settings.get("service")
        and integration.credentials.filter(key=PASSWORD_CREDENTIAL)
        .exclude(value="")
        .exists()
    )


def request_token(http: HttpClient, username: str, password: str, service: str) -> str:
    """Ask ``/login/token.php`` for the user's token for ``service``; return it."""
    for name, value in (("username", username), ("service", service)):
        if not isinstance(value, str) or not value.strip():
            raise errors.ConfigurationError(
                f"Obtaining a Moodle token needs the '{name}' setting.",
                integration=http.integration,
                details={"setting": name},
            )
    if not isinstance(password, str) or not password:
        raise errors.ConfigurationError(
            "Obtaining a Moodle token needs the 'password' credential.",
            integration=http.integration,
            details={"credential": PASSWORD_CREDENTIAL},
        )
    redaction.register_secret(password)

    # token.php hands back the user's existing token for the service, or
    # creates one, so asking twice is harmless and retries are safe.
    response = http.request(
        "POST",
        TOKEN_PATH,
        data={"username": username, "password": password, "service": service},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        idempotent=True,
        expected_status=200,
    )
    error = map_moodle_error(response)
    if error is not None:
        error.integration = error.integration or http.integration
        error.url = error.url or response.url
        raise error

    body = response.json()
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        raise response.invalid(
            "Moodle's token endpoint answered without a usable 'token'"
        )
    redaction.register_secret(token)
    return token


def obtain_token(integration: Integration, http: HttpClient) -> str:
    """Obtain a token by username and password and store it as ``token``.

    Return the token. The credential is created or replaced in one
    transaction; its value is encrypted when saved.
    """
    settings = integration.settings or {}
    password = integration.secret(PASSWORD_CREDENTIAL, required=False)
    token = request_token(
        http,
        str(settings.get("username") or ""),
        password,
        str(settings.get("service") or ""),
    )

    with transaction.atomic():
        credential = (
            Credential.objects.select_for_update()
            .filter(integration=integration, key=TOKEN_CREDENTIAL)
            .first()
        )
        if credential is None:
            credential = Credential(
                integration=integration,
                key=TOKEN_CREDENTIAL,
                kind=CredentialKind.API_KEY,
            )
        credential.set_secret(token)
        credential.save()
    logger.info(
        "moodle.token.obtained",
        extra={"integration": integration.name, "service": settings.get("service")},
    )
    return token


def connect(integration: Integration, http: HttpClient) -> MoodleClient:
    """Return a MoodleClient with the integration's token.

    The stored ``token`` credential is used when there is one. An integration
    set up for password login obtains (and stores) a token when it has none,
    and obtains a new one once if Moodle stops accepting the stored one.
    """
    token = integration.secret(TOKEN_CREDENTIAL, required=False)
    refresh = None
    if can_obtain_token(integration):
        refresh = functools.partial(obtain_token, integration, http)
        if not token:
            token = refresh()
    if not token:
        raise errors.ConfigurationError(
            f"Integration '{integration.name}' has no Moodle token: add the 'token' "
            "credential, or the 'password' credential with the 'username' and "
            "'service' settings to obtain one.",
            integration=integration.name,
            details={"credential": TOKEN_CREDENTIAL},
        )
    return MoodleClient(http, token, refresh_token=refresh)
