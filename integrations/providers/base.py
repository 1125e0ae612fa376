"""What a provider declares and what the framework asks of it.

A provider is a package under ``integrations/providers/<slug>/`` whose
``provider.py`` defines a :class:`Provider` subclass and registers it with
:func:`integrations.registry.register`. Class attributes carry identity and
schemas; methods give the framework streams, a health check and a client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from integrations.errors import IntegrationError
    from integrations.http.client import HttpClient
    from integrations.models import Integration
    from integrations.records import Record


class AuthKind:
    """How a provider authenticates; shown in the admin and docs."""

    API_KEY = "api_key"
    OAUTH2 = "oauth2"
    WEBHOOK_URL = "webhook_url"
    AWS_KEYS = "aws_keys"
    NONE = "none"
    CONFIGURABLE = "configurable"


@dataclass(frozen=True)
class SettingField:
    """One entry of a provider's settings schema.

    ``type`` is one of ``str``, ``int``, ``float``, ``bool``, ``url``,
    ``choice``, ``list`` or ``dict``.
    """

    name: str
    type: str = "str"
    required: bool = False
    default: Any = None
    help: str = ""
    choices: Sequence[str] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class CredentialField:
    """One credential a provider needs, e.g. ``access_token``."""

    key: str
    kind: str = "api_key"
    required: bool = True
    help: str = ""


@dataclass
class Page:
    """One page of normalized records from a stream, and where to go next.

    ``next_cursor`` is JSON-serializable and is stored with the page's rows in
    one transaction, so a killed sync resumes after the last committed page.
    ``None`` means the stream is complete.
    """

    records: list[Record]
    next_cursor: dict[str, Any] | None
    fetched: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HealthReport:
    """What a provider's health check found."""

    status: str
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SinkMessage:
    """One event, rendered for a sink, as :meth:`Provider.deliver` receives it.

    ``key`` is the delivery's idempotency key: the same event to the same
    sink always has the same key, so a sink (or a human) can spot a repeat.
    ``text`` is the routing rule's template rendered with the event.
    """

    key: str
    kind: str
    subject: str
    text: str
    occurred_at: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeliveryResult:
    """What a sink answered to one batch: how many messages it accepted.

    A sink that cannot take the batch raises one of the typed errors instead
    of returning. A sink that took the batch but refused some of its
    messages for good (an analytics service that validates each event)
    names them in ``rejected``: message key to a short reason without
    secrets. Those deliveries become dead with that reason. A sink that
    sent part of the batch before a call failed names the messages it did
    not get through in ``failed``, each with the typed error: those are
    retried (or dead) as a failed batch would be, so what the service took
    is not sent twice. The rest are delivered.
    """

    delivered: int
    details: dict[str, Any] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    failed: dict[str, IntegrationError] = field(default_factory=dict)


