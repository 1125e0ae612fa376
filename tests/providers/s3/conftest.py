"""Fixtures of the S3 tests: moto's server on loopback, an S3 integration, data.

moto runs in server mode inside the test process (``ThreadedMotoServer``)
on 127.0.0.1 and a free port: boto3 talks real HTTP to it with real SigV4
signatures. Its state is reset before every test (``POST /moto-api/reset``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import boto3
import pytest
import requests
from botocore.config import Config
from django.contrib.auth import get_user_model
from moto.server import ThreadedMotoServer

from integrations.models import Credential, Integration
from portal.learning.models import Course, Enrollment, Progress
from tests import leakcheck

ACCESS_KEY = "AKIAPORTALTEST000001"
SECRET_KEY = leakcheck.secret("portal/s3/secret+Key0123456789abcdefghij")
BUCKET = "school-reports"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    # moto's werkzeug logs every request line, presigned query strings too.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_url(moto_server, loopback_http) -> str:
    """Return moto's URL with its state reset and integrations allowed to reach it."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    return moto_server


def s3_admin_client(url: str, access: str = ACCESS_KEY, secret: str = SECRET_KEY):
    """Return a boto3 client of the test itself, to set up and read the bucket."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


@pytest.fixture
def bucket(moto_url) -> str:
    s3_admin_client(moto_url).create_bucket(Bucket=BUCKET)
    return BUCKET


def make_s3_integration(
    url: str,
    *,
    access: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    name: str = "reports",
    **settings,
) -> Integration:
    values = {
        "bucket": BUCKET,
        "region": REGION,
        "prefix": "portal",
        "endpoint_url": url,
    }
    values.update(settings)
    integration = Integration(name=name, provider="s3", settings=values)
    integration.full_clean()
    integration.save()
    for key, value in (("access_key_id", access), ("secret_access_key", secret)):
        credential = Credential(integration=integration, key=key)
        credential.set_secret(value)
        credential.save()
    return integration


@pytest.fixture
def s3_integration(db, moto_url, bucket) -> Integration:
    return make_s3_integration(moto_url)


@pytest.fixture
def learning_data(db) -> dict:
    """Two courses of an LMS, three learners, their enrollments and progress."""
    lms = Integration.objects.create(name="lms", provider="canvas")
    users = get_user_model()
    ada = users.objects.create(username="ada")
    bob = users.objects.create(username="bob")
    eve = users.objects.create(username="=eve")
    python = Course.objects.create(
        integration=lms, external_id="101", title='Intro, to "Python"', code="PY"
    )
    data = Course.objects.create(integration=lms, external_id="102", title="Data")
    done = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for course, learner, percent, completed in (
        (python, ada, Decimal("100"), done),
        (python, bob, Decimal("50.5"), None),
        (data, eve, Decimal("10"), None),
    ):
        Enrollment.objects.create(
            integration=lms,
            external_id=f"e-{course.pk}-{learner.pk}",
            course=course,
            learner=learner,
        )
        Progress.objects.create(
            integration=lms,
            external_id=f"p-{course.pk}-{learner.pk}",
            course=course,
            learner=learner,
            percent=percent,
            completed_at=completed,
        )
    return {"python": python, "data": data, "users": (ada, bob, eve)}
