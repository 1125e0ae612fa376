"""The connector framework's records: integrations, credentials, runs, health."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from integrations import crypto
from integrations.errors import ConfigurationError, CredentialDecryptionError
from integrations.fields import EncryptedTextField
from integrations.redaction import register_secret

#: ``Credential.last_used_at`` is written at most this often.
CREDENTIAL_LAST_USED_RESOLUTION = timedelta(minutes=1)


class HealthStatus(models.TextChoices):
    """The health of an integration, as its last check found it."""

    UNKNOWN = "unknown", "Unknown"
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    UNHEALTHY = "unhealthy", "Unhealthy"


class Integration(models.Model):
    """One configured connection to an outside service."""

    name = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Unique, URL-safe name, used in commands and webhook URLs.",
    )
    provider = models.CharField(
        max_length=50, help_text="Provider slug, e.g. 'canvas'."
    )
    base_url = models.URLField(max_length=500, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cron expression (minute hour day month weekday); empty for none.",
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    # Per-integration overrides of the environment's HTTP defaults.
    connect_timeout = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.1)]
    )
    read_timeout = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.1)]
    )
    retry_budget = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Seconds all retries of one call may take together.",
    )
    rate_limit_requests = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests allowed per window; empty: provider default.",
    )
    rate_limit_window = models.PositiveIntegerField(
        null=True, blank=True, help_text="Window length in seconds."
    )

    health_status = models.CharField(
        max_length=20, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN
    )
    health_error = models.TextField(blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)

    # A learner's own integration (their courses, with their token) is tied
    # to their connected account; it has no credentials of its own.
    connection = models.ForeignKey(
        "accounts.Connection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="integrations",
        help_text="Set for a learner's own integration: its token is the "
        "learner's connected account's.",
    )

    # The sync lease: one sync per integration at a time across processes.
    sync_lease_owner = models.CharField(max_length=64, blank=True, editable=False)
    sync_lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Validate the provider, base URL and settings with field-level errors."""
        from integrations.registry import UnknownProvider, get_provider
        from integrations.schedules import validate_cron
        from integrations.validation import validate_integration

        if self.schedule.strip():
            try:
                validate_cron(self.schedule)
            except ValidationError as error:
                raise ValidationError({"schedule": error.messages}) from error
        try:
            provider = get_provider(self.provider)
        except UnknownProvider as error:
            raise ValidationError({"provider": str(error)}) from error
        validate_integration(self, provider)

    def secret(self, key: str, *, required: bool = True) -> str:
        """Return the decrypted credential ``key`` and mark it used.

        A learner's integration (``connection`` set) returns the learner's
        current access token instead, refreshed when it is about to expire.

        Raise ConfigurationError when a required credential is missing and
        CredentialDecryptionError when no configured key decrypts it.
        """
        if self.connection_id is not None:
            # A learner's integration authenticates as the learner: every
            # token it asks for is the connection's current access token.
            from portal.accounts.tokens import access_token_for

            return access_token_for(self.connection)
        # By primary key: the model's ordering would join the integration to
        # sort a single row.
        credential = self.credentials.filter(key=key).order_by("pk").first()
        if credential is None or not credential.value:
            if required:
                raise ConfigurationError(
                    f"Integration '{self.name}' has no credential '{key}'; add it in the "
                    "admin or in the integrations file.",
                    integration=self.name,
                    details={"credential": key},
                )
            return ""
        credential.integration = self
        value = credential.reveal()
        credential.mark_used()
        return value

    def last_run(self) -> SyncRun | None:
        """Return the most recent sync run, if any."""
        return self.sync_runs.order_by("-created_at", "-id").first()


class CredentialKind(models.TextChoices):
    """What a credential is, which decides how it is used and refreshed."""

    API_KEY = "api_key", "API key or token"
    OAUTH_TOKEN = "oauth_token", "OAuth token"
    PASSWORD = "password", "Password"
    WEBHOOK_SECRET = "webhook_secret", "Webhook signing secret"
    AWS_KEYS = "aws_keys", "AWS access keys"
    OTHER = "other", "Other secret"


