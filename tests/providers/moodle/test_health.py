"""Health: core_webservice_get_site_info, and the functions the token may call."""

from __future__ import annotations

import pytest

from integrations.health import check_health
from integrations.models import HealthStatus
from tests.fakes.moodle import FUNCTIONS, MoodleFake
from tests.fakes.server import Reply
from tests.providers.moodle.helpers import TOKEN

pytestmark = pytest.mark.django_db

SYNC_FUNCTIONS = [
    name
    for name in FUNCTIONS
    if name
    not in (
        "core_grades_update_grades",
        "core_completion_override_activity_completion_status",
    )
]


def check(provider, integration):
    """Run the provider's health check with the integration's own client."""
    return provider.check_health(integration, provider.build_client(integration))


def test_token_with_every_function_is_healthy(provider, make_integration, moodle):
    integration = make_integration(moodle, write_back_grade_item="portal-progress")

    report = check(provider, integration)

    assert report.status == "healthy"
    assert report.error == ""
    assert report.details["sitename"] == "Fake Moodle"
    assert report.details["release"].startswith("4.5")
    assert report.details["token_user_id"] == 2
    assert report.details["missing_required_functions"] == []
    assert report.details["missing_optional_functions"] == []
    assert moodle.calls() == moodle.calls("core_webservice_get_site_info") == 1


def test_missing_sync_functions_are_named_and_unhealthy(provider, make_integration):
    allowed = [
        name
        for name in SYNC_FUNCTIONS
        if name
        not in ("gradereport_user_get_grade_items", "core_enrol_get_enrolled_users")
    ]
    with MoodleFake(token=TOKEN, functions=allowed) as fake:
        integration = make_integration(fake)

        report = check(provider, integration)

    assert report.status == "unhealthy"
    assert report.details["missing_required_functions"] == [
        "core_enrol_get_enrolled_users",
        "gradereport_user_get_grade_items",
    ]
    assert (
        "core_enrol_get_enrolled_users, gradereport_user_get_grade_items"
        in report.error
    )
    assert "External services" in report.error


def test_missing_write_back_functions_degrade_only_when_write_back_is_on(
    provider, make_integration
):
    with MoodleFake(token=TOKEN, functions=SYNC_FUNCTIONS) as fake:
        without = make_integration(fake)
        with_grades = make_integration(
            fake, write_back_grade_item="portal-progress", write_back_completion=False
        )
        with_both = make_integration(fake, write_back_grade_item="portal-progress")

        assert check(provider, without).status == "healthy"
        grades_only = check(provider, with_grades)
        both = check(provider, with_both)

    assert grades_only.status == "degraded"
    assert grades_only.details["missing_optional_functions"] == [
        "core_grades_update_grades"
    ]
    assert both.status == "degraded"
    assert both.details["missing_optional_functions"] == [
        "core_grades_update_grades",
        "core_completion_override_activity_completion_status",
    ]
    assert "Write-back will fail" in both.error


def test_invalid_token_is_unhealthy_with_the_reason(provider, make_integration, moodle):
    integration = make_integration(
        moodle, credentials={"token": "wrong-token-0000000000"}
    )

    report = check(provider, integration)

    assert report.status == "unhealthy"
    assert report.error == "authentication failed: Moodle rejected the token"
    assert report.details["code"] == "authentication_failed"
    assert report.details["provider_code"] == "invalidtoken"
    assert report.details["status"] == 200


def test_site_info_outside_the_service_says_to_add_it(provider, make_integration):
    without_site_info = [
        name for name in FUNCTIONS if name != "core_webservice_get_site_info"
    ]
    with MoodleFake(token=TOKEN, functions=without_site_info) as fake:
        report = check(provider, make_integration(fake))

    assert report.status == "unhealthy"
    assert report.details["provider_code"] == "accessexception"
    assert "add core_webservice_get_site_info" in report.error


def test_html_answer_is_not_taken_for_a_moodle_site(provider, make_integration, moodle):
    moodle.fail_next(Reply(200, '"maintenance"', content_type="application/json"))

    report = check(provider, make_integration(moodle))

    assert report.status == "unhealthy"
    assert "is the base URL a Moodle site" in report.error


def test_framework_health_check_stores_the_result(make_integration, moodle):
    integration = make_integration(moodle)

    result = check_health(integration)

    assert result.status == HealthStatus.HEALTHY
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.HEALTHY
    assert result.details["functions_available"] == len(FUNCTIONS)


def test_integration_without_any_credential_is_unhealthy_naming_both(
    make_integration, moodle
):
    integration = make_integration(moodle, credentials={})

    result = check_health(integration)

    assert result.status == HealthStatus.UNHEALTHY
    assert "'token' credential" in result.error
    assert "'password' credential" in result.error
