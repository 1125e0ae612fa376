"""``integrations apply``: create, update, idempotency, and every kind of bad input."""

from __future__ import annotations

import io
import json
import textwrap

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import integrations.signals  # noqa: F401  (schedules follow saves, as in the app)
from integrations import registry
from integrations.models import Credential, Integration
from integrations.providers.base import Provider
from tests import leakcheck
from tests.commands.conftest import DemoLmsProvider, database_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_provider")]

TOKEN = leakcheck.secret("tok-0123456789-abcdefghij")
NEW_TOKEN = leakcheck.secret("tok-9876543210-zyxwvutsrq")

BASIC_YAML = textwrap.dedent(
    """\
    integrations:
      - name: demo-main
        provider: demo-lms
        base_url: https://lms.example.edu
        credentials:
          access_token: ${DEMO_TOKEN}
        settings:
          account_id: 1
        schedule: "*/30 * * * *"
        enabled: true
        timeouts:
          connect: 2
          read: 15
          retry_budget: 60
        rate_limit:
          requests: 100
          window: 60
    """
)


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("DEMO_TOKEN", TOKEN)


def _assert_no_secret(result, *secrets):
    for secret in (TOKEN, NEW_TOKEN, *secrets):
        assert secret not in result.output


def _assert_no_writes(queries):
    writes = [
        query["sql"]
        for query in queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []


def test_apply_yaml_creates_the_integration_and_its_credential(cli, write_file):
    path = write_file("integrations.yaml", BASIC_YAML)

    result = cli("apply", str(path))

    assert result.code == 0, result.output
    assert f"Applied {path}:" in result.stdout
    assert "demo-main: created (provider demo-lms)" in result.stdout
    assert "credential access_token set" in result.stdout
    assert "1 created, 0 updated, 0 unchanged; credentials: 1 set." in result.stdout
    _assert_no_secret(result)

    integration = Integration.objects.get(name="demo-main")
    assert integration.provider == "demo-lms"
    assert integration.base_url == "https://lms.example.edu"
    # Defaults of settings the file left out are filled in.
    assert integration.settings == {"account_id": 1, "page_size": 50, "mode": "safe"}
    assert integration.schedule == "*/30 * * * *"
    assert integration.enabled is True
    assert (integration.connect_timeout, integration.read_timeout) == (2.0, 15.0)
    assert integration.retry_budget == 60.0
    assert (integration.rate_limit_requests, integration.rate_limit_window) == (100, 60)
    credential = integration.credentials.get()
    assert (credential.key, credential.kind) == ("access_token", "api_key")
    assert credential.reveal() == TOKEN
    # Stored encrypted, not in plain text.
    assert TOKEN not in credential.value.ciphertext


def test_apply_schedule_becomes_a_periodic_task(cli, write_file):
    result = cli("apply", str(write_file("integrations.yaml", BASIC_YAML)))

    assert result.code == 0, result.output
    integration = Integration.objects.get(name="demo-main")
    task = integration.periodic_task
    assert task is not None
    assert task.task == "integrations.sync_integration"
    assert (task.crontab.minute, task.crontab.hour) == ("*/30", "*")
    assert json.loads(task.kwargs) == {"integration_id": integration.pk}


def test_apply_json_file_with_json_output(cli, write_file):
    document = {
        "integrations": [
            {
                "name": "demo-json",
                "provider": "demo-lms",
                "base_url": "https://lms.example.edu",
                "credentials": {"access_token": "${DEMO_TOKEN}"},
                "settings": {"account_id": 7, "mode": "fast"},
            }
        ]
    }
    path = write_file("integrations.json", json.dumps(document, indent=2))

    result = cli("apply", str(path), "--json")

    assert result.code == 0, result.output
    assert result.json() == {
        "ok": True,
        "file": str(path),
        "dry_run": False,
        "integrations": [
            {
                "name": "demo-json",
                "provider": "demo-lms",
                "action": "created",
                "changed_fields": [],
                "credentials": [{"key": "access_token", "action": "set"}],
            }
        ],
        "summary": {
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "credentials": {"set": 1, "changed": 0, "unchanged": 0},
        },
    }
    _assert_no_secret(result)
    integration = Integration.objects.get(name="demo-json")
    assert integration.settings["mode"] == "fast"
    assert integration.credentials.get().reveal() == TOKEN


def test_format_is_guessed_from_content_without_a_known_extension(cli, write_file):
    document = {
        "integrations": [
            {
                "name": "demo-guess",
                "provider": "demo-lms",
                "base_url": "https://lms.example.edu",
                "credentials": {"access_token": "${DEMO_TOKEN}"},
                "settings": {"account_id": 3},
            }
        ]
    }
    json_result = cli(
        "apply", str(write_file("integrations.conf", json.dumps(document)))
    )
    yaml_text = BASIC_YAML.replace("demo-main", "demo-yaml-guess")
    yaml_result = cli("apply", str(write_file("integrations.txt", yaml_text)))

    assert json_result.code == 0, json_result.output
    assert yaml_result.code == 0, yaml_result.output
    assert set(Integration.objects.values_list("name", flat=True)) == {
        "demo-guess",
        "demo-yaml-guess",
    }


def test_apply_reads_standard_input(cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(BASIC_YAML))

    result = cli("apply", "-")

    assert result.code == 0, result.output
    assert "Applied <stdin>:" in result.stdout
    assert Integration.objects.filter(name="demo-main").exists()


def test_reapplying_the_same_file_changes_nothing(cli, write_file):
    path = write_file("integrations.yaml", BASIC_YAML)
    assert cli("apply", str(path)).code == 0
    integration = Integration.objects.get(name="demo-main")
    credential = integration.credentials.get()
    before = database_state()

    with CaptureQueriesContext(connection) as queries:
        result = cli("apply", str(path))

    assert result.code == 0, result.output
    assert "demo-main: unchanged" in result.stdout
    assert "credential access_token unchanged" in result.stdout
    assert "0 created, 0 updated, 1 unchanged." in result.stdout
    _assert_no_writes(queries.captured_queries)
    assert database_state() == before
    integration.refresh_from_db()
    credential.refresh_from_db()
    assert integration.updated_at == before["integrations"][0]["updated_at"]
    assert credential.updated_at == before["credentials"][0][-1]


def test_changed_fields_are_reported_and_saved(cli, write_file):
    assert cli("apply", str(write_file("v1.yaml", BASIC_YAML))).code == 0
    changed = (
        BASIC_YAML.replace("https://lms.example.edu", "https://lms2.example.edu")
        .replace("account_id: 1", "account_id: 1\n      page_size: 20")
        .replace("read: 15", "read: 20")
        .replace("enabled: true", "enabled: false")
        .replace("window: 60", "window: 120")
    )

    result = cli("apply", str(write_file("v2.yaml", changed)))

    assert result.code == 0, result.output
    assert (
        "demo-main: updated: base_url, settings.page_size, enabled, timeouts.read, "
        "rate_limit.window"
    ) in result.stdout
    assert "credential access_token unchanged" in result.stdout
    assert "0 created, 1 updated, 0 unchanged." in result.stdout
    integration = Integration.objects.get(name="demo-main")
    assert integration.base_url == "https://lms2.example.edu"
    assert integration.settings["page_size"] == 20
    assert integration.read_timeout == 20.0
    assert integration.enabled is False
    assert integration.rate_limit_window == 120
    # The schedule's periodic task follows the integration's enabled flag.
    assert integration.periodic_task.enabled is False


def test_removing_optional_keys_resets_them_to_their_defaults(cli, write_file):
    assert cli("apply", str(write_file("v1.yaml", BASIC_YAML))).code == 0
    minimal = textwrap.dedent(
        """\
        integrations:
          - name: demo-main
            provider: demo-lms
            base_url: https://lms.example.edu
            settings:
              account_id: 1
        """
    )

    result = cli("apply", str(write_file("v2.yaml", minimal)))

    assert result.code == 0, result.output
    assert (
        "updated: schedule, timeouts.connect, timeouts.read, timeouts.retry_budget, "
        "rate_limit.requests, rate_limit.window"
    ) in result.stdout
    integration = Integration.objects.get(name="demo-main")
    assert integration.schedule == ""
    assert integration.connect_timeout is None
    assert integration.rate_limit_requests is None
    assert integration.periodic_task is None
    # A credential the file no longer lists is kept, not deleted.
    assert integration.credentials.get().reveal() == TOKEN


def test_a_new_environment_value_changes_the_credential(cli, write_file, monkeypatch):
    path = write_file("integrations.yaml", BASIC_YAML)
    assert cli("apply", str(path)).code == 0
    monkeypatch.setenv("DEMO_TOKEN", NEW_TOKEN)

    result = cli("apply", str(path), "--json")

    assert result.code == 0, result.output
    change = result.json()["integrations"][0]
    assert change["action"] == "unchanged"
    assert change["credentials"] == [{"key": "access_token", "action": "changed"}]
    _assert_no_secret(result)
    credential = Credential.objects.get(key="access_token")
    assert credential.reveal() == NEW_TOKEN
    assert credential.hint == NEW_TOKEN[-4:]


def test_a_credential_no_key_decrypts_is_replaced(cli, write_file, settings):
    from cryptography.fernet import Fernet

    path = write_file("integrations.yaml", BASIC_YAML)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert cli("apply", str(path)).code == 0
    # The key that encrypted the stored token is gone.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    result = cli("apply", str(path))

    assert result.code == 0, result.output
    assert "credential access_token changed" in result.stdout
    assert Credential.objects.get(key="access_token").reveal() == TOKEN


def test_dry_run_reports_and_writes_nothing(cli, write_file):
    existing = BASIC_YAML.replace("demo-main", "demo-old")
    assert cli("apply", str(write_file("old.yaml", existing))).code == 0
    before = database_state()
    both = BASIC_YAML + (
        "  - name: demo-old\n"
        "    provider: demo-lms\n"
        "    base_url: https://other.example.edu\n"
        "    credentials:\n"
        "      access_token: ${DEMO_TOKEN}\n"
        "    settings:\n"
        "      account_id: 1\n"
    )

    result = cli("apply", str(write_file("both.yaml", both)), "--dry-run")

    assert result.code == 0, result.output
    assert "nothing was written" in result.stdout
    assert "demo-main: would be created (provider demo-lms)" in result.stdout
    assert "credential access_token would be set" in result.stdout
    assert (
        "demo-old: would be updated: base_url, schedule, timeouts.connect,"
        in result.stdout
    )
    assert "Would be: 1 created, 1 updated, 0 unchanged; credentials: 1 set." in (
        result.stdout
    )
    assert database_state() == before


def test_dry_run_json_says_it_is_a_dry_run(cli, write_file):
    result = cli("apply", str(write_file("i.yaml", BASIC_YAML)), "--dry-run", "--json")

    assert result.code == 0, result.output
    data = result.json()
    assert data["dry_run"] is True
    assert data["integrations"][0]["action"] == "created"
    assert not Integration.objects.exists()


def test_an_empty_list_is_valid_and_changes_nothing(cli, write_file):
    result = cli("apply", str(write_file("empty.yaml", "integrations: []\n")))

    assert result.code == 0, result.output
    assert "The file lists no integrations." in result.stdout


def test_a_missing_file_is_a_usage_error(cli, tmp_path):
    result = cli("apply", str(tmp_path / "nope.yaml"))

    assert result.code == 2
    assert f"File not found: {tmp_path / 'nope.yaml'}" in result.stderr


# --- invalid input: every problem names its line and path; nothing changes ----

EXISTING_YAML = textwrap.dedent(
    """\
    integrations:
      - name: demo-existing
        provider: demo-lms
        base_url: https://lms.example.edu
        credentials:
          access_token: ${DEMO_TOKEN}
        settings:
          account_id: 1
    """
)

#: A valid change to the existing integration, put before each invalid entry:
#: it must not be applied when the entry after it is invalid.
VALID_UPDATE = textwrap.dedent(
    """\
    integrations:
      - name: demo-existing
        provider: demo-lms
        base_url: https://changed.example.edu
        credentials:
          access_token: ${OTHER_TOKEN}
        settings:
          account_id: 2
    """
)
# Line 10 of the file is the first line of the second entry's body.
ENTRY_HEAD = "  - name: demo-new\n    provider: demo-lms\n"

INVALID_CASES = {
    "unknown_top_level_key": (
        "version: 1\n" + VALID_UPDATE,
        [
            (
                1,
                "version",
                "Unknown key 'version'; the top level allows only: integrations",
            )
        ],
    ),
    "unknown_integration_key": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n    colour: blue\n",
        [
            (
                12,
                "integrations[1].colour",
                "Unknown key 'colour'; allowed keys: name, provider",
            )
        ],
    ),
    "unknown_provider": (
        VALID_UPDATE + "  - name: demo-new\n    provider: blackboard\n",
        [
            (
                10,
                "integrations[1].provider",
                "Unknown provider 'blackboard'; known providers: ",
            ),
            (10, "integrations[1].provider", "demo-lms"),
        ],
    ),
    "literal_secret": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    settings: {account_id: 1}\n"
        + "    credentials:\n      access_token: plain-literal-secret-value\n",
        [
            (
                14,
                "integrations[1].credentials.access_token",
                "Must be an environment reference such as ${MY_TOKEN}",
            )
        ],
    ),
    "partial_reference_is_literal": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    settings: {account_id: 1}\n"
        + "    credentials:\n      access_token: Bearer ${DEMO_TOKEN}\n",
        [
            (
                14,
                "integrations[1].credentials.access_token",
                "Must be an environment reference",
            )
        ],
    ),
    "undefined_variable": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    settings: {account_id: 1}\n"
        + "    credentials:\n      access_token: ${NOT_DEFINED_ANYWHERE}\n",
        [
            (
                14,
                "integrations[1].credentials.access_token",
                "Environment variable NOT_DEFINED_ANYWHERE is not set.",
            )
        ],
    ),
    "empty_variable": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    settings: {account_id: 1}\n"
        + "    credentials:\n      access_token: ${EMPTY_TOKEN}\n",
        [(14, "integrations[1].credentials.access_token", "EMPTY_TOKEN is empty")],
    ),
    "unknown_credential": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    settings: {account_id: 1}\n"
        + "    credentials:\n      access_token: ${DEMO_TOKEN}\n      api_key: ${DEMO_TOKEN}\n",
        [
            (
                15,
                "integrations[1].credentials.api_key",
                "Unknown credential 'api_key' for provider 'demo-lms'; known credentials: "
                "access_token, webhook_secret.",
            )
        ],
    ),
    "missing_required_credential": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    settings: {account_id: 1}\n",
        [(9, "integrations[1]", "Provider 'demo-lms' needs credential 'access_token'")],
    ),
    "invalid_setting_type": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings:\n      mode: safe\n      account_id: one\n",
        [
            (
                15,
                "integrations[1].settings.account_id",
                "Expected a value of type int, got str.",
            )
        ],
    ),
    "setting_out_of_range": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings:\n      account_id: 1\n      page_size: 500\n",
        [(15, "integrations[1].settings.page_size", "Must be at most 100.")],
    ),
    "missing_required_setting": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings:\n      mode: fast\n",
        [(13, "integrations[1].settings.account_id", "This setting is required.")],
    ),
    "unknown_setting": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings:\n      account_id: 1\n      colour: blue\n",
        [(15, "integrations[1].settings.colour", "Unknown setting 'colour'")],
    ),
    "missing_base_url": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings: {account_id: 1}\n",
        [(9, "integrations[1].base_url", "Demo LMS needs a base URL.")],
    ),
    "invalid_base_url": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: not a url\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings: {account_id: 1}\n",
        [(11, "integrations[1].base_url", "")],
    ),
    "cloud_metadata_base_url": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: http://169.254.169.254/latest\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings: {account_id: 1}\n",
        [(11, "integrations[1].base_url", "metadata")],
    ),
    "name_not_url_safe": (
        VALID_UPDATE
        + "  - name: Demo Main!\n    provider: demo-lms\n"
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings: {account_id: 1}\n",
        [(9, "integrations[1].name", "slug")],
    ),
    "missing_name": (
        VALID_UPDATE + "  - provider: demo-lms\n    base_url: https://x.example.edu\n",
        [(9, "integrations[1]", "Missing required key 'name'.")],
    ),
    "duplicate_names": (
        VALID_UPDATE
        + "  - name: demo-existing\n    provider: demo-lms\n"
        + "    base_url: https://x.example.edu\n"
        + "    settings: {account_id: 1}\n",
        [
            (
                9,
                "integrations[1].name",
                "Duplicate name 'demo-existing'; already used by integrations[0], line 2.",
            )
        ],
    ),
    "invalid_schedule": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings: {account_id: 1}\n"
        + "    schedule: '61 * * * *'\n",
        [(14, "integrations[1].schedule", "minute field '61' is invalid")],
    ),
    "schedule_with_four_fields": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings: {account_id: 1}\n"
        + "    schedule: '*/30 * * *'\n",
        [(14, "integrations[1].schedule", "has 4 field(s); a cron schedule has 5")],
    ),
    "enabled_not_boolean": (
        VALID_UPDATE + ENTRY_HEAD + "    enabled: 'yes please'\n",
        [(11, "integrations[1].enabled", "Must be true or false.")],
    ),
    "timeout_too_small": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    base_url: https://x.example.edu\n"
        + "    credentials: {access_token: '${DEMO_TOKEN}'}\n"
        + "    settings: {account_id: 1}\n"
        + "    timeouts:\n      connect: 0\n",
        [(15, "integrations[1].timeouts.connect", "greater than or equal to 0.1")],
    ),
    "timeout_not_a_number": (
        VALID_UPDATE + ENTRY_HEAD + "    timeouts:\n      read: soon\n",
        [
            (
                12,
                "integrations[1].timeouts.read",
                "Must be a number of seconds, not str.",
            )
        ],
    ),
    "unknown_timeout_key": (
        VALID_UPDATE + ENTRY_HEAD + "    timeouts:\n      total: 5\n",
        [(12, "integrations[1].timeouts.total", "Unknown key 'total'; allowed keys:")],
    ),
    "rate_limit_without_window": (
        VALID_UPDATE + ENTRY_HEAD + "    rate_limit:\n      requests: 10\n",
        [(11, "integrations[1].rate_limit", "Missing 'window'")],
    ),
    "rate_limit_zero_requests": (
        VALID_UPDATE + ENTRY_HEAD + "    rate_limit: {requests: 0, window: 60}\n",
        [
            (
                11,
                "integrations[1].rate_limit.requests",
                "Must be a whole number of at least 1.",
            )
        ],
    ),
    "provider_change": (
        VALID_UPDATE.replace("provider: demo-lms", "provider: demo-other"),
        [(3, "integrations[0].provider", "already exists with provider 'demo-lms'")],
    ),
    "integrations_not_a_list": (
        "integrations:\n  name: demo-new\n",
        [(1, "integrations", "Must be a list of integrations.")],
    ),
    "entry_not_a_mapping": (
        VALID_UPDATE + "  - demo-new\n",
        [(9, "integrations[1]", "Each integration must be a mapping.")],
    ),
    "duplicate_yaml_key": (
        VALID_UPDATE + ENTRY_HEAD + "    provider: demo-lms\n",
        [
            (
                11,
                "integrations[1].provider",
                "Duplicate key 'provider' (first on line 10).",
            )
        ],
    ),
    "yaml_syntax_error": (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    credentials: {access_token: plain-secret-here\n",
        [(None, "", "Invalid YAML")],
    ),
    "missing_integrations_key": (
        "integration:\n  - name: demo-new\n",
        [(1, "integration", "Unknown key 'integration'"), (None, "", "Missing the")],
    ),
    "empty_file": ("", [(None, "", "The file is empty")]),
}


