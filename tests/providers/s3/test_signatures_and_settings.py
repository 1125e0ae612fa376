"""S3: moto checking SigV4 signatures, settings, SSRF, schedules, admin, command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from integrations import errors
from integrations.health import check_health
from integrations.models import Integration
from integrations.registry import get_provider
from portal.exports.models import Export, ExportStatus
from portal.exports.service import run_export
from portal.exports.tasks import EXPORT_TASK, export_integration
from tests.providers.s3.conftest import (
    checked_signatures,
    make_s3_integration,
    s3_admin_client,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked_keys(moto_url) -> Iterator[tuple[str, str]]:
    """Make moto check every signature, for an IAM user's real key pair."""
    with checked_signatures(moto_url) as (access, secret):
        s3_admin_client(moto_url, access, secret).create_bucket(Bucket="school-reports")
        yield access, secret


def test_moto_accepts_the_portals_signature(moto_url, checked_keys, learning_data):
    access, secret = checked_keys
    integration = make_s3_integration(moto_url, access=access, secret=secret)

    export = run_export(integration, "courses", "csv")

    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert check_health(integration).status == "healthy"


def test_a_wrong_secret_key_fails_the_signature_check(moto_url, checked_keys):
    access, _ = checked_keys
    wrong = "wrongSecretKey0000000000000000000000000"
    integration = make_s3_integration(moto_url, access=access, secret=wrong)

    export = run_export(integration, "progress", "csv")
    health = check_health(integration)

    assert export.status == ExportStatus.FAILED
    assert export.error_code == "authentication_failed"
    assert "check access_key_id and secret_access_key" in export.error
    assert wrong not in export.error
    assert health.status == "unhealthy"
    assert health.details["code"] == "authentication_failed"


def settings_problems(**changes) -> str:
    values = {"bucket": "school-reports", "endpoint_url": "http://127.0.0.1:9"}
    values.update(changes)
    integration = Integration(name="bad", provider="s3", settings=values)
    with pytest.raises(ValidationError) as caught:
        integration.full_clean()
    return str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bucket": "School_Reports"}, "bucket: 'School_Reports' is not an S3 bucket"),
        ({"region": "Europe"}, "region: 'Europe' is not an AWS region"),
        ({"prefix": "/reports"}, "prefix: must not start with '/'"),
        ({"endpoint_url": "ftp://files"}, "endpoint_url"),
        ({"exports": ["grades"]}, "exports: choose one or more of progress, courses"),
        ({"formats": []}, "formats: choose one or more of csv, json"),
        ({"export_schedule": "every day"}, "export_schedule: Schedule 'every day'"),
        ({"presign_expires": 10**7}, "presign_expires"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(changes, message):
    assert message in settings_problems(**changes)


def test_the_metadata_address_is_refused_as_an_endpoint(db, loopback_http):
    integration = make_s3_integration("http://169.254.169.254/")

    with pytest.raises(errors.UnsafeURLError) as caught:
        get_provider("s3").s3_client(integration)

    assert "cloud metadata address" in caught.value.message


def test_a_private_endpoint_needs_the_allow_list(db, moto_url, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = []
    integration = make_s3_integration(moto_url)

    export = run_export(integration, "progress", "csv")

    assert export.status == ExportStatus.FAILED
    assert export.error_code == "unsafe_url"
    assert "INTEGRATIONS_ALLOW_PRIVATE_HOSTS" in export.error


def test_the_export_schedule_is_a_beat_task_that_follows_the_integration(db, moto_url):
    integration = make_s3_integration(moto_url, export_schedule="15 2 * * *")

    task = PeriodicTask.objects.get(task=EXPORT_TASK)
    assert json.loads(task.kwargs) == {"integration_id": integration.pk}
    assert (task.crontab.minute, task.crontab.hour) == ("15", "2")
    integration.enabled = False
    integration.save()
    assert not PeriodicTask.objects.get(task=EXPORT_TASK).enabled
    integration.settings = {**integration.settings, "export_schedule": ""}
    integration.save()
    assert not PeriodicTask.objects.filter(task=EXPORT_TASK).exists()


def test_the_scheduled_task_uploads_every_report(s3_integration, learning_data):
    ids = export_integration(s3_integration.pk)

    assert len(ids) == 4
    assert set(Export.objects.values_list("status", flat=True)) == {"succeeded"}
    assert export_integration(999_999) is None


def test_export_now_in_the_admin_queues_the_uploads(
    admin_client,
    s3_integration,
    learning_data,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    other = Integration.objects.create(name="lms-2", provider="canvas")

    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post(
            "/admin/integrations/integration/",
            {"action": "export_now", "_selected_action": [s3_integration.pk, other.pk]},
            follow=True,
        )

    text = page.content.decode()
    assert "Queued exports of reports" in text
    assert "Not exported (not an enabled S3 integration): lms-2" in text
    assert Export.objects.filter(status="succeeded").count() == 4


def test_integrations_test_checks_the_bucket(s3_integration):
    out = StringIO()

    call_command("integrations", "test", s3_integration.name, stdout=out)

    assert "reports: OK (healthy" in out.getvalue()