class Credential(models.Model):
    """One encrypted secret of an integration, e.g. its ``access_token``."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="credentials"
    )
    key = models.SlugField(
        max_length=100, help_text="Credential key, e.g. 'access_token'."
    )
    kind = models.CharField(
        max_length=20, choices=CredentialKind.choices, default=CredentialKind.API_KEY
    )
    value = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    hint = models.CharField(
        max_length=12,
        blank=True,
        editable=False,
        help_text="Masked hint: last four characters.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "key"], name="unique_credential_key"
            )
        ]
        ordering = ["integration", "key"]

    def __str__(self) -> str:
        return f"{self.integration_id}:{self.key} ({self.masked()})"

    def set_secret(self, plaintext: str) -> None:
        """Set a new secret value; it is encrypted when the row is saved."""
        self.value = plaintext
        self.hint = plaintext[-4:] if len(plaintext) >= 12 else ""

    def masked(self) -> str:
        """Return a hint that identifies the secret without revealing it."""
        if not self.value:
            return "(not set)"
        return f"••••{self.hint}" if self.hint else "••••"

    def reveal(self) -> str:
        """Decrypt the secret, or raise CredentialDecryptionError naming it."""
        return self._reveal_field("value")

    def reveal_refresh_token(self) -> str:
        """Decrypt the refresh token (empty when there is none)."""
        return self._reveal_field("refresh_token")

    def _reveal_field(self, field_name: str) -> str:
        value = getattr(self, field_name)
        if isinstance(value, str):
            return value
        try:
            plaintext = value.reveal()
        except crypto.UndecryptableSecret as error:
            integration_name = self.integration.name if self.integration_id else "?"
            raise CredentialDecryptionError(
                f"Credential '{self.key}' of integration '{integration_name}' cannot be "
                "decrypted with FIELD_ENCRYPTION_KEYS: the key that encrypted it was "
                "removed or changed. Restore the key, or enter the secret again.",
                integration=integration_name,
                details={"credential": self.key, "field": field_name},
            ) from error
        # Whatever path the secret takes next, log lines will mask it.
        register_secret(plaintext)
        return plaintext

    def mark_used(self) -> None:
        """Record that the credential was just used, at most once a minute.

        One UPDATE, no save(); a sink reads its secret at every batch, and
        an UPDATE each time cost more than reading it.
        """
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < (
            CREDENTIAL_LAST_USED_RESOLUTION
        ):
            return
        Credential.objects.filter(pk=self.pk).update(last_used_at=now)
        self.last_used_at = now


class SyncStatus(models.TextChoices):
    """Where a sync run is in its life."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class SyncRun(models.Model):
    """One sync of one stream of an integration, with its counts and cursor."""

    ACTIVE_STATUSES = (SyncStatus.QUEUED, SyncStatus.RUNNING)

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="sync_runs"
    )
    stream = models.CharField(max_length=50)
    status = models.CharField(
        max_length=20,
        choices=SyncStatus.choices,
        default=SyncStatus.QUEUED,
        db_index=True,
    )
    full = models.BooleanField(default=False, help_text="Full resync requested.")
    trigger = models.CharField(max_length=20, default="manual")
    pass_number = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Id of the run that started this pass; a resumed run keeps it.",
    )
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cursor = models.JSONField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=50, blank=True)
    error_summary = models.TextField(blank=True)
    failures = models.JSONField(
        default=list,
        blank=True,
        help_text="A sample of the records that failed, with why.",
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Not before this (rate limit waits).",
    )
    offered_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker was last sent this run."
    )
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["integration", "stream", "status"])]

    def __str__(self) -> str:
        return f"{self.integration_id}/{self.stream} #{self.pk} {self.status}"

    @property
    def duration(self):
        """Return how long the run took (or has taken so far)."""
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class HealthCheckResult(models.Model):
    """The outcome of one health check of an integration."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="health_checks"
    )
    status = models.CharField(max_length=20, choices=HealthStatus.choices)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return (
            f"{self.integration_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M}"
        )


def latest_runs(integrations: Iterable[Integration]) -> dict[int, SyncRun]:
    """Return the newest sync run of each integration, keyed by id, in one query."""
    ids = [integration.pk for integration in integrations]
    if not ids:
        return {}

    newest = (
        SyncRun.objects.filter(integration=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    newest_ids = Integration.objects.filter(pk__in=ids).annotate(
        run_id=Subquery(newest)
    )
    runs = SyncRun.objects.filter(pk__in=newest_ids.values("run_id"))
    return {run.integration_id: run for run in runs}