class OtherDemoProvider(Provider):
    """A second test provider, to try changing an integration's provider."""

    slug = "demo-other"
    title = "Other demo"
    requires_base_url = False
    credential_schema = DemoLmsProvider.credential_schema

    def streams(self, integration):
        """Return no streams."""
        return []


@pytest.fixture
def existing(cli, write_file, monkeypatch, demo_provider):
    """An integration already in the database, which a bad file must not touch."""
    registry.register(OtherDemoProvider)
    try:
        monkeypatch.setenv("OTHER_TOKEN", NEW_TOKEN)
        monkeypatch.setenv("EMPTY_TOKEN", "")
        result = cli("apply", str(write_file("existing.yaml", EXISTING_YAML)))
        assert result.code == 0, result.output
        yield
    finally:
        registry._providers.pop(OtherDemoProvider.slug, None)


@pytest.mark.usefixtures("existing")
@pytest.mark.parametrize("case", sorted(INVALID_CASES))
def test_invalid_file_names_the_problem_and_changes_nothing(cli, write_file, case):
    text, expected = INVALID_CASES[case]
    path = write_file("bad.yaml", text)
    before = database_state()

    result = cli("apply", str(path))

    assert result.code == 1, result.output
    assert "nothing was changed" in result.stderr
    for line, where, message in expected:
        prefix = ": ".join(
            part for part in (f"line {line}" if line else "", where) if part
        )
        matching = [row for row in result.stderr.splitlines() if prefix in row]
        assert any(message in row for row in matching), (prefix, message, result.stderr)
    assert database_state() == before
    assert result.stdout == ""
    _assert_no_secret(result, "plain-literal-secret-value", "plain-secret-here")


