"""The one way to a learner's current access token: refreshed, locked, typed.

Providers and the HTTP layer call :func:`access_token_for` (or build a
:class:`ConnectionToken` auth from a connection) and never read a token
column themselves. A token that expires within the margin is refreshed
first; a token the service refused with 401 is refreshed once by
:func:`renew_after_rejection`. Refreshes take a lease on the connection row
(a conditional UPDATE, so it holds on SQLite and PostgreSQL alike): the
first worker refreshes, the others wait for its result instead of spending
the refresh token a second time. A refused refresh marks the connection
"needs re-authorization" and raises :class:`ReauthorizationRequired`, which
is not retryable, so syncs that need the token stop at once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

from allauth.socialaccount.models import SocialAccount, SocialToken
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations import redaction
from integrations.errors import AuthenticationFailed, TransientError
from integrations.http.auth import HttpAuth
from integrations.models import Integration
from portal.accounts import services
from portal.accounts.callbacks import callback_url
from portal.accounts.models import Connection, ConnectionStatus, ProviderApp

logger = logging.getLogger(__name__)

#: How long one refresh may hold the lease before another worker may try.
REFRESH_LEASE_SECONDS = 30
#: How often a worker waiting for another's refresh looks at the row.
_WAIT_INTERVAL = 0.05


class ReauthorizationRequired(AuthenticationFailed):
    """The learner must connect the account again; no retry will help."""

    code = "reauthorization_required"
    retryable = False


def refresh_margin() -> timedelta:
    """Return how long before expiry a token is refreshed."""
    return timedelta(seconds=settings.PORTAL_TOKEN_REFRESH_MARGIN_SECONDS)


# --- Storing what allauth obtained ----------------------------------------------


def store_tokens(
    account: SocialAccount, token: SocialToken | None, scopes: str
) -> Connection:
    """Create or update the connection of ``account`` with allauth's tokens.

    Called when a learner connects or signs in through a service. A
    reconnection replaces the tokens and clears "needs re-authorization".
    A token response without a refresh token keeps the stored one, as
    Canvas and Google send it only on the first consent.
    """
    name = _display_name(account)
    with transaction.atomic():
        connection, created = Connection.objects.select_for_update().get_or_create(
            social_account=account,
            defaults={
                "user": account.user,
                "provider": account.provider,
                "uid": account.uid,
            },
        )
        connection.user = account.user
        connection.display_name = name
        if token is not None and token.token:
            redaction.register_secret(token.token)
            connection.access_token = token.token
            if token.token_secret:
                redaction.register_secret(token.token_secret)
                connection.refresh_token = token.token_secret
            connection.expires_at = token.expires_at
            connection.token_version = (connection.token_version or 0) + (
                0 if created else 1
            )
        if scopes:
            connection.scopes = scopes
        connection.status = ConnectionStatus.ACTIVE
        connection.status_message = ""
        connection.save()

    logger.info(
        "accounts.connection.stored",
        extra={
            "provider": account.provider,
            "user_id": account.user_id,
            "connection_id": connection.pk,
            "new_connection": created,
        },
    )
    return connection


def _display_name(account: SocialAccount) -> str:
    try:
        return str(account.get_provider_account().to_str())[:255]
    except Exception:  # noqa: BLE001 - a profile without a name is fine
        return account.uid


# --- Reading the current token --------------------------------------------------


def access_token_for(connection: Connection) -> str:
    """Return the connection's access token, refreshed first if it expires soon.

    Raise :class:`ReauthorizationRequired` when the learner must connect
    again, and TransientError when a needed refresh could not be done now.
    """
    connection.refresh_from_db()
    _require_active(connection)
    if _expires_soon(connection):
        connection = _refresh(connection, seen_version=connection.token_version)
    return connection.access_token.reveal()


def renew_after_rejection(connection: Connection, rejected_version: int) -> bool:
    """Refresh once after the service refused token ``rejected_version`` (a 401).

    Return True when a newer token is there to try; False when there is
    none (the connection now needs re-authorization). A token another
    worker already renewed is used as it is.
    """
    connection.refresh_from_db()
    if (
        connection.token_version != rejected_version
        and not connection.needs_reauthorization
    ):
        return True
    if connection.needs_reauthorization:
        return False
    if not connection.refresh_token:
        # Nothing to refresh with (GitHub OAuth apps' tokens do not expire):
        # a 401 means the learner revoked the grant at the service.
        _mark_needs_reauthorization(
            connection, "the service no longer accepts the token"
        )
        return False
    try:
        _refresh(connection, seen_version=rejected_version)
    except ReauthorizationRequired:
        return False
    return True


def _require_active(connection: Connection) -> None:
    if connection.needs_reauthorization:
        raise ReauthorizationRequired(
            f"The {connection.provider} connection of user {connection.user_id} needs "
            "re-authorization: the learner must connect the account again on their "
            "Connected accounts page.",
            integration=f"oauth-{connection.provider}",
            details={"connection": connection.pk},
        )


def _expires_soon(connection: Connection) -> bool:
    if connection.expires_at is None:
        return False
    return connection.expires_at <= timezone.now() + refresh_margin()


# --- Refreshing under the lease -------------------------------------------------


def _refresh(connection: Connection, *, seen_version: int) -> Connection:
    """Refresh the tokens unless someone already replaced ``seen_version``."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + REFRESH_LEASE_SECONDS
    while not _take_lease(connection.pk, owner):
        # Another worker is refreshing: wait for its outcome, bounded by the
        # lease it holds, instead of spending the refresh token twice.
        if time.monotonic() > deadline:
            raise TransientError(
                f"The {connection.provider} token of user {connection.user_id} is "
                "being refreshed elsewhere; try again shortly.",
                integration=f"oauth-{connection.provider}",
            )
        time.sleep(_WAIT_INTERVAL)
        connection.refresh_from_db()
        if connection.token_version != seen_version or connection.needs_reauthorization:
            _require_active(connection)
            return connection

    try:
        connection.refresh_from_db()
        if connection.token_version != seen_version:
            # Renewed between our read and the lease: nothing left to do.
            _require_active(connection)
            return connection
        return _exchange_refresh_token(connection)
    finally:
        Connection.objects.filter(pk=connection.pk, refresh_lease_owner=owner).update(
            refresh_lease_owner="", refresh_lease_expires_at=None
        )


