"""Access tokens of the REST API: bearer tokens a user creates for a front end.

A token is shown once, when it is created. The database keeps a lookup
prefix, a per-token salt and the SHA-256 of salt and token, never the token
itself, so a copy of the database does not let anyone call the API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

#: Every token starts with this, so a leaked one is recognisable (and the
#: redaction filter can mask it).
TOKEN_PREFIX = "opt_"  # noqa: S105 - a public marker, not a secret
_LOOKUP_LENGTH = 12
_SECRET_BYTES = 32
#: ``last_used_at`` is written at most this often per token: an UPDATE on
#: every request would cost more than the request itself.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str, salt: str) -> str:
    """Return the hex SHA-256 of ``salt`` and ``token``."""
    return hashlib.sha256(f"{salt}:{token}".encode()).hexdigest()


def lookup_of(token: str) -> str:
    """Return the public lookup part of a token, or "" if it is malformed."""
    if not token.startswith(TOKEN_PREFIX):
        return ""
    lookup, separator, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not separator or len(lookup) != _LOOKUP_LENGTH or not secret:
        return ""
    return TOKEN_PREFIX + lookup


class ApiTokenQuerySet(models.QuerySet):
    """Queries of API tokens."""

    def issue(
        self, user, name: str, *, expires_at: datetime | None = None
    ) -> tuple[ApiToken, str]:
        """Create a token for ``user``; return the row and the token, shown once."""
        lookup = TOKEN_PREFIX + secrets.token_hex(_LOOKUP_LENGTH // 2)
        token = f"{lookup}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        salt = secrets.token_hex(16)
        row = self.create(
            user=user,
            name=name,
            prefix=lookup,
            salt=salt,
            token_hash=hash_token(token, salt),
            expires_at=expires_at,
        )
        return row, token

    def authenticate(self, token: str) -> ApiToken | None:
        """Return the live token row matching ``token``, or None."""
        lookup = lookup_of(token)
        if not lookup:
            return None
        row = self.select_related("user").filter(prefix=lookup).first()
        if row is None:
            return None
        # Compare in constant time, so response timing tells nothing about
        # how much of a guessed token was right.
        if not hmac.compare_digest(hash_token(token, row.salt), row.token_hash):
            return None
        if row.expires_at is not None and row.expires_at <= timezone.now():
            return None
        return row


class ApiToken(models.Model):
    """A bearer token that authenticates one user to the REST API."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(
        max_length=100, help_text="What the token is for, e.g. 'mobile app'."
    )
    prefix = models.CharField(
        max_length=32,
        unique=True,
        editable=False,
        help_text="Public start of the token, to recognise it; not a secret.",
    )
    salt = models.CharField(max_length=32, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: valid until revoked."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def touch(self) -> None:
        """Record that the token was just used, at most once a minute."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < (
            LAST_USED_RESOLUTION
        ):
            return
        ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
        self.last_used_at = now
