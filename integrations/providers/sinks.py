"""Helpers shared by the providers that deliver events to chat webhooks.

A chat webhook URL is a secret: its path embeds the token that lets anyone
post. It is kept as an encrypted credential, never as the integration's
base URL, and error messages name the credential instead of quoting it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from integrations.errors import ConfigurationError
from integrations.providers.base import AuthKind, Provider
from integrations.redaction import register_secret

if TYPE_CHECKING:
    from integrations.models import Integration

#: The mark that ends a truncated text.
ELLIPSIS = "…"


def webhook_parts(
    integration: Integration, key: str, path: re.Pattern[str], example: str
) -> tuple[str, str]:
    """Return the webhook credential's origin and path, checked against ``path``.

    Raise ConfigurationError naming the credential (never its value) when
    it is not an http(s) URL whose path matches.
    """
    url = integration.secret(key).strip()
    register_secret(url)

    scheme, _, rest = url.partition("://")
    host, slash, tail = rest.partition("/")
    if scheme.lower() not in ("http", "https") or not host or "@" in host:
        problem = "is not an https:// URL"
    elif not path.fullmatch(slash + tail.split("?", 1)[0]):
        problem = "does not have the path of a webhook"
    else:
        return f"{scheme.lower()}://{host}", slash + tail.split("?", 1)[0]
    raise ConfigurationError(
        f"Integration '{integration.name}': credential '{key}' {problem}; copy the "
        f"webhook URL again, shaped like {example}.",
        integration=integration.name,
        details={"credential": key},
    )


def truncate(text: str, limit: int) -> str:
    """Return ``text`` cut to at most ``limit`` characters, ending in an ellipsis."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


class WebhookSink(Provider):
    """Base of the sinks configured by one webhook URL credential.

    Subclasses set ``webhook_path`` (the URL path a webhook has) and
    ``webhook_example`` (shown when the credential does not match), and
    override ``deliver``, ``check_health`` and, for their own error mapper,
    ``sink_client_options``.
    """

    credential_key: ClassVar[str] = "webhook_url"
    webhook_path: ClassVar[re.Pattern[str]] = re.compile(r"/.+")
    webhook_example: ClassVar[str] = ""
    auth_kind = AuthKind.WEBHOOK_URL
    requires_base_url = False
    supports_sink = True
    ordered = True

    def streams(self, integration: Integration) -> list:
        """Return no streams: a sink receives, it does not sync."""
        return []

    def webhook(self, integration: Integration) -> tuple[str, str]:
        """Return the checked webhook URL's origin and path."""
        return webhook_parts(
            integration, self.credential_key, self.webhook_path, self.webhook_example
        )

    def sink_client_options(self, integration: Integration) -> dict[str, Any]:
        """Return the provider's own HttpClient options (error mapper, signals)."""
        return {}

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Talk to the webhook URL's host, uncached, with the sink's own options."""
        origin, _ = self.webhook(integration)
        return {
            "base_url": origin,
            "response_cache": False,
            **self.sink_client_options(integration),
        }
