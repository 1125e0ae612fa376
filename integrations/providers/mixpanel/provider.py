"""The Mixpanel sink: portal events and learner profiles sent to Mixpanel.

Recent events go to ``/track`` with the project token; events older than
Mixpanel's 5-day ``/track`` window go to ``/import`` when an API secret is
set (and are refused with a reason otherwise); progress events also
``$set`` the learner's profile through ``/engage``. Every event carries
``$insert_id`` from the delivery key, so a retried batch is deduplicated.
docs/providers/mixpanel.md documents the settings, calls and limits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from integrations.providers.base import (
    AuthKind,
    CredentialField,
    DeliveryResult,
    HealthReport,
    Provider,
    SettingField,
    SinkMessage,
)
from integrations.providers.mixpanel import client as mixpanel
from integrations.providers.mixpanel import health
from integrations.redaction import register_secret
from integrations.registry import register

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

logger = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.mixpanel.com"


@register
class MixpanelProvider(Provider):
    """Send portal events and learner profile updates to a Mixpanel project."""

    slug = "mixpanel"
    title = "Mixpanel"
    description = "Sends routed portal events and learner profiles to Mixpanel."
    auth_kind = AuthKind.API_KEY
    requires_base_url = False
    supports_sink = True
    max_batch = mixpanel.DEFAULT_BATCH
    settings_schema = (
        SettingField(
            "api_host",
            type="url",
            default=DEFAULT_HOST,
            help="Ingestion host: https://api.mixpanel.com, or "
            "https://api-eu.mixpanel.com for EU data residency.",
        ),
    )
    credential_schema = (
        CredentialField(
            "project_token",
            help="The project token (Project Settings, Access Keys).",
        ),
        CredentialField(
            "api_secret",
            required=False,
            help="The project API secret; needed only to send events older "
            "than 5 days, through /import.",
        ),
    )

    def streams(self, integration: Integration) -> list:
        """Return no streams: a sink receives, it does not sync."""
        return []

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Talk to the configured host, uncached, reading Mixpanel's refusals."""
        host = (integration.settings or {}).get("api_host") or DEFAULT_HOST
        return {
            "base_url": str(host).rstrip("/"),
            "response_cache": False,
            "error_mapper": mixpanel.MixpanelErrors(),
        }

    def _token(self, integration: Integration) -> str:
        token = integration.secret("project_token")
        register_secret(token)
        return token

    def _api_secret(self, integration: Integration) -> str:
        return integration.secret("api_secret", required=False)

    def deliver(
        self, integration: Integration, messages: Sequence[SinkMessage]
    ) -> DeliveryResult:
        """Track recent events, import old ones, then update learner profiles."""
        token = self._token(integration)
        recent, old = mixpanel.split_by_age(messages, timezone.now())
        # Read only when needed: each read is a query and a decryption.
        api_secret = self._api_secret(integration) if old else ""
        rejected: dict[str, str] = {}
        if old and not api_secret:
            for message in old:
                rejected[message.key] = (
                    "Mixpanel's /track drops events older than 5 days; set the "
                    "api_secret credential to send them through /import."
                )
            old = []

        client = self.build_client(integration)
        track = [mixpanel.event_of(m, token, milliseconds=False) for m in recent]
        for chunk in mixpanel.chunks(track):
            response = client.request("POST", "/track", data=mixpanel.form_data(chunk))
            mixpanel.check_verbose(response, "/track")
        if old:
            rejected.update(self._import(client, old, token, api_secret))

        profiles = [
            update
            for message in messages
            if message.key not in rejected
            and (update := mixpanel.profile_update(message, token)) is not None
        ]
        for chunk in mixpanel.chunks(profiles):
            response = client.request("POST", "/engage", data=mixpanel.form_data(chunk))
            mixpanel.check_verbose(response, "/engage")

        if rejected:
            logger.info(
                "mixpanel.sink.events_refused",
                extra={"integration": integration.name, "count": len(rejected)},
            )
        return DeliveryResult(
            delivered=len(messages) - len(rejected),
            details={"tracked": len(track), "profiles": len(profiles)},
            rejected=rejected,
        )

    def _import(
        self,
        client: HttpClient,
        old: list[SinkMessage],
        token: str,
        api_secret: str,
    ) -> dict[str, str]:
        """Import old events; return message key to reason of those refused."""
        keys = {mixpanel.insert_id(message.key): message.key for message in old}
        events = [mixpanel.event_of(m, token, milliseconds=True) for m in old]
        refused: dict[str, str] = {}
        for chunk in mixpanel.chunks(events):
            response = client.request(
                "POST",
                "/import",
                params={"strict": "1"},
                json=chunk,
                headers=mixpanel.import_headers(api_secret),
                expected_status=(200, 400),
            )
            if response.status == 400:
                for insert_id, reason in mixpanel.failed_records(response).items():
                    if insert_id in keys:
                        refused[keys[insert_id]] = reason
        return refused

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """POST empty batches to /track (and /import with a secret)."""
        self._token(integration)
        return health.check_mixpanel_health(client, self._api_secret(integration))
