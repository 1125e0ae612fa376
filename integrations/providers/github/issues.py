"""Open an issue in a GitHub repository, at most once per report.

``POST /repos/{owner}/{repo}/issues`` is not idempotent, and the HTTP layer
never retries it. An :class:`~portal.learning.models.IssueReport` row with
a unique idempotency key is stored before the request goes out, and the
issue's body carries the key in a hidden marker
(``<!-- portal-report:KEY -->``). A report whose last request got no answer
(a timeout, a 5xx, a reset connection: GitHub may have created the issue)
stays ``sending``; before it is sent again, the repository's issues
updated since the report was made are listed (``GET
/repos/{owner}/{repo}/issues?state=all&since=...``) and an issue with the
marker is taken as the answer. The listing, not the search API, is asked
because search indexes new issues with a delay.

GitHub docs: https://docs.github.com/rest/issues/issues#create-an-issue.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction

from integrations import errors
from integrations.http.pagination import LinkHeaderPagination
from integrations.providers.github.client import segment
from integrations.registry import get_provider

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.http.response import HttpResponse
    from portal.learning.models import IssueReport, Repository

logger = logging.getLogger(__name__)

#: What an idempotency key may be: it goes into an HTML comment and a URL.
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_TITLE = 256
#: GitHub refuses bodies over 65,536 characters; the marker needs room.
MAX_BODY = 60_000
MAX_LABELS = 10
#: How far before the report's creation the guard looks (clock skew).
SINCE_SLACK = timedelta(minutes=5)


def marker(key: str) -> str:
    """Return the hidden marker that ties an issue to its report."""
    return f"<!-- portal-report:{key} -->"


def issue_body(report: IssueReport) -> str:
    """Return the issue body: the report's text and its marker."""
    text = report.body.rstrip()
    return (
        f"{text}\n\n{marker(report.idempotency_key)}"
        if text
        else marker(report.idempotency_key)
    )


class ReportConflict(ValueError):
    """The idempotency key was used for another repository or reporter."""


def submit_report(
    repository: Repository,
    reporter: Any,
    *,
    title: str,
    body: str,
    labels: list[str],
    idempotency_key: str,
) -> IssueReport:
    """Store the report (or find the one with this key) and open its issue.

    Raise ReportConflict when the key belongs to another repository or
    reporter, ValueError for an unusable key, and the typed integration
    errors of :func:`open_issue`.
    """
    from portal.learning.models import IssueReport

    if not KEY.match(idempotency_key):
        raise ValueError(
            "idempotency_key: 8 to 64 letters, digits, '-' or '_' expected"
        )
    with transaction.atomic():
        report, _ = IssueReport.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={
                "repository": repository,
                "reporter": reporter,
                "title": title,
                "body": body,
                "labels": labels,
            },
        )
    if report.repository_id != repository.pk or report.reporter_id != reporter.pk:
        raise ReportConflict(
            "idempotency_key: already used for another report; use a new key"
        )

    return open_issue(report)


def open_issue(report: IssueReport) -> IssueReport:
    """Open the report's issue unless it is open already; return the report.

    A report already ``created`` is returned as it is. One left ``sending``
    is looked for at GitHub first. A refusal (410 issues disabled, 422,
    403, 404, 401) marks the report ``failed`` and is raised; a rate limit
    leaves it ``pending``; an unanswered request leaves it ``sending`` and
    raises the transient error, so the next call looks before it sends.
    """
    from portal.learning.models import IssueReportState

    if report.state == IssueReportState.CREATED:
        return report
    repository = report.repository
    integration = repository.integration
    if integration.provider != "github":
        raise errors.ConfigurationError(
            "Issues can be reported on GitHub repositories only; this one comes "
            f"from a {integration.provider} integration",
            integration=integration.name,
        )
    provider = get_provider("github")
    client = provider.build_client(integration)
    path = f"/repos/{segment(repository.owner_login)}/{segment(repository.name)}/issues"

    if report.state == IssueReportState.SENDING:
        found = find_reported_issue(client, path, report)
        if found is not None:
            logger.info(
                "github.issue.found_after_uncertain_send",
                extra={"integration": integration.name, "report_id": report.pk},
            )
            return _created(report, found, found.get("url", ""))

    report.state = IssueReportState.SENDING
    report.attempts += 1
    report.save(update_fields=["state", "attempts", "updated_at"])
    try:
        response = _post_issue(client, path, report)
    except errors.RateLimited as error:
        # GitHub refused it before doing anything: send it again later.
        _record(report, IssueReportState.PENDING, error)
        raise
    except (errors.TransientError, errors.InvalidResponse) as error:
        # It may have reached GitHub: look before sending again.
        _record(report, IssueReportState.SENDING, error)
        logger.warning(
            "github.issue.send_uncertain",
            extra={
                "integration": integration.name,
                "report_id": report.pk,
                "error_code": error.code,
            },
        )
        raise
    except errors.IntegrationError as error:
        _record(report, IssueReportState.FAILED, error)
        raise

    issue = response.json()
    if not isinstance(issue, dict) or not isinstance(issue.get("number"), int):
        error = response.invalid("GitHub's created issue has no number")
        _record(report, IssueReportState.SENDING, error)
        raise error
    return _created(report, issue, response.headers.get("Location") or "")


def _post_issue(client: HttpClient, path: str, report: IssueReport) -> HttpResponse:
    payload: dict[str, Any] = {"title": report.title, "body": issue_body(report)}
    if report.labels:
        payload["labels"] = list(report.labels)
    try:
        return client.request("POST", path, json=payload, idempotent=False)
    except errors.PermanentError as error:
        if error.provider_code != "gone":
            raise
        raise errors.PermanentError(
            "GitHub has issues turned off for this repository (410 Gone): a "
            "maintainer must enable them in the repository's settings",
            integration=error.integration,
            status=error.status,
            provider_code="issues_disabled",
        ) from error


def find_reported_issue(
    client: HttpClient, path: str, report: IssueReport
) -> dict[str, Any] | None:
    """Return the repository's issue carrying the report's marker, or None.

    Lists every issue updated since shortly before the report was made,
    open or closed, newest first, following ``Link`` pages.
    """
    wanted = marker(report.idempotency_key)
    since = (report.created_at - SINCE_SLACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {
        "state": "all",
        "since": since,
        "sort": "created",
        "direction": "desc",
        "per_page": 100,
    }
    for page in client.paginate(path, params=params, pagination=LinkHeaderPagination()):
        for issue in page.items:
            if not isinstance(issue, dict) or "pull_request" in issue:
                continue
            if wanted in (issue.get("body") or ""):
                return issue
    return None


def _created(report: IssueReport, issue: dict[str, Any], location: str) -> IssueReport:
    from portal.learning.models import IssueReportState

    report.state = IssueReportState.CREATED
    report.issue_number = issue.get("number")
    report.issue_url = str(issue.get("html_url") or "")
    report.issue_api_url = location or str(issue.get("url") or "")
    report.error_code = ""
    report.error = ""
    report.save()
    logger.info(
        "github.issue.created",
        extra={"report_id": report.pk, "issue_number": report.issue_number},
    )
    return report


def _record(report: IssueReport, state: str, error: errors.IntegrationError) -> None:
    report.state = state
    report.error_code = error.code
    report.error = error.message
    report.save(update_fields=["state", "error_code", "error", "updated_at"])
