"""The S3 provider: learning reports uploaded to a bucket, with boto3.

Credentials ``access_key_id`` and ``secret_access_key``; settings
``bucket``, ``region``, ``prefix``, optional ``endpoint_url`` (an
S3-compatible service, moto in tests), ``presign_expires``, and what to
export when (``exports``, ``formats``, ``export_schedule``). It syncs
nothing and receives no events: portal/exports/ writes the reports and
records each upload. docs/providers/s3.md documents it.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from integrations import errors
from integrations.providers.base import (
    AuthKind,
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
    config_of,
    refuse_bad_settings,
)
from integrations.providers.health_failures import elapsed_ms, failure_report
from integrations.providers.s3.client import S3Client, S3Config
from integrations.registry import register
from integrations.validation import schema_problems

if TYPE_CHECKING:
    from integrations.models import Integration

#: S3's bucket naming rules (general purpose buckets): 3 to 63 characters,
#: lowercase letters, digits, dots and hyphens, a letter or digit at each end.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
#: SigV4 presigned URLs live at most 7 days.
MAX_PRESIGN = 7 * 24 * 3600
KINDS = ("progress", "courses")
FORMATS = ("csv", "json")

SETTINGS_SCHEMA = (
    SettingField(
        "bucket", required=True, help="The bucket's name (my-school-reports)."
    ),
    SettingField(
        "region", default="us-east-1", help="The bucket's region (eu-west-1)."
    ),
    SettingField(
        "prefix",
        default="",
        help="Keys start with this (portal/ puts reports under portal/).",
    ),
    SettingField(
        "endpoint_url",
        type="url",
        help="An S3-compatible endpoint instead of AWS (MinIO, moto in tests).",
    ),
    SettingField(
        "presign_expires",
        type="int",
        default=3600,
        minimum=1,
        maximum=MAX_PRESIGN,
        help="Seconds a download link from the admin stays valid.",
    ),
    SettingField(
        "exports", type="list", default=list(KINDS), help="Reports to upload."
    ),
    SettingField(
        "formats", type="list", default=list(FORMATS), help="csv, json or both."
    ),
    SettingField(
        "export_schedule",
        default="",
        help="Cron (minute hour day month weekday) for scheduled uploads; empty: "
        "only on demand.",
    ),
)


def parse_settings(values: Any) -> tuple[S3Config | None, list[str]]:
    """Return the config the settings describe and every problem found."""
    from integrations.schedules import validate_cron

    cleaned, problems = schema_problems(values, SETTINGS_SCHEMA)
    if cleaned is None:
        return None, problems

    bucket, region, prefix = cleaned["bucket"], cleaned["region"], cleaned["prefix"]
    if not BUCKET.match(bucket) or ".." in bucket:
        problems.append(
            f"bucket: {bucket[:100]!r} is not an S3 bucket name (3 to 63 lowercase "
            "letters, digits, dots and hyphens)"
        )
    if not REGION.match(region):
        problems.append(
            f"region: {region[:40]!r} is not an AWS region such as eu-west-1"
        )
    if prefix.startswith("/") or len(prefix) > 512 or "\\" in prefix:
        problems.append("prefix: must not start with '/' nor hold '\\'; at most 512")
    for name, allowed in (("exports", KINDS), ("formats", FORMATS)):
        chosen = cleaned[name]
        wrong = [str(item)[:40] for item in chosen if item not in allowed]
        if wrong or not chosen or len(set(chosen)) != len(chosen):
            problems.append(
                f"{name}: choose one or more of {', '.join(allowed)}, each once"
                + (f" (not {', '.join(wrong)})" if wrong else "")
            )
    schedule = cleaned["export_schedule"].strip()
    if schedule:
        try:
            validate_cron(schedule)
        except ValidationError as error:
            problems.extend(f"export_schedule: {m}" for m in error.messages)

    if problems:
        return None, problems
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    config = S3Config(
        bucket=bucket,
        region=region,
        prefix=prefix,
        endpoint_url=cleaned.get("endpoint_url") or None,
        presign_expires=cleaned["presign_expires"],
        export_schedule=schedule,
        exports=tuple(cleaned["exports"]),
        formats=tuple(cleaned["formats"]),
    )
    return config, []


@register
class S3Provider(Provider):
    """Upload progress and course reports to an S3 bucket."""

    slug = "s3"
    title = "Amazon S3 exports"
    description = (
        "Uploads progress and course reports (CSV, JSON) to an S3 bucket on a "
        "schedule or on demand."
    )
    auth_kind = AuthKind.AWS_KEYS
    requires_base_url = False
    settings_schema = SETTINGS_SCHEMA
    credential_schema = (
        CredentialField("access_key_id", help="An IAM user's access key id (AKIA...)."),
        CredentialField(
            "secret_access_key",
            help="Its secret access key; the user needs s3:PutObject, s3:GetObject "
            "and s3:ListBucket on the bucket.",
        ),
    )

    def validate_settings(self, settings: dict[str, Any]) -> None:
        """Refuse a bad bucket name, region, prefix, report list or schedule."""
        refuse_bad_settings(parse_settings, settings)

    def streams(self, integration: Integration) -> list:
        """Return no streams: the provider uploads, it does not sync."""
        return []

    def build_client(self, integration: Integration) -> None:
        """Return no HttpClient: S3 is reached through :meth:`s3_client`."""
        return None

    def s3_client(self, integration: Integration) -> S3Client:
        """Return the integration's boto3 client, wrapped in the portal's rules."""
        return S3Client(integration, config_of(integration, parse_settings))

    def check_health(self, integration: Integration, client: Any) -> HealthReport:
        """Call HeadBucket: the bucket exists and the keys may use it."""
        started = time.monotonic()
        try:
            s3 = self.s3_client(integration)
            s3.head_bucket()
        except errors.IntegrationError as error:
            return failure_report(
                error,
                started,
                rules=(),
                event="s3.health.failed",
                path="HeadBucket",
                provider_code=error.provider_code,
            )
        details = {"latency_ms": elapsed_ms(started), "bucket": s3.config.bucket}
        return HealthReport(status="healthy", details=details)
