"""/api/v1/repository-files/: fields, filters, scope like the repositories."""

from __future__ import annotations

import pytest

from portal.learning.models import RepositoryFile
from tests.api.helpers import list_rows

FIELDS = {
    "id",
    "integration",
    "external_id",
    "updated_at",
    "deleted_at",
    "repository",
    "path",
    "name",
    "entry_type",
    "mode",
    "sha",
}


def add_file(repository, path: str, entry_type: str = "blob") -> RepositoryFile:
    return RepositoryFile.objects.create(
        integration=repository.integration,
        external_id=f"{repository.external_id}:{path}",
        repository=repository,
        path=path,
        name=path.rsplit("/", 1)[-1],
        entry_type=entry_type,
        mode="040000" if entry_type == "tree" else "100644",
        sha="a" * 40,
        content_hash="h",
    )


@pytest.fixture
def files(world):
    return {
        "a_readme": add_file(world.repository_a, "README.md"),
        "a_src": add_file(world.repository_a, "src", "tree"),
        "a_main": add_file(world.repository_a, "src/main.py"),
    }


def test_a_learner_lists_the_files_of_their_repository(world, files, client_for):
    rows = list_rows(client_for(world.learner_a), "repository-files")

    assert {row["path"] for row in rows} == {"README.md", "src", "src/main.py"}
    for row in rows:
        assert set(row) == FIELDS
        assert row["repository"] == world.repository_a.pk
    src = next(row for row in rows if row["path"] == "src")
    assert (src["entry_type"], src["mode"]) == ("tree", "040000")


def test_another_learner_sees_none_of_them(world, files, client_for):
    client = client_for(world.learner_b)

    rows = list_rows(client, "repository-files")
    detail = client.get(f"/api/v1/repository-files/{files['a_main'].pk}/")

    assert rows == []
    assert detail.status_code == 404


def test_staff_filter_by_repository_and_entry_type(world, files, client_for):
    client = client_for(world.staff)

    blobs = list_rows(
        client,
        "repository-files",
        repository=world.repository_a.pk,
        entry_type="blob",
    )

    assert {row["path"] for row in blobs} == {"README.md", "src/main.py"}


def test_a_bad_filter_is_refused_naming_it(world, files, client_for):
    response = client_for(world.staff).get(
        "/api/v1/repository-files/", {"entry_type": "folder"}
    )

    assert response.status_code == 400
    assert "entry_type" in response.content.decode()


def test_the_list_is_read_only(world, files, client_for):
    response = client_for(world.staff).post("/api/v1/repository-files/", {})

    assert response.status_code == 405
