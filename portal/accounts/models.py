"""Provider apps and learners' connections, their secrets encrypted at rest.

allauth keeps an app's client secret and every token in plaintext
(``SocialApp.secret``, ``SocialToken``). The portal keeps both here instead,
in :class:`~integrations.fields.EncryptedTextField` columns that
``integrations rotate-keys`` re-encrypts like every other secret.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from integrations.fields import EncryptedTextField


class ProviderApp(models.Model):
    """The OAuth client (id and secret) the portal uses with one service.

    allauth sees these as its ``SocialApp`` objects (see
    ``portal.accounts.adapter``); they are never stored in allauth's table.
    """

    provider = models.CharField(
        max_length=30,
        unique=True,
        help_text="allauth provider id: canvas, github, gitlab, google, slack, "
        "discord or vimeo_oauth2.",
    )
    name = models.CharField(max_length=100, help_text="Shown to learners.")
    client_id = models.CharField(max_length=255)
    secret = EncryptedTextField(blank=True, help_text="The client secret.")
    secret_hint = models.CharField(max_length=12, blank=True, editable=False)
    integration = models.ForeignKey(
        "integrations.Integration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Canvas only: the Canvas integration whose instance learners "
        "sign in to.",
    )
    base_url = models.URLField(
        blank=True,
        help_text="GitLab only: a self-hosted GitLab's address (empty: gitlab.com).",
    )
    scopes = models.CharField(
        max_length=500,
        blank=True,
        help_text="Space-separated scopes to ask for; empty: the portal's default "
        "for the service.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]
        verbose_name = "OAuth provider app"

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"

    def set_secret(self, plaintext: str) -> None:
        """Set a new client secret; it is encrypted when the row is saved."""
        self.secret = plaintext
        self.secret_hint = plaintext[-4:] if len(plaintext) >= 12 else ""

    def masked_secret(self) -> str:
        """Return a hint that identifies the secret without revealing it."""
        if not self.secret:
            return "(not set)"
        return f"••••{self.secret_hint}" if self.secret_hint else "••••"


class ConnectionStatus(models.TextChoices):
    """Whether a connection's tokens can be used."""

    ACTIVE = "active", "Connected"
    NEEDS_REAUTHORIZATION = "needs_reauthorization", "Needs re-authorization"


class Connection(models.Model):
    """A learner's connected account on one service, with its tokens.

    One per allauth ``SocialAccount``. Tokens are read only through
    ``portal.accounts.tokens.access_token_for``, which refreshes them.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections"
    )
    social_account = models.OneToOneField(
        "socialaccount.SocialAccount",
        on_delete=models.CASCADE,
        related_name="portal_connection",
    )
    provider = models.CharField(max_length=30)
    uid = models.CharField(max_length=191, help_text="The account's id there.")
    display_name = models.CharField(max_length=255, blank=True)
    scopes = models.CharField(max_length=1000, blank=True)

    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(
        max_length=30, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    status_message = models.CharField(max_length=500, blank=True)
    #: Bumped whenever the tokens change, so a worker can tell whether the
    #: token it was refused with is still the current one.
    token_version = models.PositiveIntegerField(default=1)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    # The refresh lease: one refresh at a time across processes.
    refresh_lease_owner = models.CharField(max_length=64, blank=True, editable=False)
    refresh_lease_expires_at = models.DateTimeField(
        null=True, blank=True, editable=False
    )

    connected_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "uid"], name="unique_connection_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.display_name or self.uid} (user {self.user_id})"

    @property
    def needs_reauthorization(self) -> bool:
        """Tell whether the learner must connect again before it can be used."""
        return self.status == ConnectionStatus.NEEDS_REAUTHORIZATION
