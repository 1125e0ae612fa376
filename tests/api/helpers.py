"""Readers and an oracle shared by the REST API tests."""

from __future__ import annotations

from typing import Any

from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    Playlist,
    Progress,
    Repository,
    Video,
)

RESOURCES = {
    "courses": Course,
    "assignments": Assignment,
    "enrollments": Enrollment,
    "progress": Progress,
    "repositories": Repository,
    "playlists": Playlist,
    "videos": Video,
}
ORDERINGS = {
    "courses": ["id", "title", "code", "state", "starts_at", "ends_at", "updated_at"],
    "assignments": ["id", "title", "due_at", "points_possible", "course", "updated_at"],
    "enrollments": ["id", "course", "learner", "role", "state", "updated_at"],
    "progress": ["id", "course", "learner", "percent", "completed_at", "updated_at"],
    "repositories": [
        "id",
        "full_name",
        "name",
        "pushed_at",
        "stargazers_count",
        "updated_at",
    ],
    "playlists": ["id", "title", "published_at", "item_count", "updated_at"],
    "videos": [
        "id",
        "title",
        "published_at",
        "duration_seconds",
        "view_count",
        "updated_at",
    ],
}


def expected_ids(resource: str, user, *, include_deleted: bool = False) -> set[int]:
    """Return the ids ``user`` may see, computed without the API's code."""
    model = RESOURCES[resource]
    rows = list(model.objects.all())
    if not include_deleted:
        rows = [row for row in rows if row.deleted_at is None]
    if user.is_staff:
        return {row.pk for row in rows}
    enrolled = {
        e.course_id
        for e in Enrollment.objects.filter(learner=user)
        if e.deleted_at is None and e.state != "deleted"
    }
    if resource == "courses":
        return {row.pk for row in rows if row.pk in enrolled}
    if resource == "assignments":
        return {row.pk for row in rows if row.course_id in enrolled}
    if resource in ("playlists", "videos"):
        # The school's (no connection) and those of the user's own connections.
        return {
            row.pk
            for row in rows
            if row.integration.connection is None
            or row.integration.connection.user_id == user.pk
        }
    if resource == "repositories":
        # Those the user's own learner integrations synced.
        own = f"learner-{user.pk}-"
        return {row.pk for row in rows if row.integration.name.startswith(own)}
    return {row.pk for row in rows if row.learner_id == user.pk}


def list_rows(client, resource: str, **params) -> list[dict[str, Any]]:
    """Return the rows of every page of a list, following next links."""
    response = client.get(f"/api/v1/{resource}/", {**params, "page_size": 2})
    rows = []
    while True:
        assert response.status_code == 200, response.content
        rows.extend(response.json()["results"])
        next_url = response.json()["next"]
        if not next_url:
            return rows
        response = client.get(next_url)


def list_ids(client, resource: str, **params) -> list[int]:
    """Return the ids of every page of a list, following next links."""
    return [row["id"] for row in list_rows(client, resource, **params)]
