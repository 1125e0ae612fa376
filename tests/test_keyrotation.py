"""Key rotation: re-encrypt under the first key, safely, in batches."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.fields import SealedSecret
from integrations.keyrotation import RotationReport, encrypted_fields, rotate_keys
from integrations.models import Credential, Integration

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
LOST_KEY = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    return settings


@pytest.fixture
def integration(keys):
    return Integration.objects.create(name="canvas-main", provider="canvas")


def add_credential(integration, key, plaintext, refresh_token=""):
    credential = Credential(
        integration=integration, key=key, refresh_token=refresh_token
    )
    credential.set_secret(plaintext)
    credential.save()
    return credential


def stored(credential, column="value"):
    """Return the raw column as the database holds it."""
    table = connection.ops.quote_name(Credential._meta.db_table)
    with connection.cursor() as cursor:
        quoted = connection.ops.quote_name(column)
        cursor.execute(
            f"SELECT {quoted} FROM {table} WHERE id = %s",  # noqa: S608
            [credential.pk],
        )
        return cursor.fetchone()[0]


def decrypt_with(key, ciphertext):
    return Fernet(key.encode()).decrypt(ciphertext.encode()).decode()


def test_every_encrypted_field_of_every_model_is_found():
    found = {
        model._meta.label: [f.name for f in fields]
        for model, fields in encrypted_fields()
    }

    assert found["integrations.Credential"] == ["value", "refresh_token"]


def test_values_under_an_old_key_move_to_the_new_first_key(
    integration, keys, make_secret
):
    token, refresh = make_secret("canvas"), make_secret("refresh")
    credential = add_credential(
        integration, "access_token", token, refresh_token=refresh
    )
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    report = rotate_keys()

    assert report == RotationReport(rotated=2, already_current=0, failed=[])
    assert decrypt_with(NEW_KEY, stored(credential)) == token
    assert decrypt_with(NEW_KEY, stored(credential, "refresh_token")) == refresh


def test_running_again_changes_nothing(integration, keys, make_secret):
    credential = add_credential(integration, "access_token", make_secret("canvas"))
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    rotate_keys()
    after_first = stored(credential)

    report = rotate_keys()

    assert report.as_dict() == {"rotated": 0, "already_current": 1, "failed": []}
    assert stored(credential) == after_first


def test_the_old_key_can_be_dropped_after_rotation(integration, keys, make_secret):
    tokens = {f"key-{n}": make_secret("canvas") for n in range(3)}
    for key, token in tokens.items():
        add_credential(integration, key, token)
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    rotate_keys()

    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    for key, token in tokens.items():
        assert integration.secret(key) == token


def test_an_undecryptable_value_is_kept_exactly_and_reported(
    integration, keys, make_secret
):
    keys.FIELD_ENCRYPTION_KEYS = [LOST_KEY]
    lost = add_credential(integration, "webhook_secret", make_secret("lost"))
    lost_ciphertext = stored(lost)
    keys.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    token = make_secret("canvas")
    fine = add_credential(integration, "access_token", token)
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    report = rotate_keys()

    assert report.rotated == 1
    assert stored(lost) == lost_ciphertext
    assert decrypt_with(NEW_KEY, stored(fine)) == token
    assert len(report.failed) == 1
    failure = report.failed[0]
    assert f"integrations.Credential id={lost.pk} field 'value'" in failure
    assert "integration 'canvas-main'" in failure
    assert "credential 'webhook_secret'" in failure
    assert lost_ciphertext not in failure


def test_rotation_works_in_batches(integration, keys, make_secret):
    tokens = {f"key-{n}": make_secret("canvas") for n in range(5)}
    credentials = [
        add_credential(integration, key, token) for key, token in tokens.items()
    ]
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    progress = []

    report = rotate_keys(
        batch_size=2, progress=lambda label, done: progress.append((label, done))
    )

    assert report.rotated == 5
    assert progress == [
        ("integrations.Credential", 2),
        ("integrations.Credential", 4),
        ("integrations.Credential", 5),
    ]
    for credential in credentials:
        assert decrypt_with(NEW_KEY, stored(credential)) == tokens[credential.key]


def test_batch_size_divides_rows_exactly(integration, keys, make_secret):
    for n in range(4):
        add_credential(integration, f"key-{n}", make_secret("canvas"))
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    progress = []

    report = rotate_keys(
        batch_size=2, progress=lambda label, done: progress.append(done)
    )

    assert report.rotated == 4
    assert progress == [2, 4]


def test_empty_values_are_skipped(integration, keys, make_secret):
    add_credential(integration, "access_token", make_secret("canvas"))
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    report = rotate_keys()

    # The refresh_token column is empty and stays empty.
    assert report.rotated == 1
    assert Credential.objects.get().refresh_token == SealedSecret("")


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size_is_a_clear_error(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        rotate_keys(batch_size=batch_size)


def test_rotation_logs_counts_and_never_a_secret(
    integration, keys, make_secret, caplog
):
    token = make_secret("canvas")
    add_credential(integration, "access_token", token)
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    with caplog.at_level("INFO", logger="integrations.keyrotation"):
        rotate_keys()

    finished = [
        r for r in caplog.records if r.msg == "integrations.keyrotation.finished"
    ]
    assert [(r.rotated, r.already_current, r.failed_count) for r in finished] == [
        (1, 0, 0)
    ]
    assert token not in caplog.text


def test_each_batch_commits_in_its_own_transaction(integration, keys, make_secret):
    for n in range(5):
        add_credential(integration, f"key-{n}", make_secret("canvas"))
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    with CaptureQueriesContext(connection) as queries:
        rotate_keys(batch_size=2)

    # Inside the test's own transaction each atomic block is a savepoint:
    # three batches of credentials, and one empty look at every other table
    # that holds secrets.
    opened = [q["sql"] for q in queries if q["sql"].startswith("SAVEPOINT")]
    assert len(opened) == 3 + len(encrypted_fields()) - 1


def test_a_secret_saved_meanwhile_is_not_overwritten(integration, keys, make_secret):
    credential = add_credential(integration, "access_token", make_secret("canvas"))
    keys.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    entered = make_secret("entered")
    entered_ciphertext = Fernet(NEW_KEY.encode()).encrypt(entered.encode()).decode()
    table = connection.ops.quote_name(Credential._meta.db_table)
    interfered = []

    def admin_saves_first(execute, sql, params, many, context):
        # An admin's save lands between the rotation's read and its write.
        if sql.startswith("UPDATE") and not interfered:
            interfered.append(sql)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET value = %s WHERE id = %s",  # noqa: S608
                    [entered_ciphertext, credential.pk],
                )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(admin_saves_first):
        report = rotate_keys()

    assert interfered
    assert report.rotated == 0
    assert stored(credential) == entered_ciphertext
    assert Credential.objects.get().reveal() == entered
