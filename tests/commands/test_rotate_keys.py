"""``integrations rotate-keys``: re-encrypt every credential with the first key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from integrations import crypto
from integrations.models import Credential, Integration
from tests import leakcheck

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
LOST_KEY = Fernet.generate_key().decode()
SECRETS = [leakcheck.secret(f"rotation-secret-{n}-4c3b2a1f0e") for n in range(3)]


def _store(integration: Integration, key: str, value: str) -> Credential:
    credential = Credential(integration=integration, key=key)
    credential.set_secret(value)
    credential.save()
    return credential


@pytest.fixture
def integration() -> Integration:
    return Integration.objects.create(name="canvas-main", provider="canvas")


def test_rotate_keys_reencrypts_with_the_first_key(cli, settings, integration):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    _store(integration, "access_token", SECRETS[0])
    _store(integration, "webhook_secret", SECRETS[1])
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    _store(integration, "refresh", SECRETS[2])

    result = cli("rotate-keys")

    assert result.code == 0, result.output
    assert "integrations.Credential: 3 row(s) checked" in result.stdout
    assert (
        "Re-encrypted 2 secret(s) with the first key; 1 already used it."
        in result.stdout
    )
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    values = {c.key: c.reveal() for c in Credential.objects.all()}
    assert values == {
        "access_token": SECRETS[0],
        "webhook_secret": SECRETS[1],
        "refresh": SECRETS[2],
    }
    for credential in Credential.objects.all():
        assert crypto.is_encrypted_with_primary_key(credential.value.ciphertext)
    for secret in SECRETS:
        assert secret not in result.output


def test_rotate_keys_json_and_a_second_run_finds_nothing_to_do(
    cli, settings, integration
):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    _store(integration, "access_token", SECRETS[0])
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    first = cli("rotate-keys", "--json")
    second = cli("rotate-keys", "--json")

    assert first.code == 0, first.output
    assert first.json() == {
        "ok": True,
        "rotated": 1,
        "already_current": 0,
        "failed": [],
    }
    assert second.json() == {
        "ok": True,
        "rotated": 0,
        "already_current": 1,
        "failed": [],
    }


def test_rotate_keys_exits_1_naming_what_no_key_decrypts(cli, settings, integration):
    settings.FIELD_ENCRYPTION_KEYS = [LOST_KEY]
    _store(integration, "access_token", SECRETS[0])
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    _store(integration, "webhook_secret", SECRETS[1])
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    result = cli("rotate-keys")

    assert result.code == 1
    assert (
        "Re-encrypted 1 secret(s) with the first key; 0 already used it."
        in result.stdout
    )
    assert "integration 'canvas-main', credential 'access_token'" in result.stdout
    assert (
        "1 secret(s) could not be decrypted with any key in FIELD_ENCRYPTION_KEYS"
        in (result.stderr)
    )
    for secret in SECRETS:
        assert secret not in result.output


def test_rotate_keys_json_failure(cli, settings, integration):
    settings.FIELD_ENCRYPTION_KEYS = [LOST_KEY]
    _store(integration, "access_token", SECRETS[0])
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    result = cli("rotate-keys", "--json", "--batch-size", "1")

    assert result.code == 1
    data = result.json()
    assert data["ok"] is False
    assert data["rotated"] == 0
    assert len(data["failed"]) == 1
    assert "credential 'access_token'" in data["failed"][0]
