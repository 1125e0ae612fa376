"""The GitLab provider against GitLabFake: projects, trees, limits, errors.

Nothing of the portal is patched: the sync engine runs the provider's
streams through the shared HTTP client against the fake on loopback.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations.models import SyncStatus
from integrations.registry import get_provider
from integrations.sync.runs import run_sync_now
from portal.learning.models import Repository, RepositoryFile
from tests.providers.gitlab.conftest import make_gitlab_integration

pytestmark = pytest.mark.django_db(transaction=True)

PROJECTS = "/gitlab/api/v4/projects"


def files_of(name: str) -> dict[str, str]:
    rows = RepositoryFile.objects.filter(repository__name=name, deleted_at__isnull=True)
    return dict(rows.values_list("path", "entry_type"))


def test_sync_stores_projects_and_their_recursive_trees(gitlab, integration, token):
    runs = run_sync_now(integration)

    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    engine = Repository.objects.get(integration=integration, name="engine")
    assert engine.full_name == "ada.l/engine"
    assert engine.owner_login == "ada.l"
    assert engine.default_branch == "main"
    assert engine.topics == ["history", "math"]
    assert engine.visibility == "private" and engine.private
    assert files_of("engine") == {
        "README.md": "blob",
        "src": "tree",
        "src/main.py": "blob",
        "src/notes": "tree",
        "src/notes/loops.md": "blob",
    }
    loops = RepositoryFile.objects.get(path="src/notes/loops.md")
    assert (loops.name, loops.mode, len(loops.sha)) == ("loops.md", "100644", 40)
    assert loops.external_id == f"{engine.external_id}:src/notes/loops.md"
    # The empty project has no branch: its tree is never asked for.
    assert (
        len(gitlab.requests_to(f"{PROJECTS}/{engine.external_id}/repository/tree")) == 1
    )
    assert gitlab.count(path=f"{PROJECTS}/102/repository/tree") == 0
    [listing] = gitlab.requests_to(PROJECTS)
    assert listing.header("PRIVATE-TOKEN") == token
    assert listing.header("Authorization") is None
    assert (listing.arg("membership"), listing.arg("pagination")) == ("true", "keyset")
    assert (listing.arg("order_by"), listing.arg("per_page")) == ("id", "100")


def test_keyset_pages_are_followed_by_the_link_header_as_given(gitlab, ada, token):
    for number in range(5):
        gitlab.add_project(ada, f"exercise-{number}")
    integration = make_gitlab_integration(gitlab, token, per_page=3, trees=False)

    [run] = run_sync_now(integration)

    assert run.status == SyncStatus.SUCCEEDED
    assert Repository.objects.filter(integration=integration).count() == 7
    pages = gitlab.requests_to(PROJECTS)
    assert [page.arg("id_after") for page in pages] == [None, "103", "106"]


def test_tree_pages_follow_x_next_page(gitlab, ada, token):
    files = [f"exercises/{number:03}.py" for number in range(250)]
    gitlab.add_project(ada, "big", files=files)
    integration = make_gitlab_integration(gitlab, token)

    runs = run_sync_now(integration)

    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    assert len(files_of("big")) == 251
    tree = gitlab.requests_to(f"{PROJECTS}/103/repository/tree")
    assert [request.arg("page") for request in tree] == [None, "2", "3"]
    assert {request.arg("recursive") for request in tree} == {"true"}
    assert {request.arg("pagination") for request in tree} == {None}


def test_a_removed_file_is_marked_deleted_on_the_next_pass(gitlab, ada, integration):
    run_sync_now(integration)
    gitlab.projects[101].files.remove("src/main.py")

    run_sync_now(integration)

    gone = RepositoryFile.objects.get(path="src/main.py")
    assert gone.deleted_at is not None
    assert "README.md" in files_of("engine")


def test_a_429_waits_for_retry_after_and_the_sync_succeeds(gitlab, integration):
    gitlab.throttle(times=1, retry_after=0)

    runs = run_sync_now(integration)

    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    assert Repository.objects.filter(integration=integration).count() == 2


def test_rate_limit_headers_reach_the_health_check(gitlab, integration):
    gitlab.set_rate_limit(2000, 150)
    provider = get_provider("gitlab")

    report = provider.check_health(integration, provider.build_client(integration))

    assert report.status == "degraded"
    assert report.details["rate_limit_remaining"] == 149
    assert report.details["username"] == "ada.l"


def test_health_is_healthy_with_a_good_token(gitlab, integration, token):
    provider = get_provider("gitlab")

    report = provider.check_health(integration, provider.build_client(integration))

    assert report.status == "healthy"
    assert report.details["path"] == "/user"
    assert token not in repr(report)


def test_a_bad_token_fails_as_authentication_without_leaking(gitlab, ada, db):
    integration = make_gitlab_integration(gitlab, "glpat-not-a-real-token-000")
    provider = get_provider("gitlab")

    report = provider.check_health(integration, provider.build_client(integration))
    [run, *_] = run_sync_now(integration)

    assert report.status == "unhealthy"
    assert "authentication failed" in report.error
    assert run.status == SyncStatus.FAILED
    assert "access_token" in run.error_summary
    assert "glpat-not-a-real-token" not in run.error_summary


def test_a_token_without_read_api_is_a_permission_error(gitlab, ada, db):
    token = gitlab.add_personal_token(ada, scopes=("read_user",))
    integration = make_gitlab_integration(gitlab, token)

    [run, *_] = run_sync_now(integration)

    assert run.status == SyncStatus.FAILED
    assert "read_api" in run.error_summary


def test_a_group_lists_its_projects(gitlab, ada, token):
    gitlab.add_project(ada, "week-1", namespace="school/python")
    integration = make_gitlab_integration(gitlab, token, group="school/python")

    runs = run_sync_now(integration)

    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    [row] = Repository.objects.filter(integration=integration)
    assert row.full_name == "school/python/week-1"
    assert gitlab.count(path="/gitlab/api/v4/groups/school%2Fpython/projects") == 1


def test_an_unknown_group_fails_as_not_found(gitlab, ada, token):
    integration = make_gitlab_integration(gitlab, token, group="nobody")

    [run, *_] = run_sync_now(integration)

    assert run.status == SyncStatus.FAILED
    assert "no such resource" in run.error_summary


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_access_level": 35}, "min_access_level: 35 is not a GitLab access"),
        ({"group": "a b"}, "group: 'a b' is not a GitLab group"),
        ({"per_page": 500}, "per_page"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(values, message):
    with pytest.raises(ValidationError) as raised:
        get_provider("gitlab").validate_settings(values)

    assert message in str(raised.value)
