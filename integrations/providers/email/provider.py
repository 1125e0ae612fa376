"""The email sink: failure and health-change events mailed to admins.

``sync.failed`` and ``integration.health_changed`` events routed here are
sent through Django's mail backend (``EMAIL_BACKEND``), one message per
delivery batch, to the ``recipients`` setting or, when it is empty, to
``settings.ADMINS``. Other kinds are refused one by one with a reason, so a
too-wide routing rule shows up as dead deliveries, not as mail floods. No
HTTP. docs/providers/email.md documents it.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.core.validators import validate_email

from integrations.errors import AuthenticationFailed, ConfigurationError
from integrations.providers.base import (
    AuthKind,
    DeliveryResult,
    HealthReport,
    Provider,
    SettingField,
    SinkMessage,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.email.mailer import send_batch
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.models import Integration

#: The event kinds this sink mails; see portal/events/domain.py.
KINDS = frozenset({"sync.failed", "integration.health_changed"})
MAX_RECIPIENTS = 50
#: Events per email: enough to group a burst, short enough to read.
MAX_BATCH = 25

SETTINGS_SCHEMA = (
    SettingField(
        "recipients",
        type="list",
        default=[],
        help="Addresses to mail; empty: the ADMINS of the portal's settings.",
    ),
)


@dataclass(frozen=True)
class EmailConfig:
    """The checked settings of an email sink."""

    recipients: tuple[str, ...]


def parse_settings(values: Any) -> tuple[EmailConfig | None, list[str]]:
    """Return the config the settings describe and every problem found."""
    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    recipients = cleaned["recipients"]
    for position, address in enumerate(recipients):
        try:
            validate_email(address)
        except ValidationError:
            problems.append(
                f"recipients.{position}: {str(address)[:100]!r} is not an email address"
            )
    if len(recipients) > MAX_RECIPIENTS:
        problems.append(
            f"recipients: at most {MAX_RECIPIENTS} addresses; use a mailing list"
        )
    if len({str(a).lower() for a in recipients}) != len(recipients):
        problems.append("recipients: an address is listed twice")

    if problems:
        return None, problems
    return EmailConfig(recipients=tuple(recipients)), []


def admin_addresses() -> tuple[str, ...]:
    """Return the addresses of ``settings.ADMINS``, in order, without repeats."""
    addresses = [email for _, email in getattr(settings, "ADMINS", []) if email]
    return tuple(dict.fromkeys(addresses))


@register
class EmailProvider(Provider):
    """Mail failure and health-change events to a list of addresses."""

    slug = "email"
    title = "Email to admins"
    description = (
        "Mails sync failures and health changes, one message per batch, to the "
        "recipients setting or the portal's ADMINS."
    )
    auth_kind = AuthKind.NONE
    requires_base_url = False
    supports_sink = True
    max_batch = MAX_BATCH
    settings_schema = SETTINGS_SCHEMA

    def validate_settings(self, settings: dict[str, Any]) -> None:
        """Refuse addresses that are not email addresses."""
        refuse_bad_settings(parse_settings, settings)

    def streams(self, integration: Integration) -> list:
        """Return no streams: a sink receives, it does not sync."""
        return []

    def build_client(self, integration: Integration) -> None:
        """Return no HTTP client: mail goes through Django's mail backend."""
        return None

    def recipients(self, integration: Integration) -> tuple[str, ...]:
        """Return where the mail goes, or raise ConfigurationError saying how to set it."""
        config = config_of(integration, parse_settings)
        recipients = config.recipients or admin_addresses()
        if not recipients:
            raise ConfigurationError(
                f"Integration '{integration.name}' has no one to mail: set the "
                "recipients setting or the portal's ADMINS.",
                integration=integration.name,
                details={"field": "recipients"},
            )
        return recipients

    def deliver(
        self, integration: Integration, messages: Sequence[SinkMessage]
    ) -> DeliveryResult:
        """Mail the batch's failure and health events as one message."""
        recipients = self.recipients(integration)
        wanted = [message for message in messages if message.kind in KINDS]
        rejected = {
            message.key: f"The email sink mails only {', '.join(sorted(KINDS))} "
            f"events, not {message.kind}; narrow the routing rule."
            for message in messages
            if message.kind not in KINDS
        }

        if wanted:
            send_batch(integration.name, recipients, wanted)

        details = {"recipients": len(recipients)}
        return DeliveryResult(delivered=len(wanted), details=details, rejected=rejected)

    def check_health(self, integration: Integration, client: Any) -> HealthReport:
        """Open and close a connection to the mail backend; send nothing."""
        recipients = self.recipients(integration)
        try:
            with get_connection(fail_silently=False):
                pass
        except smtplib.SMTPAuthenticationError:
            return HealthReport(
                status="unhealthy",
                error="The mail server refused the portal's login: check "
                "EMAIL_HOST_USER and EMAIL_HOST_PASSWORD",
                details={"code": AuthenticationFailed.code},
            )
        except OSError as error:
            return HealthReport(
                status="unhealthy",
                error=f"The mail server cannot be reached ({type(error).__name__}): "
                "check EMAIL_HOST and EMAIL_PORT",
            )
        return HealthReport(status="healthy", details={"recipients": len(recipients)})
