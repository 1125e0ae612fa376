"""Moodle settings are checked with errors that name the setting at fault."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations.errors import ConfigurationError
from integrations.models import Integration
from integrations.providers.moodle.provider import parse_settings
from integrations.providers.moodle.sync import DEFAULT_ROLE_MAP


def problems(values) -> list[str]:
    config, found = parse_settings(values)
    assert (config is None) == bool(found)
    return found


def test_defaults_fill_in_an_empty_mapping():
    config, found = parse_settings({})

    assert found == []
    assert config.page_size == 100
    assert config.only_active_enrolments is True
    assert config.learner_roles == frozenset({"student"})
    assert dict(config.role_map) == DEFAULT_ROLE_MAP
    assert config.write_back_grade_item == ""
    assert config.write_back_completion is True


def test_role_map_adds_to_the_built_in_map():
    config, _ = parse_settings({"role_map": {"mentor": "ta", "teacher": "teacher"}})

    assert config.role_map["mentor"] == "ta"
    assert config.role_map["teacher"] == "teacher"
    assert config.role_map["student"] == "student"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"page_size": 0}, "page_size: Must be at least 1."),
        ({"page_size": 5000}, "page_size: Must be at most 1000."),
        ({"page_size": "50"}, "page_size: Expected a value of type int, got str."),
        (
            {"learner_roles": []},
            "learner_roles: expected a non-empty list of role short names",
        ),
        ({"learner_roles": ["student", 5]}, "learner_roles: expected a non-empty list"),
        (
            {"role_map": {"mentor": "coach"}},
            "role_map.mentor: 'coach' is not a portal role; expected one of student, "
            "teacher, ta, designer, observer",
        ),
        ({"username": "admin"}, "service: obtaining a token needs both"),
        ({"service": "portal"}, "username: obtaining a token needs both"),
        ({"only_active": True}, "only_active: Unknown setting 'only_active'"),
    ],
)
def test_each_problem_names_its_setting(values, expected):
    found = problems(values)

    assert any(problem.startswith(expected) for problem in found), found


def test_provider_validation_raises_every_problem_at_once(db):
    integration = Integration(
        name="bad-moodle",
        provider="moodle",
        base_url="https://moodle.example.edu",
        settings={"page_size": 0, "role_map": {"x": "y"}},
    )

    with pytest.raises(ValidationError) as raised:
        integration.full_clean()

    messages = raised.value.message_dict["settings"]
    assert any(message.startswith("page_size") for message in messages)


def test_invalid_stored_settings_fail_before_any_call(db):
    from integrations.registry import get_provider

    integration = Integration.objects.create(
        name="broken-moodle",
        provider="moodle",
        base_url="https://moodle.example.edu",
        settings={"learner_roles": []},
    )

    with pytest.raises(ConfigurationError, match="learner_roles"):
        get_provider("moodle").streams(integration)
