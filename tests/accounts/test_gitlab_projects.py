"""A learner connects a self-hosted GitLab and their projects and trees sync.

The GitLab is GitLabFake under ``/gitlab`` (a relative URL root), set as the
provider app's base URL; the learner integration reads
``<base>/api/v4`` with the learner's OAuth token as ``Authorization:
Bearer``.
"""

from __future__ import annotations

import pytest

from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.accounts.learner_sync import GITLAB_SCHEDULE, learner_integration_name
from portal.accounts.models import Connection
from portal.learning.models import Repository, RepositoryFile
from tests.accounts.helpers import connect, make_learner
from tests.accounts.test_gitlab import self_hosted_gitlab

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gitlab(site, db, loopback_http):
    """A self-managed GitLab under /gitlab, with Ada's two projects."""
    with self_hosted_gitlab("/gitlab") as fake:
        [ada] = fake.oauth.users.values()
        fake.add_project(ada, "engine", files=["README.md", "src/main.py"])
        other = fake.add_user(7, "grace", name="Grace Hopper")
        # Ada only reads this one: a guest is not its author.
        fake.add_project(other, "compiler", members={ada.id: 10})
        yield fake


def test_connecting_gitlab_syncs_the_learners_projects_and_trees(client, gitlab):
    learner = make_learner()
    client.force_login(learner)
    connect(client, gitlab.oauth, "gitlab")
    connection = Connection.objects.get()
    integration = Integration.objects.get(name=learner_integration_name(connection))

    runs = run_sync_now(integration)

    assert integration.provider == "gitlab"
    assert integration.base_url == f"{gitlab.base_url}/api/v4"
    assert integration.schedule == GITLAB_SCHEDULE
    assert {run.status for run in runs} == {SyncStatus.SUCCEEDED}
    [engine] = Repository.objects.filter(integration=integration)
    assert (engine.full_name, engine.learner) == ("ada.l/engine", learner)
    files = RepositoryFile.objects.filter(repository=engine)
    assert set(files.values_list("path", flat=True)) == {
        "README.md",
        "src",
        "src/main.py",
    }
    token = connection.access_token.reveal()
    listing = gitlab.requests_to("/gitlab/api/v4/projects")
    assert listing[0].arg("min_access_level") == "30"
    assert all(r.header("Authorization") == f"Bearer {token}" for r in listing)
