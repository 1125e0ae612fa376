"""Amazon S3 through boto3, inside the portal's rules for outside calls.

boto3 is used because S3 wants AWS Signature Version 4 on every request and
presigned URLs computed the same way; writing that signer again would be a
second, less tested copy of botocore's. What the shared HttpClient gives
other providers is applied to boto3 here instead:

- timeouts and retries: botocore ``Config`` with the integration's
  ``connect_timeout``, ``read_timeout`` and ``max_retries``
  (https://docs.aws.amazon.com/botocore/latest/reference/config.html),
  standard retry mode;
- SSRF guard: the endpoint's host must pass integrations.http.ssrf with DNS
  resolved when the client is built (not again per connection); the only
  redirects botocore follows are S3's region redirects [assumed];
- redaction: both keys are registered as secrets, botocore's loggers are
  held at WARNING (at DEBUG they log request and response bodies), and
  errors carry S3's error code, never its message or the request;
- typed errors: every botocore failure becomes one of integrations.errors,
  raised ``from`` it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from integrations import errors
from integrations.http import ssrf
from integrations.http.factory import policy_for
from integrations.redaction import register_secret

if TYPE_CHECKING:
    from integrations.models import Integration

logger = logging.getLogger(__name__)

for _name in ("boto3", "botocore", "s3transfer", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)

#: S3 error codes that say the keys are wrong, with what to fix.
AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AuthorizationHeaderMalformed",
        "InvalidClientTokenId",
    }
)
THROTTLE_CODES = frozenset({"SlowDown", "Throttling", "RequestLimitExceeded"})


@dataclass(frozen=True)
class S3Config:
    """The checked settings of an S3 integration."""

    bucket: str
    region: str
    prefix: str
    endpoint_url: str | None
    presign_expires: int
    export_schedule: str
    exports: tuple[str, ...]
    formats: tuple[str, ...]


class S3Client:
    """One integration's boto3 S3 client, with the portal's errors."""

    def __init__(self, integration: Integration, config: S3Config) -> None:
        self.integration = integration.name
        self.config = config
        access_key = integration.secret("access_key_id").strip()
        secret_key = integration.secret("secret_access_key").strip()
        register_secret(access_key)
        register_secret(secret_key)
        endpoint = config.endpoint_url or default_endpoint(config.region)

        try:
            ssrf.check_url(endpoint, resolve=config.endpoint_url is not None)
        except errors.UnsafeURLError as error:
            error.integration = integration.name
            error.details.setdefault("field", "endpoint_url")
            raise

        policy = policy_for(integration)
        boto_config = Config(
            region_name=config.region,
            signature_version="s3v4",
            connect_timeout=policy.connect_timeout,
            read_timeout=policy.read_timeout,
            retries={"max_attempts": policy.max_retries, "mode": "standard"},
            s3={"addressing_style": "path" if config.endpoint_url else "virtual"},
            user_agent_extra="ORCATech-Portal",
        )
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=boto_config,
        )

    def head_bucket(self) -> None:
        """Check the bucket exists and the keys may use it."""
        with self._mapped("head_bucket"):
            self._client.head_bucket(Bucket=self.config.bucket)

    def upload(self, key: str, body: IO[bytes], content_type: str) -> None:
        """Upload a file object to ``key`` (multipart when it is large)."""
        with self._mapped("upload"):
            self._client.upload_fileobj(
                body,
                self.config.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
            )

    def presigned_get(self, key: str, expires_in: int | None = None) -> str:
        """Return a presigned GET URL of ``key``, valid ``expires_in`` seconds."""
        seconds = self.config.presign_expires if expires_in is None else expires_in
        with self._mapped("presign"):
            return self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.config.bucket, "Key": key},
                ExpiresIn=seconds,
            )

    @contextmanager
    def _mapped(self, operation: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            raise self._client_error(error, operation) from error
        except NoCredentialsError as error:
            raise errors.ConfigurationError(
                "The S3 integration has no AWS keys: set access_key_id and "
                "secret_access_key",
                integration=self.integration,
            ) from error
        except BotoConnectionError as error:
            raise errors.TransientError(
                f"S3 could not be reached ({type(error).__name__}); check "
                "endpoint_url and region",
                integration=self.integration,
                method=operation,
            ) from error
        except BotoCoreError as error:
            raise errors.TransientError(
                f"The S3 call failed ({type(error).__name__})",
                integration=self.integration,
                method=operation,
            ) from error

    def _client_error(
        self, error: ClientError, operation: str
    ) -> errors.IntegrationError:
        answer: dict[str, Any] = error.response or {}
        code = str(answer.get("Error", {}).get("Code", ""))[:60]
        status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode")
        where = {
            "integration": self.integration,
            "method": operation,
            "status": status,
            "provider_code": code,
        }
        bucket = self.config.bucket

        if code == "403":
            # A HEAD answer has no body, so S3 cannot say which refusal it is.
            return errors.AuthenticationFailed(
                f"S3 refused the request for bucket '{bucket}' (HTTP 403 without a "
                "reason): check the AWS keys and that they may use the bucket",
                **where,
            )
        if code in AUTH_CODES:
            return errors.AuthenticationFailed(
                "S3 refused the AWS keys: check access_key_id and secret_access_key "
                "belong together and are active",
                **where,
            )
        if code == "AccessDenied":
            return errors.PermissionDenied(
                f"The AWS keys may not use bucket '{bucket}': allow s3:PutObject, "
                "s3:GetObject and s3:ListBucket on it",
                **where,
            )
        if code in ("NoSuchBucket", "404", "NotFound"):
            return errors.ConfigurationError(
                f"Bucket '{bucket}' does not exist in region '{self.config.region}': "
                "create it or fix the bucket and region settings",
                **where,
            )
        if code in ("PermanentRedirect", "301", "AuthorizationHeaderMalformedRegion"):
            return errors.ConfigurationError(
                f"Bucket '{bucket}' is in another region: fix the region setting",
                **where,
            )
        if code in THROTTLE_CODES or status == 503:
            return errors.RateLimited("S3 asked the portal to slow down", **where)
        if isinstance(status, int) and status >= 500:
            return errors.TransientError("S3 failed the call", **where)
        return errors.PermanentError(f"S3 refused the call ({code or status})", **where)


def default_endpoint(region: str) -> str:
    """Return AWS's own S3 endpoint for ``region``."""
    return f"https://s3.{region}.amazonaws.com"
