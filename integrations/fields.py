"""A model field that keeps secrets encrypted in the database."""

from __future__ import annotations

from typing import Any

from django.db import models

from integrations import crypto

#: Marks a serialized (dumpdata) value as ciphertext, not a new plaintext.
SERIALIZED_PREFIX = "fernet:"


class SealedSecret:
    """An encrypted value as loaded from the database; decrypts on demand.

    Its ``repr`` and ``str`` never show the secret, so a model instance can be
    logged, printed in a traceback or rendered by a careless template without
    leaking it.
    """

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str) -> None:
        self.ciphertext = ciphertext

    def reveal(self) -> str:
        """Return the plaintext; raise crypto.UndecryptableSecret on failure."""
        if not self.ciphertext:
            return ""
        return crypto.decrypt(self.ciphertext)

    def __bool__(self) -> bool:
        return bool(self.ciphertext)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SealedSecret) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)

    def __repr__(self) -> str:
        return "SealedSecret('********')" if self.ciphertext else "SealedSecret('')"

    __str__ = __repr__


class EncryptedTextField(models.TextField):
    """Store a string encrypted with FIELD_ENCRYPTION_KEYS (MultiFernet).

    Assign a plain ``str`` to set a new secret; it is encrypted when saved.
    Values read back are :class:`SealedSecret` objects: call ``reveal()`` to
    decrypt. A value no key decrypts raises instead of returning garbage, and
    the stored ciphertext is left untouched.
    """

    description = "Text encrypted at rest"

    def from_db_value(
        self, value: Any, expression: Any, connection: Any
    ) -> SealedSecret:
        return SealedSecret(value or "")

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, SealedSecret):
            return value
        value = str(value)
        # Fixtures carry the ciphertext with a prefix (see value_to_string), so
        # loaddata restores it instead of encrypting the ciphertext again.
        if value.startswith(SERIALIZED_PREFIX):
            return SealedSecret(value.removeprefix(SERIALIZED_PREFIX))
        return value

    def get_prep_value(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, SealedSecret):
            return value.ciphertext
        return crypto.encrypt(str(value))

    def value_to_string(self, obj: models.Model) -> str:
        # Fixtures and dumpdata get the ciphertext, never the plaintext.
        ciphertext = self.get_prep_value(self.value_from_object(obj))
        return f"{SERIALIZED_PREFIX}{ciphertext}" if ciphertext else ""
