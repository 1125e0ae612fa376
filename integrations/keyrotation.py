"""Re-encrypt every stored secret with the first of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first in ``FIELD_ENCRYPTION_KEYS`` (keeping the
old ones after it), run ``integrations rotate-keys``, then remove the old
keys. :func:`rotate_keys` finds every :class:`EncryptedTextField` of every
installed model, so a model that gains one is covered without changes here.

Values move from ciphertext to ciphertext (``MultiFernet.rotate``); no
plaintext is ever held by this module. A value that no configured key
decrypts is left exactly as it is and reported, never blanked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction

from integrations import crypto
from integrations.fields import EncryptedTextField, SealedSecret

logger = logging.getLogger(__name__)

#: Called after each batch with the model's label and its rows done so far.
ProgressCallback = Callable[[str, int], None]

# Columns read beside the ciphertext to name a failed row for an admin, as
# (lookup, what to call it in the report). Never a secret column.
_ROW_CONTEXT: dict[str, tuple[tuple[str, str], ...]] = {
    "integrations.Credential": (
        ("integration__name", "integration"),
        ("key", "credential"),
    ),
    "accounts.ProviderApp": (("provider", "provider app"),),
    "accounts.Connection": (("provider", "connection"), ("user_id", "user")),
}


@dataclass
class RotationReport:
    """What a key rotation did: values rotated, already current, failed."""

    rotated: int = 0
    already_current: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data (for JSON output and logs)."""
        return {
            "rotated": self.rotated,
            "already_current": self.already_current,
            "failed": list(self.failed),
        }


def encrypted_fields() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Return each concrete model with the encrypted fields stored in its table."""
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy:
            continue
        # local_concrete_fields: a child model of multi-table inheritance
        # must not process its parent's columns a second time.
        fields = [
            model_field
            for model_field in meta.local_concrete_fields
            if isinstance(model_field, EncryptedTextField)
        ]
        if fields:
            found.append((model, fields))
    return found


def rotate_keys(
    *, batch_size: int = 500, progress: ProgressCallback | None = None
) -> RotationReport:
    """Re-encrypt every encrypted value with the first configured key.

    Rows are read in primary-key order, ``batch_size`` at a time, each batch
    in its own transaction. A value is replaced only if it is still the one
    that was read, so a secret an admin saves meanwhile is never overwritten;
    the rotation can run while the portal serves requests, and be run again
    after an interruption: values already under the first key are only
    counted.
    """
    if (
        not isinstance(batch_size, int)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}.")
    # Fail before touching any row when the keys themselves are unusable.
    crypto.current_multifernet()

    report = RotationReport()
    for model, fields in encrypted_fields():
        _rotate_model(model, fields, batch_size, report, progress)

    logger.info(
        "integrations.keyrotation.finished",
        extra={
            "rotated": report.rotated,
            "already_current": report.already_current,
            "failed_count": len(report.failed),
        },
    )
    return report


def _rotate_model(
    model: type[models.Model],
    fields: list[EncryptedTextField],
    batch_size: int,
    report: RotationReport,
    progress: ProgressCallback | None,
) -> None:
    label = model._meta.label
    context_columns = [lookup for lookup, _ in _ROW_CONTEXT.get(label, ())]
    columns = ["pk", *(model_field.attname for model_field in fields), *context_columns]
    last_pk = None
    done = 0
    while True:
        with transaction.atomic():
            rows = model._base_manager.order_by("pk")
            if last_pk is not None:
                rows = rows.filter(pk__gt=last_pk)
            batch = list(rows.values_list(*columns)[:batch_size])
            for row in batch:
                _rotate_row(model, fields, row, report)
        if not batch:
            break
        last_pk = batch[-1][0]
        done += len(batch)
        if progress is not None:
            progress(label, done)
        if len(batch) < batch_size:
            break


def _rotate_row(
    model: type[models.Model],
    fields: list[EncryptedTextField],
    row: tuple[Any, ...],
    report: RotationReport,
) -> None:
    pk = row[0]
    sealed_values = row[1 : 1 + len(fields)]
    context = row[1 + len(fields) :]
    for model_field, sealed in zip(fields, sealed_values, strict=True):
        ciphertext = sealed.ciphertext if isinstance(sealed, SealedSecret) else sealed
        if not ciphertext:
            continue
        if crypto.is_encrypted_with_primary_key(ciphertext):
            report.already_current += 1
            continue
        try:
            rotated = crypto.rotate(ciphertext)
        except crypto.UndecryptableSecret:
            description = _describe_failure(model, pk, model_field, context)
            report.failed.append(description)
            logger.warning(
                "integrations.keyrotation.undecryptable",
                extra={
                    "model": model._meta.label,
                    "row_id": pk,
                    "field": model_field.name,
                },
            )
            continue

        # A SealedSecret is written as its ciphertext, byte for byte; the
        # filter on the old ciphertext makes the write a compare-and-set.
        updated = model._base_manager.filter(
            pk=pk, **{model_field.attname: SealedSecret(ciphertext)}
        ).update(**{model_field.attname: SealedSecret(rotated)})
        if updated:
            report.rotated += 1
        else:
            logger.info(
                "integrations.keyrotation.changed_meanwhile",
                extra={
                    "model": model._meta.label,
                    "row_id": pk,
                    "field": model_field.name,
                },
            )


def _describe_failure(
    model: type[models.Model],
    pk: Any,
    model_field: EncryptedTextField,
    context: tuple[Any, ...],
) -> str:
    label = model._meta.label
    description = f"{label} id={pk} field {model_field.name!r}"
    names = [name for _, name in _ROW_CONTEXT.get(label, ())]
    if names:
        described = ", ".join(
            f"{name} {value!r}" for name, value in zip(names, context, strict=True)
        )
        description = f"{description} ({described})"
    return (
        f"{description}: no configured key decrypts it; restore the key that "
        "encrypted it or enter the secret again. The stored value was left as is."
    )
