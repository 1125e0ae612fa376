"""The example in docs/providers/s3.md applies, schedules and exports as written."""

from __future__ import annotations

import pytest
import yaml
from django_celery_beat.models import PeriodicTask

from integrations.declarative import apply_document, parse_document
from integrations.health import check_health
from integrations.models import Integration
from portal.exports.tasks import EXPORT_TASK, export_integration
from tests.provider_docs import doc_block
from tests.providers.s3.conftest import ACCESS_KEY, SECRET_KEY, s3_admin_client


def test_doc_example_keeps_the_keys_out_of_the_file():
    example = yaml.safe_load(doc_block("s3"))["integrations"][0]

    assert example["provider"] == "s3"
    assert example["credentials"] == {
        "access_key_id": "${AWS_ACCESS_KEY_ID}",
        "secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
    }


@pytest.mark.django_db
def test_doc_example_applies_and_exports_to_moto(moto_url, learning_data):
    s3_admin_client(moto_url).create_bucket(
        Bucket="school-reports",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    text = doc_block("s3").replace(
        "      prefix: portal/\n",
        f"      prefix: portal/\n      endpoint_url: {moto_url}\n",
    )
    environ = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    plan = apply_document(parse_document(text, format="yaml"), environ=environ)

    assert plan.counts()["created"] == 1
    integration = Integration.objects.get(name="reports")
    assert check_health(integration).status == "healthy"
    task = PeriodicTask.objects.get(task=EXPORT_TASK)
    assert (task.crontab.minute, task.crontab.hour) == ("15", "2")
    assert len(export_integration(integration.pk)) == 4
    listed = s3_admin_client(moto_url).list_objects_v2(Bucket="school-reports")
    assert {item["Key"].split("/")[1] for item in listed["Contents"]} == {
        "progress",
        "courses",
    }
