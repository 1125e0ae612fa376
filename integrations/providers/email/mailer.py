"""Compose and send one email per delivery batch through Django's mail backend.

The subject is the first event's rendered first line (the routing rule's
template), prefixed with the count when the batch has several; the body is
every event's rendered text with its kind and time. Transport failures
become the portal's typed errors, raised ``from`` the mail error: a refused
login or sender is configuration, everything else may pass.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.mail import EmailMessage, get_connection

from integrations import errors
from integrations.providers.sinks import truncate

if TYPE_CHECKING:
    from integrations.providers.base import SinkMessage

SUBJECT_PREFIX = "[portal] "
#: Mail clients show about this much of a subject; RFC 5322 lines are 998.
MAX_SUBJECT = 150
SEPARATOR = "\n\n" + "-" * 40 + "\n\n"


def subject_for(messages: Sequence[SinkMessage]) -> str:
    """Return the subject: the first event's first rendered line, on one line."""
    first = messages[0]
    lines = [line.strip() for line in first.text.splitlines() if line.strip()]
    headline = lines[0] if lines else first.kind
    if len(messages) > 1:
        headline = f"{len(messages)} events: {headline}"
    return truncate(SUBJECT_PREFIX + " ".join(headline.split()), MAX_SUBJECT)


def body_for(messages: Sequence[SinkMessage]) -> str:
    """Return the body: each event's rendered text under its kind and time."""
    parts = [
        f"{message.kind} at {message.occurred_at}\n\n{message.text.strip()}"
        for message in messages
    ]
    return SEPARATOR.join(parts) + "\n"


def send_batch(
    integration_name: str, recipients: Sequence[str], messages: Sequence[SinkMessage]
) -> None:
    """Send one email holding ``messages`` to ``recipients``; raise typed errors."""
    email = EmailMessage(
        subject=subject_for(messages),
        body=body_for(messages),
        to=list(recipients),
        headers={"X-Portal-Delivery-Keys": ",".join(m.key for m in messages)[:900]},
    )

    try:
        with get_connection(fail_silently=False) as connection:
            sent = connection.send_messages([email])
    except smtplib.SMTPAuthenticationError as error:
        raise errors.ConfigurationError(
            "The mail server refused the portal's login: check EMAIL_HOST_USER and "
            "EMAIL_HOST_PASSWORD",
            integration=integration_name,
        ) from error
    except (smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused) as error:
        raise errors.ConfigurationError(
            "The mail server refused the sender or every recipient: check "
            "DEFAULT_FROM_EMAIL and the recipients setting",
            integration=integration_name,
        ) from error
    except (smtplib.SMTPException, OSError) as error:
        raise errors.TransientError(
            f"The mail server could not take the message ({type(error).__name__})",
            integration=integration_name,
        ) from error

    if sent != 1:
        raise errors.TransientError(
            "The mail backend did not send the message", integration=integration_name
        )
