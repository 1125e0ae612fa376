"""``integrations list`` and the command's usage errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Credential, Integration, SyncRun
from tests import leakcheck

pytestmark = pytest.mark.django_db

SECRET = leakcheck.secret("list-test-secret-9a8b7c6d5e")


def _integration(name: str, **fields) -> Integration:
    fields.setdefault("provider", "demo-lms")
    fields.setdefault("base_url", "https://lms.example.edu")
    fields.setdefault("settings", {"account_id": 1})
    return Integration.objects.create(name=name, **fields)


def test_list_with_no_integrations(cli):
    result = cli("list")

    assert result.code == 0
    assert result.stdout == (
        "No integrations configured. Add them with 'integrations apply FILE' or in the admin.\n"
    )


def test_list_json_with_no_integrations(cli):
    result = cli("list", "--json")

    assert result.code == 0
    assert result.json() == {"integrations": []}


def test_list_table_is_sorted_and_aligned(cli, demo_provider):
    beta = _integration("beta-lms", schedule="0 * * * *", enabled=False)
    _integration("alpha-lms", health_status="healthy")
    SyncRun.objects.create(
        integration=beta,
        stream="courses",
        status="failed",
        created_at=timezone.now() - timedelta(hours=1),
    )

    result = cli("list")

    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "PROVIDER",
        "ENABLED",
        "SCHEDULE",
        "HEALTH",
        "LAST",
        "SYNC",
    ]
    assert lines[1].split() == ["alpha-lms", "demo-lms", "yes", "-", "healthy", "-"]
    assert lines[2].split()[:8] == [
        "beta-lms",
        "demo-lms",
        "no",
        "0",
        "*",
        "*",
        "*",
        "*",
    ]
    assert lines[2].split()[8:10] == ["unknown", "failed"]
    # Columns line up: every row's provider starts where the header's does.
    column = lines[0].index("PROVIDER")
    assert all(line[column : column + 8] == "demo-lms" for line in lines[1:])


def test_list_json_never_shows_credential_values(cli, demo_provider):
    integration = _integration("alpha-lms")
    credential = Credential(integration=integration, key="access_token")
    credential.set_secret(SECRET)
    credential.save()
    Credential.objects.create(
        integration=integration, key="webhook_secret", kind="webhook_secret"
    )

    result = cli("list", "--json")

    assert result.code == 0
    [entry] = result.json()["integrations"]
    assert entry["credentials"] == [
        {"key": "access_token", "kind": "api_key", "set": True},
        {"key": "webhook_secret", "kind": "webhook_secret", "set": False},
    ]
    assert entry["last_sync"] is None
    assert entry["health"] == {"status": "unknown", "error": "", "checked_at": None}
    assert SECRET not in result.output
    assert SECRET[-4:] not in result.output


def test_list_shows_an_integration_whose_provider_is_gone(cli):
    _integration("orphan", provider="removed-provider")

    result = cli("list")

    assert result.code == 0
    assert result.stdout.splitlines()[1].split()[:2] == ["orphan", "removed-provider"]


def test_a_missing_subcommand_is_an_error(cli):
    result = cli()

    assert result.code != 0
    assert "SUBCOMMAND" in result.stderr


def test_an_unknown_subcommand_is_an_error(cli):
    result = cli("destroy")

    assert result.code != 0
    assert "invalid choice: 'destroy'" in result.stderr


def test_pages_must_be_a_positive_number(cli):
    result = cli("test", "--pages", "0")

    assert result.code != 0
    assert "'0' must be at least 1" in result.stderr