def _take_lease(connection_id: int, owner: str) -> bool:
    now = timezone.now()
    free = (
        Q(refresh_lease_owner="")
        | Q(refresh_lease_expires_at__isnull=True)
        | Q(refresh_lease_expires_at__lt=now)
    )
    taken = Connection.objects.filter(free, pk=connection_id).update(
        refresh_lease_owner=owner,
        refresh_lease_expires_at=now + timedelta(seconds=REFRESH_LEASE_SECONDS),
    )
    return taken == 1


def _exchange_refresh_token(connection: Connection) -> Connection:
    context = {"provider": connection.provider, "connection_id": connection.pk}
    if not connection.refresh_token:
        _mark_needs_reauthorization(connection, "the service gave no refresh token")
        _require_active(connection)
    app = ProviderApp.objects.filter(provider=connection.provider, enabled=True).first()
    if app is None:
        _mark_needs_reauthorization(connection, "the service's app is not set up")
        _require_active(connection)

    try:
        grant = services.refresh_grant(
            app,
            connection.refresh_token.reveal(),
            redirect_uri=callback_url(connection.provider),
        )
    except services.RefreshRefused as refused:
        logger.warning(
            "accounts.token.refresh_refused",
            extra={**context, "error_code": refused.error_code},
        )
        _mark_needs_reauthorization(
            connection, f"the service refused to renew access ({refused.error_code})"
        )
        _require_active(connection)
    except TransientError:
        logger.warning("accounts.token.refresh_failed", extra=context)
        raise

    redaction.register_secret(grant.access_token)
    redaction.register_secret(grant.refresh_token)
    now = timezone.now()
    updates: dict[str, Any] = {
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "expires_at": now + timedelta(seconds=grant.expires_in)
        if grant.expires_in
        else None,
        "refreshed_at": now,
        "token_version": F("token_version") + 1,
    }
    if grant.scope:
        updates["scopes"] = grant.scope
    for name, value in updates.items():
        setattr(connection, name, value)
    connection.save(update_fields=[*updates, "updated_at"])
    connection.refresh_from_db()
    logger.info("accounts.token.refreshed", extra=context)
    return connection


def _mark_needs_reauthorization(connection: Connection, reason: str) -> None:
    """Flag the connection and pause the learner integrations that use it.

    Paused (disabled), the schedule stops queueing runs that could only fail
    again; reconnecting re-enables them with their history
    (``learner_sync.ensure_learner_integration``).
    """
    message = f"Connect your account again: {reason}."
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(
            status=ConnectionStatus.NEEDS_REAUTHORIZATION,
            status_message=message[:500],
            updated_at=timezone.now(),
        )
        paused = Integration.objects.filter(
            connection_id=connection.pk, enabled=True
        ).update(enabled=False)
    connection.status = ConnectionStatus.NEEDS_REAUTHORIZATION
    connection.status_message = message[:500]
    logger.warning(
        "accounts.connection.needs_reauthorization",
        extra={
            "provider": connection.provider,
            "connection_id": connection.pk,
            "paused_integrations": paused,
        },
    )


# --- An HTTP auth that follows the connection -----------------------------------


class ConnectionToken(HttpAuth):
    """Send the connection's current token as ``Authorization: Bearer``.

    Not static: each request asks :func:`access_token_for`'s cache-free
    path only when the token it holds is about to expire, and the client
    calls :meth:`renew` once after a 401.
    """

    __slots__ = ("connection", "_token", "_version", "_expires_at")
    static = False

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._fingerprint = f"connection:{connection.pk}"
        self._load(access_token_for(connection))

    def __repr__(self) -> str:
        return f"ConnectionToken(connection={self.connection.pk}, token='***')"

    def _load(self, token: str) -> None:
        redaction.register_secret(token)
        self._token = token
        self._version = self.connection.token_version
        self._expires_at = self.connection.expires_at

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Add the Authorization header, refreshing a token about to expire."""
        if (
            self._expires_at is not None
            and self._expires_at <= timezone.now() + refresh_margin()
        ):
            self._load(access_token_for(self.connection))
        headers["Authorization"] = f"Bearer {self._token}"

    def renew(self) -> bool:
        """Refresh after a 401; tell whether a new token is there to try."""
        if not renew_after_rejection(self.connection, self._version):
            return False
        self._load(access_token_for(self.connection))
        return True