class Stream:
    """A kind of record a provider can sync, page by page."""

    #: Name used in commands and SyncRun rows, e.g. "courses".
    name: ClassVar[str] = ""
    #: Record type the rows become: course, assignment, enrollment, progress.
    record_type: ClassVar[str] = ""
    #: Streams whose rows this one refers to (synced first).
    depends_on: ClassVar[tuple[str, ...]] = ()
    #: True when ``pages()`` never touches the database, so the engine may
    #: fetch the next page in a thread while it stores the current one.
    prefetch: ClassVar[bool] = False

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of normalized records from ``cursor`` (None: the start).

        Subclasses must override this.
        """
        raise NotImplementedError


@dataclass
class StreamContext:
    """What a stream needs to fetch: the integration and its HTTP client."""

    integration: Integration
    client: HttpClient
    settings: dict[str, Any]
    full: bool = False
    #: Rows fetched per request, for previews that read only a little.
    page_limit: int | None = None


class Provider:
    """Base of every provider; subclasses set the class attributes."""

    slug: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    auth_kind: ClassVar[str] = AuthKind.API_KEY
    settings_schema: ClassVar[Sequence[SettingField]] = ()
    credential_schema: ClassVar[Sequence[CredentialField]] = ()
    #: Whether the integration needs a base URL.
    requires_base_url: ClassVar[bool] = True
    #: (requests, window seconds) the service allows; admins may override.
    default_rate_limit: ClassVar[tuple[int, float] | None] = None
    #: Optional capabilities, filled in by later providers.
    supports_webhooks: ClassVar[bool] = False
    supports_sink: ClassVar[bool] = False
    supports_write_back: ClassVar[bool] = False
    #: Sinks (``supports_sink``): the most messages one ``deliver`` call
    #: takes, and whether a subject's events must arrive in order.
    max_batch: ClassVar[int] = 1
    ordered: ClassVar[bool] = False

    def validate_settings(self, settings: dict[str, Any]) -> None:
        """Check settings beyond the schema's types; raise ValidationError.

        The schema check has already passed. Raise
        ``ValidationError({"settings": [messages]})`` with messages that name
        the path at fault. The default accepts everything.
        """

    def streams(self, integration: Integration) -> list[Stream]:
        """Return the streams this integration can sync, in dependency order."""
        raise NotImplementedError

    def build_client(self, integration: Integration) -> HttpClient:
        """Return an HTTP client set up for this integration."""
        from integrations.http.factory import client_for_integration

        return client_for_integration(integration, self)

    def auth_for(self, integration: Integration) -> Any:
        """Return the HTTP auth to use (see integrations.http.auth), or None."""
        return None

    def client_options(self, integration: Integration) -> dict[str, Any]:
        """Return extra keyword arguments for HttpClient (error mapper, headers)."""
        return {}

    def check_health(
        self, integration: Integration, client: HttpClient
    ) -> HealthReport:
        """Make the cheapest authenticated call and report what it found."""
        raise NotImplementedError

    def write_back_enabled(self, integration: Integration) -> bool:
        """Tell whether this integration is set up to receive write-backs."""
        return self.supports_write_back

    def push_progress(
        self, integration: Integration, client: HttpClient, progress: Any
    ) -> dict:
        """Push a learner's progress (a learning Progress row) to the service.

        Providers with ``supports_write_back`` override this; return a short
        summary of what was done (no secrets) and raise the typed errors.
        """
        raise NotImplementedError(f"{self.slug} cannot write progress back")

    def deliver(
        self, integration: Integration, messages: Sequence[SinkMessage]
    ) -> DeliveryResult:
        """Send up to ``max_batch`` rendered events to the sink in one go.

        Sinks (``supports_sink``) override this. Accept the batch and
        return (naming any message refused for good in
        ``DeliveryResult.rejected``), or raise the typed errors of
        integrations.errors: retryable ones (``TransientError``,
        ``RateLimited`` with ``retry_at``) are tried again later, the others
        park the batch as dead.
        """
        raise NotImplementedError(f"{self.slug} cannot deliver events")

    def stream(self, integration: Integration, name: str) -> Stream:
        """Return the stream called ``name`` or raise KeyError naming the choices."""
        for stream in self.streams(integration):
            if stream.name == name:
                return stream
        names = ", ".join(s.name for s in self.streams(integration)) or "none"
        raise KeyError(f"{self.slug} has no stream {name!r}; streams: {names}")


#: What a provider's settings parser returns: the config, or None and every
#: problem found, each naming the setting at fault.
SettingsParser = Callable[[Any], tuple[Any, list[str]]]


def refuse_bad_settings(parse: SettingsParser, settings: Any) -> None:
    """Raise ValidationError listing every problem ``parse`` finds in ``settings``."""
    from django.core.exceptions import ValidationError

    _, problems = parse(settings)
    if problems:
        raise ValidationError({"settings": problems})


def config_of(integration: Integration, parse: SettingsParser) -> Any:
    """Return the integration's parsed settings or raise ConfigurationError."""
    from integrations.errors import ConfigurationError

    config, problems = parse(integration.settings)
    if config is None:
        raise ConfigurationError(
            f"Integration '{integration.name}' has invalid settings: "
            + "; ".join(problems),
            integration=integration.name,
            details={"errors": problems},
        )
    return config
