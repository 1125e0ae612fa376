"""The one family of errors every integration raises.

Each error carries where it happened (integration, method, URL without
secrets, HTTP status, the provider's own error code) and a stable ``code``
that the REST API renders as ``{"code", "message", "details"}``. Messages
never embed a provider's response body: bodies can carry tokens and
learner data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(eq=False)
class IntegrationError(Exception):
    """Base of every error an integration raises; subclasses set ``code``."""

    message: str
    integration: str = ""
    method: str = ""
    url: str = ""
    status: int | None = None
    provider_code: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    code = "integration_error"
    #: Whether trying the same call again later may succeed.
    retryable = False

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        where = " ".join(part for part in (self.method, self.url) if part)
        if where:
            parts.append(f"[{where}]")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.provider_code:
            parts.append(f"provider code {self.provider_code!r}")
        if self.integration:
            parts.insert(0, f"{self.integration}:")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """Return the error as the portal's JSON error shape."""
        details = {
            "integration": self.integration,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "provider_code": self.provider_code,
            **self.details,
        }
        return {
            "code": self.code,
            "message": self.message,
            "details": {
                key: value for key, value in details.items() if value not in ("", None)
            },
        }


class ConfigurationError(IntegrationError):
    """The integration is set up wrongly: bad settings, missing credential."""

    code = "configuration_error"


class CredentialDecryptionError(ConfigurationError):
    """A stored credential cannot be decrypted with the configured keys."""

    code = "credential_undecryptable"


class UnsafeURLError(ConfigurationError):
    """A URL points somewhere the portal refuses to connect (SSRF guard)."""

    code = "unsafe_url"


class AuthenticationFailed(IntegrationError):
    """The service rejected the credentials (invalid, expired, revoked)."""

    code = "authentication_failed"


class PermissionDenied(IntegrationError):
    """The credentials are valid but lack the right to do this."""

    code = "permission_denied"


class NotFound(IntegrationError):
    """The requested remote object does not exist."""

    code = "not_found"


class TransientError(IntegrationError):
    """A failure that may pass: 5xx, timeout, connection reset."""

    code = "transient_error"
    retryable = True


class RateLimited(TransientError):
    """The service asked the portal to slow down; ``retry_at`` says until when."""

    code = "rate_limited"
    retry_at: datetime | None = None

    def __init__(
        self, message: str, *, retry_at: datetime | None = None, **kwargs: Any
    ):
        super().__init__(message, **kwargs)
        self.retry_at = retry_at
        if retry_at is not None:
            self.details.setdefault("retry_at", retry_at.isoformat())


class RateLimitWaitTooLong(RateLimited):
    """The local rate limiter has no slot soon enough and the caller won't wait."""

    code = "rate_limit_wait_too_long"


class PermanentError(IntegrationError):
    """A failure that will not pass by retrying: 4xx other than the above."""

    code = "permanent_error"


class InvalidResponse(IntegrationError):
    """The service answered something unreadable: bad JSON, unexpected shape."""

    code = "invalid_response"
    retryable = True


class ProviderError(PermanentError):
    """The provider reported an error of its own (for example Moodle's 200 errors)."""

    code = "provider_error"
