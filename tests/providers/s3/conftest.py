"""Fixtures of the S3 tests: an S3 integration on moto, and data to export.

moto's server itself (``moto_server``, ``moto_url``) is in tests/conftest.py,
shared with the contract test every provider passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import boto3
import pytest
from botocore.config import Config
from django.contrib.auth import get_user_model
from moto import settings as moto_settings

from integrations.models import Credential, Integration
from portal.learning.models import Course, Enrollment, Progress
from tests import leakcheck

ACCESS_KEY = "AKIAPORTALTEST000001"
SECRET_KEY = leakcheck.secret("portal/s3/secret+Key0123456789abcdefghij")
BUCKET = "school-reports"
REGION = "us-east-1"


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


S3_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@contextmanager
def checked_signatures(url: str) -> Iterator[tuple[str, str]]:
    """Make moto check every signature; yield an IAM user's real key pair.

    moto accepts any signature until told otherwise; with checking on, a
    wrong secret key fails as AWS's SignatureDoesNotMatch does.
    """
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="AKIASETUPONLY0000000",
        aws_secret_access_key="setup-only",
    )
    iam.create_user(UserName="portal")
    iam.put_user_policy(
        UserName="portal", PolicyName="s3", PolicyDocument=json.dumps(S3_POLICY)
    )
    key = iam.create_access_key(UserName="portal")["AccessKey"]
    previous = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    try:
        yield key["AccessKeyId"], leakcheck.secret(key["SecretAccessKey"])
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


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
