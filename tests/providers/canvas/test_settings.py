"""Settings of the Canvas provider: defaults, and errors that name the setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from integrations.errors import ConfigurationError
from integrations.models import Integration
from integrations.providers.canvas.provider import CanvasProvider, parse_settings
from integrations.providers.canvas.sync import CanvasConfig
from integrations.registry import get_provider


def errors_for(**settings: Any) -> list[str]:
    """Return the problems the provider finds in ``settings``."""
    with pytest.raises(ValidationError) as caught:
        CanvasProvider().validate_settings(settings)
    return caught.value.message_dict["settings"]


def test_provider_is_registered_with_its_identity():
    provider = get_provider("canvas")

    assert isinstance(provider, CanvasProvider)
    assert provider.title == "Canvas LMS"
    assert provider.requires_base_url is True
    assert provider.supports_write_back is True
    assert [(c.key, c.required) for c in provider.credential_schema] == [
        ("access_token", True)
    ]


def test_empty_settings_give_the_defaults():
    config, problems = parse_settings({})

    assert problems == []
    assert config == CanvasConfig(
        account_id=None,
        per_page=100,
        enrollment_types=("student", "teacher"),
        include_completed=True,
        include_unpublished_assignments=False,
        module_progress="bulk",
        writeback_assignment_name="Portal progress",
        writeback_create_assignment=False,
        writeback_grade="percent",
        rate_limit_quota=700.0,
        rate_limit_refill=10.0,
        concurrency=4,
    )


def test_every_setting_is_read():
    config, problems = parse_settings(
        {
            "account_id": 12,
            "per_page": 50,
            "enrollment_types": ["student", "ta", "observer"],
            "include_completed": False,
            "include_unpublished_assignments": True,
            "module_progress": "per_user",
            "writeback_assignment_name": "  Portal grade  ",
            "writeback_create_assignment": True,
            "writeback_grade": "grade",
            "rate_limit_quota": 3000,
            "rate_limit_refill": 50.5,
            "concurrency": 1,
        }
    )

    assert problems == []
    assert config.account_id == 12
    assert config.enrollment_types == ("student", "ta", "observer")
    assert config.writeback_assignment_name == "Portal grade"
    assert config.rate_limit_quota == 3000.0
    assert config.concurrency == 1


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"per_page": 101}, "per_page: Must be at most 100."),
        ({"per_page": 0}, "per_page: Must be at least 1."),
        ({"account_id": "1"}, "account_id: Expected a value of type int, got str."),
        ({"account_id": 0}, "account_id: Must be at least 1."),
        (
            {"module_progress": "all"},
            "module_progress: Must be one of: bulk, per_user, off.",
        ),
        (
            {"include_completed": "yes"},
            "include_completed: Expected a value of type bool",
        ),
        ({"rate_limit_refill": 0}, "rate_limit_refill: Must be at least 0.001."),
        ({"concurrency": 0}, "concurrency: Must be at least 1."),
        ({"concurrency": 9}, "concurrency: Must be at most 8."),
        (
            {"enrollment_types": "student"},
            "enrollment_types: Expected a value of type list",
        ),
        ({"enrollment_types": []}, "enrollment_types: list at least one role"),
        (
            {"enrollment_types": ["student", "admin"]},
            "enrollment_types.1: 'admin' is not a role; expected one of student, "
            "teacher, ta, designer, observer",
        ),
        (
            {"enrollment_types": ["ta", "ta"]},
            "enrollment_types: a role is listed twice",
        ),
        ({"writeback_assignment_name": "ab"}, "writeback_assignment_name: expected 3"),
        ({"token": "x"}, "token: Unknown setting 'token'; known settings: account_id"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(values, problem):
    problems = errors_for(**values)

    assert any(message.startswith(problem) for message in problems), problems


def test_every_problem_is_reported_at_once():
    problems = errors_for(per_page=500, module_progress="x")

    assert len(problems) == 2


def test_integration_clean_reports_settings_errors_by_field(db):
    integration = Integration(
        name="canvas-bad",
        provider="canvas",
        base_url="https://canvas.example.edu",
        settings={"enrollment_types": ["student", "dean"]},
    )

    with pytest.raises(ValidationError) as caught:
        integration.full_clean()

    assert caught.value.message_dict["settings"] == [
        "enrollment_types.1: 'dean' is not a role; expected one of student, teacher, "
        "ta, designer, observer"
    ]


def test_invalid_stored_settings_stop_a_sync_with_a_configuration_error(db):
    integration = Integration.objects.create(
        name="canvas-broken",
        provider="canvas",
        base_url="https://canvas.example.edu",
        settings={"per_page": 1000},
    )

    with pytest.raises(ConfigurationError) as caught:
        get_provider("canvas").streams(integration)

    assert "per_page: Must be at most 100." in str(caught.value)
