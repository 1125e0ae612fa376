"""The GA4 sink: portal events sent to Google Analytics 4.

Events go to the Measurement Protocol (``/mp/collect``) under each
learner's pseudonymous id (integrations/providers/analytics.py), mapped to
GA4's naming rules and limits before sending, because GA4 answers 2xx even
for events it drops. docs/providers/ga4.md documents the settings, calls,
limits and mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from integrations import errors
from integrations.http.auth import QueryApiKey
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    DeliveryResult,
    HealthReport,
    Provider,
    SettingField,
    SinkMessage,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.ga4 import health
from integrations.providers.ga4.client import MAX_EVENTS, MEASUREMENT_ID, plan_requests
from integrations.registry import register

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://www.google-analytics.com"
COLLECT_PATH = "/mp/collect"


@dataclass(frozen=True)
class Ga4Config:
    """The checked settings of a GA4 sink."""

    measurement_id: str
    endpoint: str
    send_user_id: bool


def parse_settings(settings: Any) -> tuple[Ga4Config | None, list[str]]:
    """Return the GA4 settings, or None and every problem, each naming its setting."""
    if not isinstance(settings, dict):
        return None, ["settings must be a mapping"]
    problems = []
    measurement_id = settings.get("measurement_id")
    if not isinstance(measurement_id, str) or not MEASUREMENT_ID.fullmatch(
        measurement_id
    ):
        problems.append(
            "measurement_id must be a GA4 web stream's measurement id shaped like "
            "G-XXXXXXXXXX (Admin, Data streams, the stream, Measurement ID)"
        )
    endpoint = settings.get("endpoint") or DEFAULT_ENDPOINT
    if not isinstance(endpoint, str) or not endpoint.startswith(
        ("https://", "http://")
    ):
        problems.append("endpoint must be an http(s) URL such as " + DEFAULT_ENDPOINT)
    send_user_id = settings.get("send_user_id", False)
    if not isinstance(send_user_id, bool):
        problems.append("send_user_id must be true or false")
    if problems:
        return None, problems
    return Ga4Config(measurement_id, endpoint.rstrip("/"), send_user_id), []


@register
class Ga4Provider(Provider):
    """Send portal events to a GA4 property through the Measurement Protocol."""

    slug = "ga4"
    title = "Google Analytics 4"
    description = "Sends routed portal events to GA4's Measurement Protocol."
    auth_kind = AuthKind.API_KEY
    requires_base_url = False
    supports_sink = True
    max_batch = MAX_EVENTS
    settings_schema = (
        SettingField(
            "measurement_id",
            required=True,
            help="The web stream's measurement id, G-XXXXXXXXXX.",
        ),
        SettingField(
            "endpoint",
            type="url",
            default=DEFAULT_ENDPOINT,
            help="Base URL of the Measurement Protocol (tests point it at a fake).",
        ),
        SettingField(
            "send_user_id",
            type="bool",
            default=False,
            help="Also send the pseudonymous id as user_id (off by default).",
        ),
    )
    credential_schema = (
        CredentialField(
            "api_secret",
            help="A Measurement Protocol API secret (Admin, Data streams, the "
            "stream, Measurement Protocol API secrets, Create).",
        ),
    )

    def validate_settings(self, settings: dict[str, Any]) -> None:
        """Refuse a measurement id or endpoint GA4 would not take."""
        refuse_bad_settings(parse_settings, settings)

    def streams(self, integration: Integration) -> list:
        """Return no streams: a sink receives, it does not sync."""
        return []

    def auth_for(self, integration: Integration) -> QueryApiKey:
        """Send the API secret as the ``api_secret`` query parameter."""
        return QueryApiKey("api_secret", integration.secret("api_secret"))

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Talk to the configured endpoint, uncached."""
        config = config_of(integration, parse_settings)
        return {"base_url": config.endpoint, "response_cache": False}

    def deliver(
        self, integration: Integration, messages: Sequence[SinkMessage]
    ) -> DeliveryResult:
        """POST one collect request per learner; refuse events GA4 would drop."""
        config = config_of(integration, parse_settings)
        plan = plan_requests(messages, timezone.now(), send_user_id=config.send_user_id)

        client = self.build_client(integration)
        failed: dict[str, errors.IntegrationError] = {}
        for number, request in enumerate(plan.requests):
            try:
                client.request(
                    "POST",
                    COLLECT_PATH,
                    params={"measurement_id": config.measurement_id},
                    json=request.body,
                )
            except errors.IntegrationError as error:
                if number == 0 and not plan.rejected:
                    raise
                # GA4 counted the requests before this one and does not
                # deduplicate: only this one and the rest are tried again.
                for later in plan.requests[number:]:
                    failed.update(dict.fromkeys(later.keys, error))
                break

        if plan.rejected:
            logger.info(
                "ga4.sink.events_refused",
                extra={"integration": integration.name, "count": len(plan.rejected)},
            )
        return DeliveryResult(
            delivered=len(messages) - len(plan.rejected) - len(failed),
            details={"requests": len(plan.requests)},
            rejected=plan.rejected,
            failed=failed,
        )

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """Validate an empty batch on the debug endpoint and report its messages."""
        config = config_of(integration, parse_settings)
        return health.check_ga4_health(client, config.measurement_id)
