"""S3 exports through boto3 against moto's server on loopback."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from integrations.health import check_health
from integrations.registry import get_provider
from portal.exports.models import Export, ExportStatus
from portal.exports.service import run_export, run_exports
from tests.providers.s3.conftest import BUCKET, SECRET_KEY, s3_admin_client

pytestmark = pytest.mark.django_db


def stored(url: str, key: str) -> tuple[bytes, str]:
    answer = s3_admin_client(url).get_object(Bucket=BUCKET, Key=key)
    return answer["Body"].read(), answer["ContentType"]


def test_a_progress_csv_lands_with_every_row(s3_integration, moto_url, learning_data):
    export = run_export(s3_integration, "progress", "csv")

    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert export.key.startswith("portal/progress/")
    assert export.key.endswith(f"-{export.pk}.csv")
    body, content_type = stored(moto_url, export.key)
    assert content_type == "text/csv; charset=utf-8"
    assert export.size == len(body) and export.rows == 3
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [
        (r["course_external_id"], r["learner_username"], r["percent"]) for r in rows
    ] == [
        ("101", "ada", "100.00"),
        ("101", "bob", "50.50"),
        ("102", "'=eve", "10.00"),
    ]
    assert rows[0]["course_title"] == 'Intro, to "Python"'
    assert rows[0]["completed_at"] == "2026-03-01T12:00:00+00:00"
    assert rows[1]["completed_at"] == ""


def test_a_courses_json_lands_with_counts(s3_integration, moto_url, learning_data):
    export = run_export(s3_integration, "courses", "json")

    body, content_type = stored(moto_url, export.key)
    assert content_type == "application/json"
    courses = json.loads(body)
    assert [
        (c["external_id"], c["enrollments"], c["completed"], c["average_percent"])
        for c in courses
    ] == [("101", 2, 1, "75.25"), ("102", 1, 0, "10.00")]
    assert courses[0]["integration"] == "lms"
    assert export.rows == 2


def test_an_empty_report_is_still_valid(s3_integration, moto_url):
    csv_export = run_export(s3_integration, "progress", "csv")
    json_export = run_export(s3_integration, "progress", "json")

    assert stored(moto_url, csv_export.key)[0].startswith(
        b"integration,course_external_id"
    )
    assert json.loads(stored(moto_url, json_export.key)[0]) == []


def test_every_configured_report_is_uploaded_under_its_own_key(
    s3_integration, learning_data
):
    exports = run_exports(s3_integration)

    assert [(e.kind, e.format, e.status) for e in exports] == [
        ("progress", "csv", "succeeded"),
        ("progress", "json", "succeeded"),
        ("courses", "csv", "succeeded"),
        ("courses", "json", "succeeded"),
    ]
    assert len({e.key for e in exports}) == 4


def test_the_presigned_link_is_sigv4_and_downloads_over_http(
    s3_integration, learning_data
):
    export = run_export(s3_integration, "progress", "csv")
    client = get_provider("s3").s3_client(s3_integration)

    url = client.presigned_get(export.key)

    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert len(query["X-Amz-Signature"][0]) == 64
    assert SECRET_KEY not in url
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content.startswith(b"integration,course_external_id,")
    assert len(answer.content) == export.size


def test_presigned_expiry_follows_the_setting(db, moto_url, bucket):
    from tests.providers.s3.conftest import make_s3_integration

    integration = make_s3_integration(moto_url, presign_expires=600)
    client = get_provider("s3").s3_client(integration)

    url = client.presigned_get("portal/x.csv")

    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["600"]


def test_a_missing_bucket_is_a_configuration_error_with_the_fix(
    db, moto_url, learning_data
):
    from tests.providers.s3.conftest import make_s3_integration

    integration = make_s3_integration(moto_url)

    export = run_export(integration, "progress", "csv")
    health = check_health(integration)

    assert export.status == ExportStatus.FAILED
    assert export.error_code == "configuration_error"
    assert "Bucket 'school-reports' does not exist" in export.error
    assert health.status == "unhealthy"


def test_health_heads_the_bucket(s3_integration):
    result = check_health(s3_integration)

    assert result.status == "healthy"
    assert result.details["bucket"] == BUCKET


def test_boto3_gets_the_portals_timeouts_and_retries(s3_integration, settings):
    client = get_provider("s3").s3_client(s3_integration)

    config = client._client.meta.config
    defaults = settings.INTEGRATIONS_HTTP_DEFAULTS
    assert (config.connect_timeout, config.read_timeout) == (
        defaults["connect_timeout"],
        defaults["read_timeout"],
    )
    # botocore counts the first attempt too: retries + 1.
    assert config.retries["total_max_attempts"] == defaults["max_retries"] + 1
    assert config.retries["mode"] == "standard"
    assert config.signature_version == "s3v4"


def test_exports_are_listed_in_the_admin_with_a_fresh_download_link(
    admin_client, s3_integration, learning_data
):
    export = run_export(s3_integration, "progress", "csv")

    page = admin_client.get("/admin/exports/export/")
    download = admin_client.get(f"/admin/exports/export/{export.pk}/download/")

    assert page.status_code == 200
    assert f"/admin/exports/export/{export.pk}/download/" in page.content.decode()
    assert download.status_code == 302
    assert "X-Amz-Signature=" in download["Location"]
    assert requests.get(download["Location"], timeout=10).status_code == 200
    assert Export.objects.count() == 1


def test_rows_a_sync_marked_deleted_are_left_out(
    s3_integration, moto_url, learning_data
):
    from django.utils import timezone

    learning_data["data"].deleted_at = timezone.now()
    learning_data["data"].save()

    progress = run_export(s3_integration, "progress", "json")
    courses = run_export(s3_integration, "courses", "json")

    assert [
        r["course_external_id"] for r in json.loads(stored(moto_url, progress.key)[0])
    ] == [
        "101",
        "101",
    ]
    assert [c["external_id"] for c in json.loads(stored(moto_url, courses.key)[0])] == [
        "101"
    ]