@pytest.mark.usefixtures("existing")
def test_yaml_syntax_error_gives_the_line_but_not_the_line_text(cli, write_file):
    text = (
        VALID_UPDATE
        + ENTRY_HEAD
        + "    credentials: {access_token: plain-secret-here\n"
    )

    result = cli("apply", str(write_file("bad.yaml", text)))

    assert result.code == 1
    assert "line 12: Invalid YAML" in result.stderr
    assert "plain-secret-here" not in result.output


@pytest.mark.usefixtures("existing")
def test_every_problem_in_the_file_is_reported_at_once(cli, write_file):
    text = VALID_UPDATE + (
        "  - name: demo-a\n"
        "    provider: nope\n"
        "    credentials: {access_token: '${TYPO_TOKEN}'}\n"
        "  - name: demo-b\n"
        "    provider: demo-lms\n"
        "    base_url: https://x.example.edu\n"
        "    settings: {account_id: zero}\n"
        "    credentials: {access_token: literal-value-123}\n"
    )

    result = cli("apply", str(write_file("bad.yaml", text)))

    assert result.code == 1
    assert "3 problems; nothing was changed." in result.stderr
    problems = result.stderr.splitlines()[1:]
    assert "line 10: integrations[1].provider: Unknown provider 'nope'" in problems[0]
    # An entry with a wrong shape still has its environment references checked.
    assert (
        "line 11: integrations[1].credentials.access_token: Environment variable "
        "TYPO_TOKEN is not set." in problems[1]
    )
    assert "line 16: integrations[2].credentials.access_token: Must be" in problems[2]
    # Settings are checked against the model once an entry's shape is right;
    # the literal secret stops demo-b before that.
    assert "settings.account_id" not in result.stderr
    assert "literal-value-123" not in result.output


