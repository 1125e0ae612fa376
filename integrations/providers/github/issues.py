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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

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
#: How long a report stays ``sending`` before the sweeper settles it. The
#: POST is sent once, within the read timeout (30 s in production), so a
#: report still ``sending`` after this is one whose request went unanswered
#: or whose process died mid-request.
SENDING_LEASE = timedelta(minutes=5)
#: Reports one sweep settles, so a long GitHub outage cannot stall it.
SWEEP_BATCH = 50


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
    integration = report.repository.integration
    client, path = _issues_endpoint(report.repository)

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


def _issues_endpoint(repository: Repository) -> tuple[HttpClient, str]:
    """Return the GitHub client and issues path of ``repository``."""
    integration = repository.integration
    if integration.provider != "github":
        raise errors.ConfigurationError(
            "Issues can be reported on GitHub repositories only; this one comes "
            f"from a {integration.provider} integration",
            integration=integration.name,
        )
    client = get_provider("github").build_client(integration)
    owner, name = segment(repository.owner_login), segment(repository.name)
    return client, f"/repos/{owner}/{name}/issues"


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


def settle_unanswered_reports(now: datetime | None = None) -> dict[str, int]:
    """Settle reports left ``sending`` longer than the lease; return counts.

    Each is looked up at GitHub by its marker, never sent again: an issue
    found makes the report ``created``; none found makes it ``pending`` with
    an error saying the issue was not opened, so the client's retry with the
    same key sends it. A report that a client's retry touched meanwhile is
    left to that retry. When GitHub cannot be asked, the report stays
    ``sending`` with the error, and is looked up again a lease later.
    """
    from portal.learning.models import IssueReport, IssueReportState

    now = now or timezone.now()
    stale = IssueReport.objects.filter(
        state=IssueReportState.SENDING, updated_at__lt=now - SENDING_LEASE
    ).select_related("repository__integration")
    counts = {"created": 0, "pending": 0, "unsettled": 0}

    for report in stale.order_by("updated_at")[:SWEEP_BATCH]:
        claim = IssueReport.objects.filter(
            pk=report.pk, state=IssueReportState.SENDING, updated_at=report.updated_at
        )
        if not claim.update(updated_at=now):
            continue
        counts[_settle(report, now)] += 1
    return counts


def _settle(report: IssueReport, claimed_at: datetime) -> str:
    """Look one claimed report up at GitHub and store what that says."""
    from portal.learning.models import IssueReport, IssueReportState

    still_ours = IssueReport.objects.filter(
        pk=report.pk, state=IssueReportState.SENDING, updated_at=claimed_at
    )
    try:
        client, path = _issues_endpoint(report.repository)
        found = find_reported_issue(client, path, report)
    except errors.IntegrationError as error:
        still_ours.update(error_code=error.code, error=error.message)
        logger.warning(
            "github.issue.settle_failed",
            extra={"report_id": report.pk, "error_code": error.code},
        )
        return "unsettled"

    if found is not None:
        _created(report, found, str(found.get("url") or ""))
        return "created"
    still_ours.update(
        state=IssueReportState.PENDING,
        error_code="not_sent",
        error="The request to GitHub got no answer and the repository has no "
        "issue with this report's marker: the issue was not opened. Send the "
        "report again with the same Idempotency-Key.",
    )
    logger.info("github.issue.settled_unsent", extra={"report_id": report.pk})
    return "pending"
