"""/api/v1/repositories/: fields, the README on the detail, filters, scope."""

from __future__ import annotations

import pytest

from tests.api.helpers import list_rows

SYNCED = {"id", "integration", "external_id", "updated_at", "deleted_at"}
LISTED = SYNCED | {
    "learner",
    "full_name",
    "name",
    "owner_login",
    "description",
    "url",
    "default_branch",
    "visibility",
    "private",
    "fork",
    "archived",
    "topics",
    "language",
    "stargazers_count",
    "pushed_at",
    "readme_truncated",
}


def test_a_list_shows_the_contract_fields_without_the_readme(world, client_for):
    rows = list_rows(client_for(world.staff), "repositories")

    assert {row["external_id"] for row in rows} == {"9001", "9101", "9201"}
    for row in rows:
        assert set(row) == LISTED
    mine = next(row for row in rows if row["external_id"] == "9001")
    assert mine["learner"] == world.learner_a.pk
    assert mine["integration"] == f"learner-{world.learner_a.pk}-github"
    assert mine["topics"] == ["python"]
    assert mine["stargazers_count"] == 3
    assert mine["full_name"] == "learner-a/repo-9001"


def test_the_detail_adds_the_readme(world, client_for):
    client = client_for(world.learner_a)

    detail = client.get(f"/api/v1/repositories/{world.repository_a.pk}/").json()

    assert set(detail) == LISTED | {"readme"}
    assert detail["readme"] == "# A\n"
    assert detail["readme_truncated"] is False


def test_a_learner_sees_only_the_repositories_of_their_own_integrations(
    world, client_for
):
    client = client_for(world.learner_b)

    ids = [row["id"] for row in list_rows(client, "repositories")]
    others = client.get(f"/api/v1/repositories/{world.repository_a.pk}/")
    admins = client.get(f"/api/v1/repositories/{world.repository_admin.pk}/")

    assert ids == [world.repository_b.pk]
    assert others.status_code == admins.status_code == 404


def test_repositories_filter_by_visibility_learner_and_integration(world, client_for):
    client = client_for(world.staff)

    private = list_rows(client, "repositories", visibility="private")
    of_a = list_rows(client, "repositories", learner=world.learner_a.pk)
    school = list_rows(client, "repositories", integration="github-school")

    assert [row["id"] for row in private] == [world.repository_b.pk]
    assert [row["id"] for row in of_a] == [world.repository_a.pk]
    assert [row["id"] for row in school] == [world.repository_admin.pk]


@pytest.mark.parametrize(
    ("param", "value"), [("visibility", "secret"), ("learner", "x")]
)
def test_a_bad_filter_is_a_400_naming_it(world, client_for, param, value):
    response = client_for(world.staff).get("/api/v1/repositories/", {param: value})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert param in response.json()["details"]


def test_repositories_are_read_only(world, client_for):
    client = client_for(world.learner_a)
    url = f"/api/v1/repositories/{world.repository_a.pk}/"

    assert client.post("/api/v1/repositories/", {}, format="json").status_code == 405
    assert client.patch(url, {"name": "x"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
