"""The admin's lists of GitLab tree entries and GitHub issue reports."""

from __future__ import annotations

import pytest

from integrations.models import Integration
from portal.learning.models import IssueReport, Repository, RepositoryFile
from tests.test_admin import count_queries

pytestmark = pytest.mark.django_db

FILES = "/admin/learning/repositoryfile/"
REPORTS = "/admin/learning/issuereport/"


@pytest.fixture(autouse=True)
def _cheap_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def repository(integration: Integration, number: int) -> Repository:
    return Repository.objects.create(
        integration=integration,
        external_id=str(number),
        full_name=f"school/project-{number}",
        name=f"project-{number}",
        owner_login="school",
    )


def tree(number: int) -> Repository:
    gitlab = Integration.objects.get_or_create(name="gitlab-main", provider="gitlab")[0]
    project = repository(gitlab, number)
    for path, kind in (("src", "tree"), ("src/main.py", "blob"), ("lib", "commit")):
        RepositoryFile.objects.create(
            integration=gitlab,
            external_id=f"{number}:{path}",
            repository=project,
            path=path,
            name=path.rsplit("/", 1)[-1],
            entry_type=kind,
            mode="100644" if kind == "blob" else "040000",
            sha=f"{number:04d}a1b2c3d4e5f60718293a4b5c6d7e8f9012345",
        )
    return project


def reports(number: int, reporter) -> list[IssueReport]:
    github = Integration.objects.get_or_create(name="github-main", provider="github")[0]
    project = repository(github, 1000 + number)
    created = IssueReport.objects.create(
        repository=project,
        reporter=reporter,
        idempotency_key=f"key-created-{number:04d}",
        title=f"Exercise {number} is broken",
        state="created",
        attempts=1,
        issue_number=7,
        issue_url=f"https://github.com/school/project-{number}/issues/7",
    )
    unsent = IssueReport.objects.create(
        repository=project,
        reporter=reporter,
        idempotency_key=f"key-pending-{number:04d}",
        title=f"Typo in lesson {number}",
        state="pending",
        attempts=1,
        error_code="not_sent",
        error="The request to GitHub got no answer.",
    )
    return [created, unsent]


def test_tree_entries_are_listed_with_their_repository_and_kind(admin_client):
    tree(1)

    page = admin_client.get(FILES)

    html = page.content.decode()
    assert page.status_code == 200
    assert "src/main.py" in html and "school/project-1" in html
    assert "Directory" in html and "Submodule" in html
    assert "0001a1b2c3" in html
    assert "0001a1b2c3d" not in html, "the SHA is abbreviated"


def test_tree_entries_filter_by_kind_and_search_by_path(admin_client):
    tree(1)
    tree(2)

    files = admin_client.get(FILES, {"entry_type__exact": "blob"})
    found = admin_client.get(FILES, {"q": "project-2"})

    assert [e.path for e in files.context["cl"].result_list] == ["src/main.py"] * 2
    assert {e.repository.full_name for e in found.context["cl"].result_list} == {
        "school/project-2"
    }


def test_reports_are_listed_with_state_issue_link_and_error(
    admin_client, django_user_model
):
    ada = django_user_model.objects.create_user("ada", "ada@school.example.edu")
    reports(1, ada)

    page = admin_client.get(REPORTS)

    html = page.content.decode()
    assert "Exercise 1 is broken" in html and "ada" in html
    assert 'href="https://github.com/school/project-1/issues/7"' in html
    assert "not_sent" in html
    assert "Pending: not sent yet" in html


def test_reports_filter_by_state_and_search_by_reporter_and_key(
    admin_client, django_user_model
):
    ada = django_user_model.objects.create_user("ada", "ada@school.example.edu")
    grace = django_user_model.objects.create_user("grace", "grace@school.example.edu")
    reports(1, ada)
    reports(2, grace)

    pending = admin_client.get(REPORTS, {"state__exact": "pending"})
    by_grace = admin_client.get(REPORTS, {"q": "grace"})
    by_key = admin_client.get(REPORTS, {"q": "key-created-0001"})

    assert {r.title for r in pending.context["cl"].result_list} == {
        "Typo in lesson 1",
        "Typo in lesson 2",
    }
    assert {r.reporter for r in by_grace.context["cl"].result_list} == {grace}
    assert [r.title for r in by_key.context["cl"].result_list] == [
        "Exercise 1 is broken"
    ]


def test_both_are_read_only(admin_client, django_user_model):
    ada = django_user_model.objects.create_user("ada", "ada@school.example.edu")
    tree(1)
    report, _ = reports(1, ada)
    entry = RepositoryFile.objects.first()

    for url in (f"{FILES}{entry.pk}/change/", f"{REPORTS}{report.pk}/change/"):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(f"{FILES}add/").status_code == 403
    assert admin_client.get(f"{REPORTS}add/").status_code == 403
    detail = admin_client.get(f"{REPORTS}{report.pk}/change/").content.decode()
    assert "key-created-0001" in detail


@pytest.mark.parametrize("url", [FILES, REPORTS])
def test_the_lists_run_as_many_queries_for_20_rows_as_for_1(
    admin_client, django_user_model, django_assert_max_num_queries, url
):
    tree(0)
    reports(0, django_user_model.objects.create_user("learner-0"))
    baseline = count_queries(admin_client, url)

    for number in range(1, 20):
        tree(number)
        reports(number, django_user_model.objects.create_user(f"learner-{number}"))
    with django_assert_max_num_queries(baseline):
        response = admin_client.get(url)

    assert len(response.context["cl"].result_list) > 20


def test_learners_cannot_see_the_reports(client, django_user_model):
    ada = django_user_model.objects.create_user("ada", "ada@school.example.edu")
    reports(1, ada)
    client.force_login(ada)

    response = client.get(REPORTS)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
