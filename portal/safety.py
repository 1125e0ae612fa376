"""Refuse to run production on development defaults.

Settings import this module before Django is configured, so it depends on
nothing but the standard library.
"""

import base64
import binascii

# A published development default; production refuses it.
DEVELOPMENT_SECRET_KEY = "django-insecure-orcatech-development-only"  # noqa: S105
# A fixed, published Fernet key: development data is encrypted for real, but
# anyone can read it, which is why production refuses it.
DEVELOPMENT_ENCRYPTION_KEY = "XIogankYnNXpmpR_IWlsgb2G-qvnyQxi2SO-_0lkCVc="


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.strip().encode())) == 32
    except (ValueError, binascii.Error):
        return False


class UnsafeConfiguration(RuntimeError):
    """A setting makes the portal unsafe to start; the message names it."""


def check_production_settings(
    *,
    secret_key: str,
    encryption_keys: list[str],
    debug: bool,
    allowed_hosts: list[str],
) -> None:
    """Raise UnsafeConfiguration naming the first unsafe production setting."""
    if not secret_key or secret_key == DEVELOPMENT_SECRET_KEY:
        raise UnsafeConfiguration(
            "SECRET_KEY is missing or the development default; set a long random "
            "value in the environment (PORTAL_ENV=production)."
        )
    if secret_key.startswith("django-insecure") or len(secret_key) < 50:
        raise UnsafeConfiguration(
            "SECRET_KEY is too weak for production: use at least 50 random "
            "characters, not a 'django-insecure' key."
        )
    keys = [key for key in encryption_keys if key]
    if not keys or DEVELOPMENT_ENCRYPTION_KEY in keys:
        raise UnsafeConfiguration(
            "FIELD_ENCRYPTION_KEYS is missing or contains the development key; set "
            "one or more Fernet keys (comma-separated, the first encrypts)."
        )
    for position, key in enumerate(keys, start=1):
        if not _is_fernet_key(key):
            raise UnsafeConfiguration(
                f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key (32 "
                "url-safe base64-encoded bytes); generate one with "
                "cryptography.fernet.Fernet.generate_key()."
            )
    if debug:
        raise UnsafeConfiguration("DEBUG must be off when PORTAL_ENV=production.")
    if not allowed_hosts:
        raise UnsafeConfiguration(
            "ALLOWED_HOSTS is empty; list the host names the portal is served on."
        )
