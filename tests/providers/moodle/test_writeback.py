"""Write-back: a learner's portal progress becomes a Moodle activity grade."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from integrations import errors
from integrations.providers.moodle.writeback import GRADE_SOURCE, scaled_grade
from integrations.sync.runs import run_sync_now
from portal.learning.models import LearnerIdentity, Progress

pytestmark = pytest.mark.django_db

UPDATE = "core_grades_update_grades"
OVERRIDE = "core_completion_override_activity_completion_status"


@pytest.fixture
def synced(make_integration, moodle):
    """Return an integration with write-back on, after a first sync."""
    integration = make_integration(moodle, write_back_grade_item="portal-progress")
    run_sync_now(integration)
    moodle.call_log.clear()
    return integration


def push(provider, integration, progress):
    return provider.push_progress(
        integration, provider.build_client(integration), progress
    )


def test_provider_declares_write_back(provider):
    assert provider.supports_write_back is True


def test_progress_is_written_as_the_activity_grade_and_completion(
    provider, synced, moodle
):
    progress = Progress.objects.get(integration=synced, external_id="21:502")
    progress.percent = Decimal("70")
    progress.completed_at = timezone.now()
    progress.save()

    summary = push(provider, synced, progress)

    (update,) = moodle.params_of(UPDATE)
    assert update == {
        "source": GRADE_SOURCE,
        "courseid": "21",
        "component": "mod_assign",
        "activityid": "703",
        "itemnumber": "0",
        "grades": [{"studentid": "502", "grade": "7.00000"}],
    }
    (override,) = moodle.params_of(OVERRIDE)
    assert override == {"userid": "502", "cmid": "703", "newstate": "1"}
    assert moodle.grades[(21, 502, 703)] == 7.0
    assert moodle.states[(21, 502, 703)]["state"] == 1
    assert summary == {
        "function": UPDATE,
        "course": "21",
        "user": "502",
        "component": "mod_assign",
        "cmid": 703,
        "grade": "7.00000",
        "grademax": "10",
        "completion": {"function": OVERRIDE, "state": 1, "tracked": True},
    }


def test_a_later_sync_reads_what_was_written(provider, synced, moodle):
    progress = Progress.objects.get(integration=synced, external_id="21:502")
    progress.percent = Decimal("70")
    progress.completed_at = timezone.now()
    progress.save()
    push(provider, synced, progress)

    run_sync_now(synced, streams=["progress"])

    progress.refresh_from_db()
    # Two of three tracked activities are now done; the course total now
    # includes the portal's activity: (55 + 7) / (100 + 10).
    assert progress.percent == Decimal("66.67")
    assert progress.grade == "56.36"


def test_unfinished_progress_writes_no_completion(provider, synced, moodle):
    progress = Progress.objects.get(integration=synced, external_id="21:502")

    summary = push(provider, synced, progress)

    assert summary["completion"] is None
    assert moodle.calls(OVERRIDE) == 0
    assert moodle.calls(UPDATE) == 1


def test_completion_write_back_can_be_turned_off(provider, make_integration, moodle):
    integration = make_integration(
        moodle, write_back_grade_item="portal-progress", write_back_completion=False
    )
    run_sync_now(integration)
    progress = Progress.objects.get(integration=integration, external_id="21:501")

    assert progress.completed_at is not None
    assert push(provider, integration, progress)["completion"] is None
    assert moodle.calls(OVERRIDE) == 0


def test_without_a_write_back_target_the_error_names_the_setting(
    provider, make_integration, moodle
):
    integration = make_integration(moodle)
    run_sync_now(integration)
    progress = Progress.objects.get(integration=integration, external_id="21:501")

    with pytest.raises(errors.ConfigurationError, match="write_back_grade_item"):
        push(provider, integration, progress)
    assert moodle.calls(UPDATE) == 0


def test_course_without_the_activity_is_not_found(provider, synced, moodle):
    progress = Progress.objects.get(integration=synced, external_id="22:504")

    with pytest.raises(errors.NotFound, match="no activity with grade item ID number"):
        push(provider, synced, progress)


def test_locked_grade_item_is_reported(provider, synced, moodle):
    moodle.activities[21][2]["locked"] = True
    progress = Progress.objects.get(integration=synced, external_id="21:501")

    with pytest.raises(errors.ProviderError) as raised:
        push(provider, synced, progress)

    assert raised.value.provider_code == "grade_update_4"
    assert "locked" in raised.value.message


def test_activity_without_completion_tracking_keeps_the_grade(provider, synced, moodle):
    moodle.activities[21][2]["tracking"] = 0
    progress = Progress.objects.get(integration=synced, external_id="21:501")

    summary = push(provider, synced, progress)

    assert summary["completion"]["tracked"] is False
    assert moodle.grades[(21, 501, 703)] == 10.0


def test_learner_without_a_moodle_link_is_not_found(provider, synced):
    progress = Progress.objects.get(integration=synced, external_id="21:501")
    LearnerIdentity.objects.filter(integration=synced).delete()

    with pytest.raises(errors.NotFound, match="no Moodle account linked"):
        push(provider, synced, progress)


def test_token_without_the_grade_function_is_refused(provider, synced, moodle):
    moodle.functions.discard(UPDATE)
    progress = Progress.objects.get(integration=synced, external_id="21:501")

    with pytest.raises(errors.PermissionDenied) as raised:
        push(provider, synced, progress)

    assert raised.value.provider_code == "accessexception"


@pytest.mark.parametrize(
    ("percent", "item", "expected"),
    [
        (Decimal("50"), {"grademin": 0, "grademax": 10}, Decimal("5.00000")),
        (Decimal("33.33"), {"grademin": 0, "grademax": 100}, Decimal("33.33000")),
        (Decimal("100"), {"grademin": 40, "grademax": 90}, Decimal("90.00000")),
        (Decimal("0"), {"grademin": 40, "grademax": 90}, Decimal("40.00000")),
    ],
)
def test_percent_is_placed_on_the_items_range(percent, item, expected):
    assert scaled_grade(percent, item) == expected


def test_item_without_a_range_cannot_take_a_grade():
    with pytest.raises(errors.ConfigurationError, match="no grade range"):
        scaled_grade(Decimal("50"), {"grademin": 0, "grademax": 0})
