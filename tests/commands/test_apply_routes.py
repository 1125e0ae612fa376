"""``integrations apply`` with a ``routes:`` list: routing rules as code."""

from __future__ import annotations

import textwrap

import pytest

from integrations.models import Integration
from portal.events.models import RoutingRule
from tests import leakcheck

pytestmark = pytest.mark.django_db

WEBHOOK = leakcheck.secret(
    "https://hooks.slack.com/services/T0001/B0001/routesWebhookSecret01"
)

ROUTES_YAML = textwrap.dedent(
    """\
    integrations:
      - name: team-slack
        provider: slack_webhook
        credentials:
          webhook_url: ${SLACK_URL}
    routes:
      - name: sync-failures
        sink: team-slack
        events: [sync.failed, "integration.*"]
        filters:
          integration: canvas-main
          course: CS-101
        template: "Sync of {{ integration }} failed: {{ error }}"
      - name: completions
        sink: team-slack
        events: course.completed
    """
)


@pytest.fixture(autouse=True)
def _webhook(monkeypatch):
    monkeypatch.setenv("SLACK_URL", WEBHOOK)


def test_routes_are_created_with_their_sink_and_reported(cli, write_file):
    result = cli("apply", str(write_file("routes.yaml", ROUTES_YAML)))

    assert result.code == 0, result.output
    rule = RoutingRule.objects.get(name="sync-failures")
    assert rule.sink == Integration.objects.get(name="team-slack")
    assert rule.kinds() == ["sync.failed", "integration.*"]
    assert rule.integration_filter == "canvas-main"
    assert rule.course_filter == "CS-101"
    assert rule.template == "Sync of {{ integration }} failed: {{ error }}"
    assert rule.enabled
    default = RoutingRule._meta.get_field("template").default
    assert RoutingRule.objects.get(name="completions").template == default
    assert "route sync-failures: created (to team-slack)" in result.stdout
    assert "routes: 2 created, 0 updated, 0 unchanged" in result.stdout
    assert WEBHOOK not in result.output


def test_reapplying_routes_changes_nothing(cli, write_file):
    path = str(write_file("routes.yaml", ROUTES_YAML))
    cli("apply", path)
    before = list(RoutingRule.objects.values_list("id", "updated_at"))

    result = cli("apply", path, "--json")

    assert result.code == 0, result.output
    assert [r["action"] for r in result.json()["routes"]] == ["unchanged"] * 2
    assert list(RoutingRule.objects.values_list("id", "updated_at")) == before


def test_a_changed_route_is_updated_with_its_fields_named(cli, write_file):
    cli("apply", str(write_file("routes.yaml", ROUTES_YAML)))
    changed = ROUTES_YAML.replace("course: CS-101", "course: CS-102").replace(
        "events: course.completed", "events: course.completed\n    enabled: false"
    )

    result = cli("apply", str(write_file("routes.yaml", changed)))

    assert result.code == 0, result.output
    assert "route sync-failures: updated: filters.course" in result.stdout
    assert "route completions: updated: enabled" in result.stdout
    assert RoutingRule.objects.get(name="sync-failures").course_filter == "CS-102"
    assert not RoutingRule.objects.get(name="completions").enabled


def test_dry_run_reports_routes_and_writes_nothing(cli, write_file):
    result = cli("apply", str(write_file("routes.yaml", ROUTES_YAML)), "--dry-run")

    assert result.code == 0, result.output
    assert "route completions: would be created (to team-slack)" in result.stdout
    assert not RoutingRule.objects.exists()
    assert not Integration.objects.exists()


BAD_ROUTES = textwrap.dedent(
    """\
    integrations:
      - name: team-slack
        provider: slack_webhook
        credentials:
          webhook_url: ${SLACK_URL}
    routes:
      - name: bad-kinds
        sink: team-slack
        events: [Sync Failed]
      - name: bad-template
        sink: team-slack
        events: [sync.failed]
        template: "{% if %}"
      - name: no-sink
        sink: nowhere
        events: [sync.failed]
      - name: not-a-sink
        sink: lms
        events: [sync.failed]
      - name: bad-keys
        sink: team-slack
        events: [sync.failed]
        colour: red
        filters: {group: x}
      - name: bad-kinds
        sink: team-slack
        events: [sync.failed]
    """
)


def test_bad_routes_name_line_and_path_and_nothing_is_written(cli, write_file):
    Integration.objects.create(name="lms", provider="rest")

    result = cli("apply", str(write_file("routes.yaml", BAD_ROUTES)), "--json")

    assert result.code != 0
    errors = {(e["line"], e["path"]): e["message"] for e in result.json()["errors"]}
    assert "dotted lower-case" in errors[(9, "routes[0].events")]
    assert "does not compile" in errors[(13, "routes[1].template")]
    assert "No integration 'nowhere'" in errors[(15, "routes[2].sink")]
    assert "cannot receive events" in errors[(18, "routes[3].sink")]
    assert "Unknown key 'colour'" in errors[(23, "routes[4].colour")]
    assert "Unknown filter 'group'" in errors[(24, "routes[4].filters.group")]
    assert "Duplicate route name" in errors[(25, "routes[5].name")]
    assert list(Integration.objects.values_list("name", flat=True)) == ["lms"]
    assert not RoutingRule.objects.exists()


def test_routes_must_be_a_list(cli, write_file):
    text = "integrations: []\nroutes: {name: x}\n"

    result = cli("apply", str(write_file("routes.yaml", text)))

    assert result.code != 0
    assert "line 2: routes: Must be a list of routes." in result.output
