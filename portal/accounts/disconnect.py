"""Disconnecting a learner's account: revoke at the service, then forget.

The token is revoked where the service offers revocation (Canvas, Discord,
GitHub, GitLab, Google, Slack, Vimeo: portal/accounts/services.py); the
local tokens are deleted whatever the service answered, so a failed
revocation never leaves a usable token behind in the portal. The failure
is logged with the service and the error's code, never the token.
"""

from __future__ import annotations

import logging

from django.db import transaction

from integrations.errors import IntegrationError
from integrations.models import Integration
from portal.accounts import services
from portal.accounts.models import Connection, ProviderApp

logger = logging.getLogger(__name__)


def disconnect(connection: Connection) -> bool:
    """Revoke and delete ``connection``; return whether the service revoked it.

    The learner's own integrations that used it are disabled, not deleted:
    what they synced stays, and no sync runs without a token.
    """
    revoked = _revoke(connection)

    with transaction.atomic():
        Integration.objects.filter(connection=connection).update(enabled=False)
        # Deleting allauth's account deletes the connection with its tokens.
        connection.social_account.delete()

    logger.info(
        "accounts.connection.disconnected",
        extra={
            "provider": connection.provider,
            "connection_id": connection.pk,
            "revoked": revoked,
        },
    )
    return revoked


def _revoke(connection: Connection) -> bool:
    service = services.service_for(connection.provider)
    app = ProviderApp.objects.filter(provider=connection.provider).first()
    context = {"provider": connection.provider, "connection_id": connection.pk}
    if service is None or service.revoke is None or app is None:
        logger.info("accounts.connection.revoke_unsupported", extra=context)
        return False
    if not connection.access_token:
        return False

    try:
        service.revoke(app, connection, connection.access_token.reveal())
    except IntegrationError as error:
        # The message of an IntegrationError never carries a body or token;
        # the code is enough to tell a refused token from an outage.
        logger.warning(
            "accounts.connection.revoke_failed",
            extra={**context, "error_code": error.code, "status": error.status},
        )
        return False
    return True
