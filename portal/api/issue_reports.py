"""``POST /api/v1/repositories/{id}/issues/``: report a problem as an issue.

A learner (or staff) reports a broken exercise; the portal opens an issue
in the GitHub repository with the repository's integration, at most once
per ``Idempotency-Key`` (integrations/providers/github/issues.py). A
client that got no answer, or a 503, sends the same request with the same
key again: the portal finds the issue it may already have opened rather
than opening a second one. Throttled like every write (``write`` rate).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import errors
from integrations.providers.github import issues
from portal.api import permissions
from portal.api.exceptions import Conflict
from portal.learning.models import IssueReport

logger = logging.getLogger(__name__)


class IssueReportCreateSerializer(serializers.Serializer):
    """What a report carries: the issue's title, text and labels."""

    title = serializers.CharField(max_length=issues.MAX_TITLE)
    body = serializers.CharField(
        max_length=issues.MAX_BODY, required=False, allow_blank=True, default=""
    )
    labels = serializers.ListField(
        child=serializers.CharField(max_length=50),
        max_length=issues.MAX_LABELS,
        required=False,
        default=list,
    )


class IssueReportSerializer(serializers.ModelSerializer):
    """A report and, once created, its issue."""

    labels = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Label names."
    )

    class Meta:
        model = IssueReport
        fields = [
            "id",
            "repository",
            "idempotency_key",
            "title",
            "labels",
            "state",
            "issue_number",
            "issue_url",
            "created_at",
        ]
        read_only_fields = fields


class UpstreamError(Conflict):
    """GitHub refused or did not answer; ``status_code`` is set per error."""

    default_code = "upstream_error"

    def __init__(self, message: str, *, code: str, status_code: int, **details: Any):
        super().__init__(message, details=details)
        self.status_code = status_code
        self.default_code = code


class RepositoryIssueView(APIView):
    """Open an issue in a repository to report a problem with it."""

    @extend_schema(
        summary="Report a problem in a repository as an issue",
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="8 to 64 letters, digits, '-' or '_'; send the same "
                "key again to retry without opening a second issue.",
            )
        ],
        request=IssueReportCreateSerializer,
        responses={201: IssueReportSerializer, 200: IssueReportSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        """Validate the report, open its issue once, and return the report."""
        repository = get_object_or_404(
            permissions.reportable_repositories(request.user), pk=pk
        )
        incoming = IssueReportCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
        known = IssueReport.objects.filter(idempotency_key=key, state="created")

        already = known.exists()
        try:
            report = issues.submit_report(
                repository, request.user, idempotency_key=key, **incoming.validated_data
            )
        except ValueError as error:
            if isinstance(error, issues.ReportConflict):
                raise Conflict(str(error)) from error
            raise ValidationError({"idempotency_key": [str(error)]}) from error
        except errors.IntegrationError as error:
            raise _upstream(error, key) from error

        answer = status.HTTP_200_OK if already else status.HTTP_201_CREATED
        return Response(IssueReportSerializer(report).data, status=answer)


def _upstream(error: errors.IntegrationError, key: str) -> UpstreamError:
    """Return the API error for a failed send, with what the client can do."""
    if error.provider_code == "issues_disabled":
        return UpstreamError(error.message, code="issues_disabled", status_code=409)
    if error.provider_code == "validation_failed":
        return UpstreamError(
            error.message,
            code="invalid",
            status_code=400,
            fields=error.details.get("fields", []),
        )
    if isinstance(error, errors.RateLimited):
        return UpstreamError(
            "GitHub is rate limiting issue creation; send the same request again later",
            code="upstream_rate_limited",
            status_code=503,
            idempotency_key=key,
        )
    if isinstance(error, errors.TransientError | errors.InvalidResponse):
        return UpstreamError(
            "GitHub did not answer; the issue may exist already. Send the same "
            "request with the same Idempotency-Key again: it will not be opened "
            "twice",
            code="upstream_unavailable",
            status_code=503,
            idempotency_key=key,
        )
    logger.warning(
        "api.issue_report.refused",
        extra={"error_code": error.code, "status": error.status},
    )
    return UpstreamError(
        "GitHub refused the issue; an administrator must check the repository's "
        "integration (its token needs the Issues write permission)",
        code="upstream_refused",
        status_code=502,
    )
