"""Secrets at rest: the encrypted field, Credential.reveal() and what never shows."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from integrations import crypto
from integrations.errors import ConfigurationError, CredentialDecryptionError
from integrations.fields import SealedSecret
from integrations.models import (
    CREDENTIAL_LAST_USED_RESOLUTION,
    Credential,
    Integration,
)

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    """Encrypt with OLD_KEY only, as a portal that never rotated does."""
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    return settings


@pytest.fixture
def integration(keys):
    return Integration.objects.create(
        name="canvas-main", provider="canvas", base_url="https://canvas.example.edu"
    )


def stored_ciphertext(credential: Credential, column: str = "value") -> str:
    """Read the column straight from the database, past the model field."""
    table = connection.ops.quote_name(Credential._meta.db_table)
    with connection.cursor() as cursor:
        quoted = connection.ops.quote_name(column)
        cursor.execute(
            f"SELECT {quoted} FROM {table} WHERE id = %s",  # noqa: S608
            [credential.pk],
        )
        return cursor.fetchone()[0]


def make_credential(
    integration, plaintext: str, key: str = "access_token"
) -> Credential:
    credential = Credential(integration=integration, key=key)
    credential.set_secret(plaintext)
    credential.save()
    return credential


def test_secret_round_trips_through_the_database(integration, make_secret):
    token = make_secret("canvas")
    credential = make_credential(integration, token)

    reloaded = Credential.objects.get(pk=credential.pk)

    assert isinstance(reloaded.value, SealedSecret)
    assert reloaded.reveal() == token
    assert integration.secret("access_token") == token


def test_using_a_secret_records_its_last_use_at_most_once_a_minute(
    integration, make_secret, django_assert_num_queries
):
    credential = make_credential(integration, make_secret("canvas"))
    integration.secret("access_token")
    first_use = Credential.objects.get(pk=credential.pk).last_used_at

    # The credential's SELECT, no UPDATE of last_used_at.
    with django_assert_num_queries(1):
        integration.secret("access_token")
    Credential.objects.filter(pk=credential.pk).update(
        last_used_at=first_use - CREDENTIAL_LAST_USED_RESOLUTION
    )
    integration.secret("access_token")

    assert first_use is not None
    assert Credential.objects.get(pk=credential.pk).last_used_at > first_use


def test_database_holds_a_fernet_token_not_the_plaintext(integration, make_secret):
    token = make_secret("canvas")
    credential = make_credential(integration, token)

    ciphertext = stored_ciphertext(credential)

    assert token not in ciphertext
    assert Fernet(OLD_KEY.encode()).decrypt(ciphertext.encode()).decode() == token


def test_refresh_token_is_encrypted_as_well(integration, make_secret):
    refresh = make_secret("refresh")
    credential = Credential(integration=integration, key="oauth", kind="oauth_token")
    credential.set_secret(make_secret("access"))
    credential.refresh_token = refresh
    credential.save()

    reloaded = Credential.objects.get(pk=credential.pk)

    assert refresh not in stored_ciphertext(credential, "refresh_token")
    assert reloaded.reveal_refresh_token() == refresh


def test_set_secret_keeps_only_a_four_character_hint(integration, make_secret):
    token = make_secret("canvas")
    credential = make_credential(integration, token)

    assert credential.hint == token[-4:]
    assert credential.masked() == f"••••{token[-4:]}"


def test_saving_other_fields_keeps_the_ciphertext_byte_for_byte(
    integration, make_secret
):
    credential = make_credential(integration, make_secret("canvas"))
    before = stored_ciphertext(credential)

    reloaded = Credential.objects.get(pk=credential.pk)
    reloaded.kind = "password"
    reloaded.save()

    assert stored_ciphertext(credential) == before


def test_removed_key_raises_an_error_naming_integration_and_credential(
    integration, keys, make_secret
):
    token = make_secret("canvas")
    credential = make_credential(integration, token)
    before = stored_ciphertext(credential)
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    reloaded = Credential.objects.get(pk=credential.pk)
    with pytest.raises(CredentialDecryptionError) as caught:
        reloaded.reveal()

    error = caught.value
    assert "'access_token'" in error.message
    assert "'canvas-main'" in error.message
    assert error.integration == "canvas-main"
    assert error.details == {"credential": "access_token", "field": "value"}
    assert isinstance(error.__cause__, crypto.UndecryptableSecret)
    assert token not in str(error)
    assert before not in str(error)
    assert stored_ciphertext(credential) == before


def test_integration_secret_raises_the_same_error_and_leaves_the_row(
    integration, keys, make_secret
):
    credential = make_credential(integration, make_secret("canvas"))
    before = stored_ciphertext(credential)
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    with pytest.raises(CredentialDecryptionError, match="canvas-main"):
        integration.secret("access_token")

    assert stored_ciphertext(credential) == before
    assert Credential.objects.get(pk=credential.pk).last_used_at is None


def test_corrupt_ciphertext_raises_instead_of_returning_garbage(
    integration, make_secret
):
    credential = make_credential(integration, make_secret("canvas"))
    corrupt = stored_ciphertext(credential)[:-6] + "AAAAAA"
    Credential.objects.filter(pk=credential.pk).update(value=SealedSecret(corrupt))

    with pytest.raises(CredentialDecryptionError):
        Credential.objects.get(pk=credential.pk).reveal()

    assert stored_ciphertext(credential) == corrupt


def test_old_key_kept_after_the_new_one_still_decrypts(integration, keys, make_secret):
    token = make_secret("canvas")
    credential = make_credential(integration, token)

    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    assert Credential.objects.get(pk=credential.pk).reveal() == token
    assert not crypto.is_encrypted_with_primary_key(stored_ciphertext(credential))


def test_missing_credential_is_a_configuration_error_naming_it(integration):
    with pytest.raises(ConfigurationError, match="no credential 'access_token'"):
        integration.secret("access_token")

    assert integration.secret("access_token", required=False) == ""


def test_repr_and_str_never_show_the_secret_or_its_ciphertext(integration, make_secret):
    token = make_secret("canvas")
    credential = make_credential(integration, token)
    reloaded = Credential.objects.get(pk=credential.pk)
    ciphertext = stored_ciphertext(credential)

    shown = [
        repr(reloaded.value),
        str(reloaded.value),
        repr(reloaded),
        str(reloaded),
        f"{reloaded.value}",
        repr(reloaded.__dict__),
    ]

    for text in shown:
        assert token not in text
        assert ciphertext not in text
    assert repr(reloaded.value) == "SealedSecret('********')"
    assert repr(SealedSecret("")) == "SealedSecret('')"


def test_dumpdata_writes_ciphertext_and_no_plaintext(integration, make_secret):
    token = make_secret("canvas")
    refresh = make_secret("refresh")
    credential = make_credential(integration, token)
    credential.refresh_token = refresh
    credential.save()
    out = io.StringIO()

    call_command("dumpdata", "integrations.credential", stdout=out)

    dumped = out.getvalue()
    assert token not in dumped
    assert refresh not in dumped
    assert stored_ciphertext(credential) in dumped


def test_loaddata_restores_what_dumpdata_wrote(integration, make_secret, tmp_path):
    token = make_secret("canvas")
    make_credential(integration, token)
    fixture = tmp_path / "credentials.json"
    out = io.StringIO()
    call_command("dumpdata", "integrations.credential", stdout=out)
    fixture.write_text(out.getvalue())
    Credential.objects.all().delete()

    call_command("loaddata", str(fixture), stdout=io.StringIO())

    assert Credential.objects.get().reveal() == token
