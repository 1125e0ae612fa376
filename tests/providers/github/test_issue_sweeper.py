"""The sweeper of issue reports left ``sending``, against GitHubFake.

A report stays ``sending`` when its POST got no answer or its process died
mid-request. After the lease the periodic task looks it up by its marker
and never sends it again: found, it is created; not found, it is pending
for the client's retry.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import errors, tasks
from integrations.models import Integration
from integrations.providers.github import issues
from portal.exports.models import Export, ExportStatus
from portal.learning.models import IssueReport

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "report-0042"
ISSUES = "/api/v3/repos/octocat/hello-world/issues"


def after_lease(minutes: int = 1):
    return timezone.now() + issues.SENDING_LEASE + timedelta(minutes=minutes)


def posts(github) -> int:
    return github.count(path=ISSUES, method="POST")


def submit(repository, learner):
    return issues.submit_report(
        repository,
        learner,
        idempotency_key=KEY,
        title="Exercise 3 is broken",
        body="Test 2 fails.",
        labels=[],
    )


def stuck_report(repository, learner) -> IssueReport:
    """A report whose process died after marking it ``sending``."""
    return IssueReport.objects.create(
        repository=repository,
        reporter=learner,
        idempotency_key=KEY,
        title="Exercise 3 is broken",
        state="sending",
        attempts=1,
    )


def test_an_unanswered_report_is_found_at_github_and_not_sent_again(
    github, repository, learner
):
    github.drop_after_create()
    with pytest.raises(errors.TransientError):
        submit(repository, learner)

    counts = issues.settle_unanswered_reports(after_lease())

    report = IssueReport.objects.get()
    assert counts == {"created": 1, "pending": 0, "unsettled": 0}
    assert (report.state, report.issue_number) == ("created", 1)
    assert report.issue_url == "https://github.com/octocat/hello-world/issues/1"
    assert (report.error_code, report.error) == ("", "")
    assert posts(github) == 1
    listing = github.requests_to(ISSUES)[-1]
    assert (listing.method, listing.arg("state")) == ("GET", "all")


def test_a_report_within_its_lease_is_left_to_its_request(github, repository, learner):
    stuck_report(repository, learner)

    counts = issues.settle_unanswered_reports()

    assert counts == {"created": 0, "pending": 0, "unsettled": 0}
    assert IssueReport.objects.get().state == "sending"
    assert github.requests_to(ISSUES) == []


def test_a_report_github_never_got_becomes_pending_and_the_retry_sends_it(
    github, repository, learner
):
    stuck_report(repository, learner)

    counts = issues.settle_unanswered_reports(after_lease())

    report = IssueReport.objects.get()
    assert counts["pending"] == 1
    assert report.state == "pending"
    assert report.error_code == "not_sent"
    assert "the issue was not opened" in report.error
    assert "same Idempotency-Key" in report.error
    assert posts(github) == 0

    done = submit(repository, learner)

    assert (done.state, done.issue_number) == ("created", 1)
    assert posts(github) == 1


def test_a_github_that_cannot_be_asked_leaves_the_report_sending_for_later(
    github, repository, learner, token
):
    stuck_report(repository, learner)
    github.oauth.revoke(token)
    first = after_lease()

    counts = issues.settle_unanswered_reports(first)

    report = IssueReport.objects.get()
    assert counts["unsettled"] == 1
    assert report.state == "sending"
    assert report.error_code == "authentication_failed"
    assert report.updated_at == first, "the next look waits a whole lease"
    asked = len(github.requests_to(ISSUES))
    assert issues.settle_unanswered_reports(first + timedelta(minutes=1)) == {
        "created": 0,
        "pending": 0,
        "unsettled": 0,
    }
    assert len(github.requests_to(ISSUES)) == asked
    assert posts(github) == 0


def test_the_maintenance_task_settles_reports_and_fails_stalled_exports(
    github, repository, learner
):
    stuck_report(repository, learner)
    IssueReport.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    bucket = Integration.objects.create(name="reports-bucket", provider="s3")
    stalled = Export.objects.create(integration=bucket, kind="progress", format="csv")
    Export.objects.filter(pk=stalled.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    live = Export.objects.create(integration=bucket, kind="courses", format="csv")

    counts = tasks.settle_stuck_work()

    assert counts == {"created": 0, "pending": 1, "unsettled": 0, "exports_failed": 1}
    stalled.refresh_from_db()
    live.refresh_from_db()
    assert stalled.status == ExportStatus.FAILED
    assert stalled.error_code == "worker_lost"
    assert "stopped without finishing it" in stalled.error
    assert "Export now" in stalled.error
    assert stalled.finished_at is not None
    assert live.status == ExportStatus.RUNNING
