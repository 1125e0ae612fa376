"""The GitHub provider's settings: defaults, and errors that name the setting."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations.errors import ConfigurationError
from integrations.providers.github.provider import parse_settings
from integrations.registry import get_provider
from tests.providers.github.helpers import make_github_integration, read_records


def test_defaults_list_every_repository_of_the_token_user():
    config, problems = parse_settings({})

    assert problems == []
    assert config.org is None
    assert config.listing(None) == (
        "/user/repos",
        {
            "affiliation": "owner,collaborator,organization_member",
            "visibility": "all",
            "per_page": 100,
        },
    )


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"org": "-bad"}, "org: '-bad' is not a GitHub organization name"),
        ({"affiliation": ["owner", "friend"]}, "affiliation.1: 'friend' is not"),
        ({"affiliation": []}, "affiliation: list at least one of"),
        ({"affiliation": ["owner", "owner"]}, "affiliation: a value is listed twice"),
        ({"visibility": "secret"}, "visibility:"),
        ({"per_page": 101}, "per_page: Must be at most 100."),
        ({"org": "school", "visibility": "private"}, "visibility: applies to the"),
        (
            {"org": "school", "affiliation": ["owner"]},
            "affiliation: applies to the token user's repositories only",
        ),
        ({"org_type": "forks"}, "org_type: applies with org only"),
        ({"colour": "blue"}, "colour: Unknown setting 'colour'"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(values, problem):
    with pytest.raises(ValidationError) as caught:
        get_provider("github").validate_settings(values)

    messages = caught.value.message_dict["settings"]
    assert any(message.startswith(problem) for message in messages), messages


def test_an_org_with_the_defaults_filled_in_is_accepted():
    # The admin and `integrations apply` fill in defaults before this check.
    config, problems = parse_settings(
        {"org": "school", "affiliation": list(parse_settings({})[0].affiliation)}
    )

    assert problems == []
    assert config.listing(5) == ("/orgs/school/repos", {"type": "all", "per_page": 5})


@pytest.mark.django_db
def test_a_sync_with_stored_bad_settings_fails_before_any_request(github, token):
    integration = make_github_integration(github, token, org="no spaces")

    with pytest.raises(ConfigurationError) as caught:
        read_records(integration)

    assert "org: 'no spaces'" in str(caught.value)
    assert github.count() == 0
