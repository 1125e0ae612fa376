"""Reporting a problem as a GitHub issue, at most once, against GitHubFake.

The service (integrations/providers/github/issues.py) and the endpoint
``POST /api/v1/repositories/{id}/issues/``. The fake drops the connection
after creating an issue to prove that a retry finds it instead of opening
a second one.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from integrations import errors
from integrations.providers.github import issues
from portal.api import permissions
from portal.learning.models import IssueReport, Repository

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "report-0001"


def repo_issues(github, octocat) -> list[dict]:
    [repo] = [r for r in github.repos[str(octocat.id)] if r["name"] == "hello-world"]
    return github.issues.get(repo["id"], [])


def report(repository, learner, key=KEY, **fields):
    values = {"title": "Exercise 3 is broken", "body": "Test 2 fails.", "labels": []}
    values.update(fields)
    return issues.submit_report(repository, learner, idempotency_key=key, **values)


def posts(github) -> int:
    return github.count(path="/api/v3/repos/octocat/hello-world/issues", method="POST")


def test_a_report_opens_one_issue_with_its_marker(github, octocat, repository, learner):
    done = report(repository, learner, labels=["bug", "exercise"])

    assert done.state == "created"
    assert done.issue_number == 1
    assert done.issue_url == "https://github.com/octocat/hello-world/issues/1"
    assert done.issue_api_url.endswith("/api/v3/repos/octocat/hello-world/issues/1")
    [issue] = repo_issues(github, octocat)
    assert issue["body"] == f"Test 2 fails.\n\n<!-- portal-report:{KEY} -->"
    assert [label["name"] for label in issue["labels"]] == ["bug", "exercise"]


def test_the_same_key_again_sends_nothing(github, octocat, repository, learner):
    first = report(repository, learner)

    second = report(repository, learner)

    assert second.pk == first.pk
    assert posts(github) == 1
    assert len(repo_issues(github, octocat)) == 1


def test_a_dropped_answer_is_found_and_never_sent_twice(
    github, octocat, repository, learner
):
    github.drop_after_create()

    with pytest.raises(errors.TransientError):
        report(repository, learner)
    uncertain = IssueReport.objects.get()
    done = report(repository, learner)

    assert uncertain.state == "sending"
    assert uncertain.error_code
    assert posts(github) == 1
    assert len(repo_issues(github, octocat)) == 1
    assert (done.state, done.issue_number) == ("created", 1)
    [listing] = github.requests_to("/api/v3/repos/octocat/hello-world/issues")[1:]
    assert (listing.method, listing.arg("state")) == ("GET", "all")
    assert listing.arg("since")


def test_an_unsent_uncertain_report_is_sent_after_looking(
    github, octocat, repository, learner
):
    IssueReport.objects.create(
        repository=repository,
        reporter=learner,
        idempotency_key=KEY,
        title="Exercise 3 is broken",
        state="sending",
    )

    done = report(repository, learner)

    assert done.state == "created"
    assert posts(github) == 1
    assert len(repo_issues(github, octocat)) == 1


def test_issues_turned_off_fail_the_report(github, octocat, repository, learner):
    [repo] = [r for r in github.repos[str(octocat.id)] if r["name"] == "hello-world"]
    github.disable_issues(repo)

    with pytest.raises(errors.PermanentError) as raised:
        report(repository, learner)

    assert raised.value.provider_code == "issues_disabled"
    assert "410" in raised.value.message
    assert IssueReport.objects.get().state == "failed"


def test_a_validation_failure_names_the_field(github, octocat, repository, learner):
    with pytest.raises(errors.PermanentError) as raised:
        report(repository, learner, title=" ")

    assert raised.value.details["fields"] == [
        {"field": "title", "code": "missing_field"}
    ]
    assert IssueReport.objects.get().state == "failed"


def test_a_secondary_rate_limit_opens_no_issue(github, octocat, repository, learner):
    github.trip_secondary_limit(times=5, retry_after=0)

    with pytest.raises(errors.RateLimited):
        report(repository, learner)

    assert IssueReport.objects.get().state == "pending"
    assert repo_issues(github, octocat) == []


def test_a_key_of_another_report_is_refused(github, octocat, repository, learner):
    report(repository, learner)
    other = get_user_model().objects.create_user("grace", "g@school.example.edu", "x")

    with pytest.raises(issues.ReportConflict):
        report(repository, other)


# --- the endpoint -------------------------------------------------------------


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_endpoint_opens_the_issue_and_a_retry_returns_it(
    github, octocat, repository, learner
):
    url = f"/api/v1/repositories/{repository.pk}/issues/"
    body = {"title": "Exercise 3 is broken", "body": "Test 2 fails.", "labels": ["bug"]}
    api = api_for(learner)

    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)

    assert first.status_code == 201, first.content
    assert first.json()["issue_number"] == 1
    assert first.json()["state"] == "created"
    assert again.status_code == 200
    assert len(repo_issues(github, octocat)) == 1


def test_the_endpoint_answers_503_then_the_retry_finds_the_issue(
    github, octocat, repository, learner, token
):
    url = f"/api/v1/repositories/{repository.pk}/issues/"
    github.drop_after_create()
    api = api_for(learner)

    failed = api.post(url, {"title": "Broken"}, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
    retried = api.post(
        url, {"title": "Broken"}, format="json", HTTP_IDEMPOTENCY_KEY=KEY
    )

    assert failed.status_code == 503
    assert failed.json()["code"] == "upstream_unavailable"
    assert failed.json()["details"]["idempotency_key"] == KEY
    assert token not in failed.content.decode()
    assert retried.status_code == 201
    assert len(repo_issues(github, octocat)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": "x" * 300}, "title"),
        ({"title": "t", "labels": "a"}, "labels"),
    ],
)
def test_the_endpoint_refuses_bad_input_naming_the_field(
    github, repository, learner, body, field
):
    response = api_for(learner).post(
        f"/api/v1/repositories/{repository.pk}/issues/", body, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["details"]
    assert posts(github) == 0


def test_a_bad_key_is_refused(github, repository, learner):
    response = api_for(learner).post(
        f"/api/v1/repositories/{repository.pk}/issues/",
        {"title": "t"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="<bad>",
    )

    assert response.status_code == 400
    assert "idempotency_key" in response.json()["details"]


def test_issues_disabled_is_a_409(github, octocat, repository, learner):
    [repo] = [r for r in github.repos[str(octocat.id)] if r["name"] == "hello-world"]
    github.disable_issues(repo)

    response = api_for(learner).post(
        f"/api/v1/repositories/{repository.pk}/issues/", {"title": "t"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "issues_disabled"


def test_anonymous_and_unknown_repositories_are_refused(github, repository, learner):
    anonymous = APIClient().post(
        f"/api/v1/repositories/{repository.pk}/issues/", {"title": "t"}, format="json"
    )
    unknown = api_for(learner).post(
        "/api/v1/repositories/999999/issues/", {"title": "t"}, format="json"
    )

    assert anonymous.status_code in (401, 403)
    assert unknown.status_code == 404
    assert posts(github) == 0


def test_a_learner_cannot_report_on_a_private_school_repository(
    github, repository, learner
):
    Repository.objects.filter(pk=repository.pk).update(private=True)
    staff = get_user_model().objects.create_user("staff", is_staff=True)

    hidden = api_for(learner).post(
        f"/api/v1/repositories/{repository.pk}/issues/", {"title": "t"}, format="json"
    )

    assert hidden.status_code == 404
    assert posts(github) == 0
    assert permissions.reportable_repositories(staff).filter(pk=repository.pk).exists()
