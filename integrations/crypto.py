"""Encryption of secrets at rest with MultiFernet.

``FIELD_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys: the first
encrypts, every one decrypts, so a new key is put first, ``integrations
rotate-keys`` re-encrypts the rows, and the old key is then removed.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class UndecryptableSecret(Exception):
    """The ciphertext matches none of the configured keys (or is corrupt)."""


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: set at least one key."
        )
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.strip().encode()))
        except (ValueError, TypeError) as error:
            # The key itself must not appear in the message.
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS entry {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from error
    return MultiFernet(fernets)


def _configured_keys() -> tuple[str, ...]:
    return tuple(key for key in settings.FIELD_ENCRYPTION_KEYS if key.strip())


@lru_cache(maxsize=8)
def _primary_fernet(key: str) -> Fernet:
    return Fernet(key.strip().encode())


def current_multifernet() -> MultiFernet:
    """Return the MultiFernet built from the keys in settings now."""
    return _multifernet(_configured_keys())


def encrypt(plaintext: str) -> str:
    """Encrypt ``plaintext`` with the first key; return the token as text."""
    return current_multifernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a token with any configured key, or raise UndecryptableSecret."""
    try:
        return current_multifernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as error:
        raise UndecryptableSecret("no configured key decrypts this value") from error


def rotate(token: str) -> str:
    """Re-encrypt a token with the first key, or raise UndecryptableSecret."""
    try:
        return current_multifernet().rotate(token.encode()).decode()
    except (InvalidToken, ValueError) as error:
        raise UndecryptableSecret("no configured key decrypts this value") from error


def is_encrypted_with_primary_key(token: str) -> bool:
    """Tell whether ``token`` already decrypts with the first key alone."""
    primary = _primary_fernet(_configured_keys()[0])
    try:
        primary.decrypt(token.encode())
    except (InvalidToken, ValueError):
        return False
    return True
