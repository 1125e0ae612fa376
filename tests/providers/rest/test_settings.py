"""Settings of the generic REST provider: defaults, and errors that name the path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from integrations.errors import ConfigurationError
from integrations.providers.rest.provider import RestProvider, parse_settings
from integrations.registry import get_provider
from tests.providers.rest.helpers import school_endpoints


def errors_for(**settings: Any) -> list[str]:
    """Return the problems the provider finds in ``settings``."""
    settings.setdefault("endpoints", school_endpoints())
    with pytest.raises(ValidationError) as caught:
        RestProvider().validate_settings(settings)
    return caught.value.message_dict["settings"]


def with_endpoint(index: int, **changes: Any) -> list[dict[str, Any]]:
    """Return the school endpoints with keys of one endpoint changed (None drops)."""
    endpoints = copy.deepcopy(school_endpoints())
    for key, value in changes.items():
        if value is None:
            endpoints[index].pop(key, None)
        else:
            endpoints[index][key] = value
    return endpoints


def test_provider_is_registered_under_rest():
    provider = get_provider("rest")

    assert isinstance(provider, RestProvider)
    assert provider.requires_base_url is True
    assert provider.default_rate_limit is None
    assert [(c.key, c.required) for c in provider.credential_schema] == [
        ("token", False),
        ("password", False),
    ]


def test_valid_settings_fill_in_defaults():
    config, errors = parse_settings({"endpoints": school_endpoints()})

    assert errors == []
    assert config.auth == "bearer"
    assert config.auth_header == "X-API-Key"
    assert config.auth_param == "api_key"
    assert config.paging.style == "link"
    assert config.paging.page_size == 100
    assert config.headers == {}
    assert [e.stream for e in config.endpoints] == [
        "courses",
        "assignments",
        "enrollments",
        "progress",
    ]
    assert config.endpoints[3].fields["external_id"] == ("course.id", "user.id")


def test_validate_settings_accepts_good_settings():
    RestProvider().validate_settings(
        {"endpoints": school_endpoints(), "auth": "basic", "username": "svc-portal"}
    )


def test_missing_required_field_names_endpoint_and_field():
    fields = {"course_external_id": "course_id", "title": "name"}

    errors = errors_for(endpoints=with_endpoint(1, fields=fields))

    assert errors == ["endpoints[1].fields: missing 'external_id'"]


def test_unknown_record_type_is_named():
    errors = errors_for(endpoints=with_endpoint(2, record_type="lesson"))

    assert errors == [
        "endpoints[2].record_type: expected one of course, assignment, enrollment, "
        "progress, got 'lesson'"
    ]


def test_duplicate_stream_names_are_refused():
    errors = errors_for(endpoints=with_endpoint(2, stream="courses"))

    assert errors == [
        "endpoints[2].stream: 'courses' is already the stream of endpoints[0]; "
        "stream names must be unique"
    ]


def test_field_the_record_type_does_not_have_is_named():
    endpoints = school_endpoints()
    endpoints[0]["fields"]["percent"] = "progress"

    errors = errors_for(endpoints=endpoints)

    assert len(errors) == 1
    assert errors[0].startswith(
        "endpoints[0].fields.percent: course records have no field 'percent'; fields: "
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"stream": "Courses!"}, "endpoints[0].stream: expected a name of 1 to 50"),
        ({"stream": None}, "endpoints[0].stream: expected a name"),
        (
            {"path": "https://evil.example/api"},
            "endpoints[0].path: expected a path on the",
        ),
        (
            {"path": "api/courses"},
            "endpoints[0].path: expected a path starting with '/'",
        ),
        (
            {"path": "/api/courses?x=1"},
            "endpoints[0].path: put query parameters in 'params'",
        ),
        (
            {"items_path": "data..items"},
            "endpoints[0].items_path: expected a dotted path",
        ),
        ({"params": ["a"]}, "endpoints[0].params: expected a mapping"),
        (
            {"params": {"include": {"a": 1}}},
            "endpoints[0].params.include: expected a string",
        ),
        ({"fields": "id"}, "endpoints[0].fields: expected a mapping"),
        (
            {"fields": {"external_id": "id", "title": ""}},
            "endpoints[0].fields.title: expected",
        ),
        (
            {"state_map": {"published": "live"}},
            "endpoints[0].state_map.published: 'live' is",
        ),
        (
            {"role_map": {"x": "student"}},
            "endpoints[0].role_map: course records have no role",
        ),
        (
            {"colour": "blue"},
            "endpoints[0].colour: unknown key; known keys: stream, path",
        ),
    ],
)
def test_endpoint_problems_name_the_path_at_fault(changes, expected):
    errors = errors_for(endpoints=with_endpoint(0, **changes))

    assert any(error.startswith(expected) for error in errors), errors


def test_state_map_on_a_record_type_without_state_is_refused():
    errors = errors_for(endpoints=with_endpoint(1, state_map={"published": "active"}))

    assert errors == ["endpoints[1].state_map: assignment records have no state"]


def test_state_map_without_a_state_field_is_refused():
    endpoints = school_endpoints()
    del endpoints[0]["fields"]["state"]

    errors = errors_for(endpoints=endpoints)

    assert errors == ["endpoints[0].state_map: set but fields has no 'state' to map"]


def test_composite_external_id_must_be_paths():
    endpoints = school_endpoints()
    endpoints[3]["fields"]["external_id"] = ["course.id", 7]

    errors = errors_for(endpoints=endpoints)

    assert errors == [
        "endpoints[3].fields.external_id: expected a dotted path or a list of them"
    ]


def test_streams_that_refer_to_courses_need_a_course_endpoint():
    errors = errors_for(endpoints=school_endpoints()[1:])

    assert errors == [
        "endpoints: 'assignments', 'enrollments', 'progress' refer to courses, but no "
        "endpoint has record_type 'course'"
    ]


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        ([], "endpoints: add at least one endpoint mapping"),
        (["courses"], "endpoints[0]: expected a mapping, got text"),
    ],
)
def test_endpoint_list_shape_is_checked(endpoints, expected):
    assert errors_for(endpoints=endpoints) == [expected]


def test_missing_endpoints_setting_is_required():
    with pytest.raises(ValidationError) as caught:
        RestProvider().validate_settings({})

    assert caught.value.message_dict["settings"] == [
        "endpoints: This setting is required."
    ]


def test_params_that_pagination_sets_are_refused():
    endpoints = with_endpoint(0, params={"page": 3, "include": ["term"]})

    errors = errors_for(endpoints=endpoints, pagination="page")

    assert errors == [
        "endpoints[0].params.page: this parameter is set by the pagination setting "
        "'page_param'; remove it here"
    ]


def test_query_auth_parameter_is_refused_in_params():
    endpoints = with_endpoint(0, params={"api_key": "literal-secret"})

    errors = errors_for(endpoints=endpoints, auth="query")

    assert errors == [
        "endpoints[0].params.api_key: this parameter is set by auth 'query' "
        "(auth_param), from the token credential; remove it here"
    ]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"auth": "basic"}, "username: required when auth is 'basic'"),
        (
            {"auth": "basic", "username": "a:b"},
            "username: HTTP Basic user names cannot",
        ),
        (
            {"auth": "header", "auth_header": "X Key"},
            "auth_header: not a valid header name",
        ),
        (
            {"auth": "query", "auth_param": "a&b"},
            "auth_param: not a plain query parameter",
        ),
        (
            {"auth": "oauth"},
            "auth: Must be one of: bearer, header, query, basic, none.",
        ),
        ({"pagination": "scroll"}, "pagination: Must be one of: link, page, offset"),
        ({"page_size": 0}, "page_size: Must be at least 1."),
        ({"page_size": "50"}, "page_size: Expected a value of type int, got str."),
        (
            {"pagination": "cursor", "cursor_path": "meta."},
            "cursor_path: expected a dotted",
        ),
        (
            {"pagination": "header_page", "next_page_header": "X Next"},
            "next_page_header: ",
        ),
        ({"health_path": "status"}, "health_path: expected a path starting with '/'"),
        (
            {"headers": ["X-Tenant"]},
            "headers: Expected a value of type dict, got list.",
        ),
        (
            {"headers": {"X-Tenant": "a\r\nX-Evil: 1"}},
            "headers.X-Tenant: expected text on",
        ),
        ({"headers": {"Bad Name": "x"}}, "headers.Bad Name: not a valid header name"),
        ({"headers": {"Host": "internal"}}, "headers.Host: set by the HTTP client"),
        ({"speed": "fast"}, "speed: Unknown setting 'speed'"),
    ],
)
def test_setting_problems_name_the_setting(values, expected):
    errors = errors_for(**values)

    assert any(error.startswith(expected) for error in errors), errors


@pytest.mark.parametrize(
    "name", ["Authorization", "X-Api-Key", "Cookie", "X-Auth-Token"]
)
def test_secret_headers_are_refused(name):
    errors = errors_for(headers={name: "secret-value"})

    assert errors == [
        f"headers.{name}: looks like it carries a secret; send secrets through 'auth' "
        "and the encrypted 'token' credential instead"
    ]


def test_error_messages_never_echo_header_values():
    errors = errors_for(headers={"Authorization": "Bearer sk-live-abcdef"})

    assert "sk-live-abcdef" not in " ".join(errors)


def test_every_problem_is_reported_at_once():
    endpoints = with_endpoint(0, record_type="lesson", path="courses")

    errors = errors_for(endpoints=endpoints, auth="basic", page_size=-1)

    assert len(errors) == 1  # type errors stop before the deep checks
    assert errors == ["page_size: Must be at least 1."]
    errors = errors_for(endpoints=endpoints, auth="basic")
    assert errors == [
        "username: required when auth is 'basic'",
        "endpoints[0].path: expected a path starting with '/', such as '/courses'",
        "endpoints[0].record_type: expected one of course, assignment, enrollment, "
        "progress, got 'lesson'",
        "endpoints: 'assignments', 'enrollments', 'progress' refer to courses, but no "
        "endpoint has record_type 'course'",
    ]


@pytest.mark.django_db
def test_streams_of_invalid_settings_raise_configuration_error():
    from integrations.models import Integration

    integration = Integration.objects.create(
        name="broken-rest",
        provider="rest",
        base_url="https://api.example.edu",
        settings={"endpoints": with_endpoint(0, record_type="lesson")},
    )

    with pytest.raises(ConfigurationError) as caught:
        RestProvider().streams(integration)

    assert (
        "Integration 'broken-rest' has invalid settings: endpoints[0].record_type"
        in str(caught.value)
    )
    assert caught.value.details["errors"][0].startswith("endpoints[0].record_type")


def test_streams_put_courses_first_and_depend_on_them():
    endpoints = school_endpoints()
    endpoints.insert(0, endpoints.pop())  # progress declared before courses
    config, errors = parse_settings({"endpoints": endpoints})
    assert errors == []

    from integrations.providers.rest.sync import build_streams

    streams = build_streams(config.endpoints, config.paging)

    assert [(s.name, s.record_type, s.depends_on) for s in streams] == [
        ("courses", "course", ()),
        ("progress", "progress", ("courses",)),
        ("assignments", "assignment", ("courses",)),
        ("enrollments", "enrollment", ("courses",)),
    ]


def test_two_endpoints_of_one_record_type_are_refused():
    endpoints = school_endpoints()
    endpoints.append(
        {
            "stream": "archived_courses",
            "path": "/api/archive",
            "record_type": "course",
            "fields": {"external_id": "id", "title": "name"},
        }
    )

    _, errors = parse_settings({"endpoints": endpoints})

    assert errors == [
        "endpoints[4].record_type: endpoints[0] already provides 'course' records; "
        "use one endpoint per record type"
    ]


def test_secret_looking_query_parameter_is_refused():
    endpoints = school_endpoints()
    endpoints[0]["params"] = {"access_token": "abc123secret"}

    _, errors = parse_settings({"endpoints": endpoints})

    assert len(errors) == 1
    assert errors[0].startswith("endpoints[0].params.access_token: looks like a secret")