@pytest.mark.usefixtures("existing")
def test_invalid_json_file_names_line_and_path(cli, write_file):
    document = {
        "integrations": [
            {
                "name": "demo-existing",
                "provider": "demo-lms",
                "base_url": "https://changed.example.edu",
                "credentials": {"access_token": "${DEMO_TOKEN}"},
                "settings": {"account_id": 2},
            },
            {
                "name": "demo-new",
                "provider": "demo-lms",
                "base_url": "https://x.example.edu",
                "credentials": {"access_token": "${DEMO_TOKEN}"},
                "settings": {"account_id": "two"},
            },
        ]
    }
    text = json.dumps(document, indent=2)
    expected_line = text.splitlines().index('        "account_id": "two"') + 1
    before = database_state()

    result = cli("apply", str(write_file("bad.json", text)))

    assert result.code == 1
    assert (
        f"line {expected_line}: integrations[1].settings.account_id: "
        "Expected a value of type int, got str."
    ) in result.stderr
    assert database_state() == before


@pytest.mark.usefixtures("existing")
def test_invalid_json_with_json_output_lists_errors(cli, write_file):
    text = json.dumps(
        {"integrations": [{"name": "demo-x", "provider": "demo-lms", "extra": 1}]}
    )

    result = cli("apply", str(write_file("bad.json", text)), "--json")

    assert result.code == 1
    data = result.json()
    assert data["ok"] is False
    assert len(data["errors"]) == 1
    error = data["errors"][0]
    assert (error["line"], error["path"]) == (1, "integrations[0].extra")
    assert error["message"].startswith(
        "Unknown key 'extra'; allowed keys: name, provider"
    )


@pytest.mark.usefixtures("existing")
def test_json_syntax_error_names_line_and_column(cli, write_file):
    text = '{\n  "integrations": [\n    {"name": "demo-x",}\n  ]\n}\n'

    result = cli("apply", str(write_file("bad.json", text)))

    assert result.code == 1
    assert (
        "line 3: Invalid JSON: Expecting property name enclosed in double quotes"
        in (result.stderr)
    )


@pytest.mark.usefixtures("existing")
def test_json_duplicate_keys_are_errors(cli, write_file):
    text = '{"integrations": [{"name": "demo-x", "name": "demo-y", "provider": "demo-lms"}]}'

    result = cli("apply", str(write_file("bad.json", text)))

    assert result.code == 1
    assert "integrations[0].name: Duplicate key 'name'." in result.stderr
