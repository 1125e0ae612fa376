"""The GitLab provider's streams, ``projects`` and ``repository_tree``.

``projects`` lists ``GET /projects?membership=true`` (the token user's
projects; ``owned`` and ``min_access_level`` narrow it) or ``GET
/groups/:id/projects``, 100 a page with keyset pagination
(``pagination=keyset&order_by=id&sort=asc``), following the ``Link``
header's next URL exactly; the cursor is that URL. Projects become
Repository rows (the integration's provider tells them from GitHub's).

``repository_tree`` walks every stored project's default branch with
``GET /projects/:id/repository/tree?recursive=true&ref=...``, offset
paginated by ``X-Next-Page``: keyset pagination of the tree was behind a
feature flag until GitLab 17.1 and answered page numbers instead of
tokens (gitlab issue #427205), while offset pages work on every version.
The cursor is ``{"project": id, "page": n}``. docs/providers/gitlab.md
describes every call.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from integrations import errors
from integrations.providers.base import Page, Stream
from integrations.providers.gitlab.client import GitLabApi
from integrations.providers.items import (
    ItemError,
    map_items,
    mapped_page,
    read_datetime,
    read_text,
)
from integrations.providers.repositories import (
    read_count,
    read_flag,
    read_topics,
    resume_link_cursor,
)

if TYPE_CHECKING:
    from integrations.providers.base import StreamContext
    from integrations.records import RepositoryFileRecord, RepositoryRecord

logger = logging.getLogger(__name__)

MAX_PER_PAGE = 100
#: GitLab's access levels (docs.gitlab.com/api/members, "Roles").
ACCESS_LEVELS = (10, 15, 20, 30, 40, 50)
VISIBILITIES = ("public", "private", "internal")
ENTRY_TYPES = ("blob", "tree", "commit")
_MAX_EXTERNAL_ID = 255


@dataclass(frozen=True)
class GitLabConfig:
    """The checked settings of one GitLab integration, defaults filled in."""

    group: str | None = None
    owned: bool = False
    min_access_level: int | None = None
    per_page: int = MAX_PER_PAGE
    trees: bool = True

    def listing(self, page_limit: int | None) -> tuple[str, dict[str, Any]]:
        """Return the project listing's path and parameters."""
        params: dict[str, Any] = {"per_page": page_size(self.per_page, page_limit)}
        if self.min_access_level is not None:
            params["min_access_level"] = self.min_access_level
        if self.owned:
            params["owned"] = "true"
        if self.group is not None:
            return f"/groups/{quote(self.group, safe='')}/projects", params
        params["membership"] = "true"
        return "/projects", params


def page_size(per_page: int, page_limit: int | None) -> int:
    """Return ``per_page``, cut to a preview's page limit."""
    if page_limit:
        return max(1, min(per_page, page_limit))
    return per_page


# --- GitLab JSON to records -------------------------------------------------


def _id(item: dict[str, Any]) -> int:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ItemError("id: missing or not an id")
    return value


def project_record(item: dict[str, Any]) -> RepositoryRecord:
    """Return the portal repository for a GitLab Project object."""
    project_id = _id(item)
    namespace = item.get("namespace")
    if not isinstance(namespace, dict):
        raise ItemError("namespace: missing or not an object")
    visibility = read_text(item, "visibility") or "private"
    if visibility not in VISIBILITIES:
        raise ItemError(
            f"visibility: unknown value {visibility!r}; expected one of "
            f"{', '.join(VISIBILITIES)}"
        )
    return {
        "type": "repository",
        "external_id": str(project_id),
        "full_name": read_text(item, "path_with_namespace", required=True),
        "name": read_text(item, "path", required=True),
        "owner_login": read_text(namespace, "full_path", required=True),
        "description": read_text(item, "description"),
        "url": read_text(item, "web_url"),
        "default_branch": read_text(item, "default_branch"),
        "visibility": visibility,
        "private": visibility != "public",
        "fork": isinstance(item.get("forked_from_project"), dict),
        "archived": read_flag(item, "archived"),
        # ``topics`` since GitLab 14.0, ``tag_list`` before.
        "topics": read_topics(item, "topics", "tag_list"),
        "stargazers_count": read_count(item, "star_count"),
        # GitLab's listing carries no README; last activity is the nearest
        # it has to GitHub's pushed_at.
        "readme": "",
        "readme_truncated": False,
        "readme_read": False,
        "pushed_at": read_datetime(item, "last_activity_at"),
        "remote_created_at": read_datetime(item, "created_at"),
        "remote_updated_at": read_datetime(item, "updated_at"),
    }


def file_external_id(project_id: str, path: str) -> str:
    """Return a tree entry's external id: ``<project>:<path>``, hashed if long."""
    external_id = f"{project_id}:{path}"
    if len(external_id) <= _MAX_EXTERNAL_ID:
        return external_id
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()
    return f"{project_id}:sha256:{digest}"


def tree_entry_record(project_id: str, item: dict[str, Any]) -> RepositoryFileRecord:
    """Return the portal file for one entry of GitLab's repository tree."""
    path = read_text(item, "path", required=True)
    entry_type = read_text(item, "type", required=True)
    if entry_type not in ENTRY_TYPES:
        raise ItemError(
            f"type: unknown value {entry_type!r}; expected one of "
            f"{', '.join(ENTRY_TYPES)}"
        )
    return {
        "type": "repository_file",
        "external_id": file_external_id(project_id, path),
        "repository_external_id": project_id,
        "path": path,
        "name": read_text(item, "name") or path.rsplit("/", 1)[-1],
        "entry_type": entry_type,
        "mode": read_text(item, "mode"),
        "sha": read_text(item, "id"),
    }


# --- The streams ------------------------------------------------------------


class GitLabStream(Stream):
    """Base of the provider's streams."""

    def __init__(self, config: GitLabConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class ProjectsStream(GitLabStream):
    """The token user's projects, or one group's."""

    name = "projects"
    record_type = "repository"
    prefetch = True

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of projects from ``cursor`` (None: the first page)."""
        path, params = self.config.listing(context.page_limit)
        resume = resume_link_cursor(
            context, cursor, path, stream=self.name, event="gitlab.sync.cursor_ignored"
        )
        api = GitLabApi(context.client)

        for fetched in api.keyset_listing(path, params, resume):
            records, failures = map_items(fetched.items, project_record)
            yield mapped_page(
                records,
                failures,
                fetched=len(fetched.items),
                next_cursor=fetched.next_cursor,
                event="gitlab.sync.items_failed",
                integration=context.integration.name,
                stream=self.name,
            )


class RepositoryTreeStream(GitLabStream):
    """The files and directories of every stored project's default branch.

    A project without a default branch (an empty repository) is skipped;
    one GitLab no longer finds is a failure of the run, and the other
    projects are still read.
    """

    name = "repository_tree"
    record_type = "repository_file"
    depends_on = ("projects",)
    # The projects to walk are read from the database.
    prefetch = False

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of tree entries, project by project, from ``cursor``."""
        projects = _stored_projects(context)
        ids = [project_id for project_id, _ in projects]
        resume_at = cursor.get("project") if isinstance(cursor, dict) else None
        start = ids.index(resume_at) if resume_at in ids else 0
        page = cursor.get("page") if resume_at in ids and cursor else None
        api = GitLabApi(context.client)

        for index in range(start, len(projects)):
            following = ids[index + 1] if index + 1 < len(ids) else None
            yield from self._project(context, api, projects[index], page, following)
            page = None

    def _project(
        self,
        context: StreamContext,
        api: GitLabApi,
        project: tuple[str, str],
        page: Any,
        following: str | None,
    ) -> Iterator[Page]:
        project_id, branch = project
        path = f"/projects/{project_id}/repository/tree"
        params = {
            "recursive": "true",
            "ref": branch,
            "per_page": page_size(self.config.per_page, context.page_limit),
        }
        after = {"project": following, "page": None} if following else None
        resume = {"page": page} if page else None

        try:
            for fetched in api.offset_listing(path, params, resume):
                records, failures = map_items(
                    fetched.items, lambda item: tree_entry_record(project_id, item)
                )
                next_cursor = after
                if fetched.next_cursor is not None:
                    next_page = fetched.next_cursor["page"]
                    next_cursor = {"project": project_id, "page": next_page}
                yield mapped_page(
                    records,
                    failures,
                    fetched=len(fetched.items),
                    next_cursor=next_cursor,
                    event="gitlab.sync.items_failed",
                    integration=context.integration.name,
                    stream=self.name,
                )
        except errors.NotFound as error:
            logger.warning(
                "gitlab.sync.tree_not_found",
                extra={
                    "integration": context.integration.name,
                    "stream": self.name,
                    "project": project_id,
                    "status": error.status,
                },
            )
            failure = {
                "external_id": project_id,
                "reason": "GitLab no longer finds the project or its default branch",
            }
            yield Page(records=[], next_cursor=after, failures=[failure])


def _stored_projects(context: StreamContext) -> list[tuple[str, str]]:
    """Return (id, default branch) of the live stored projects with a branch."""
    from portal.learning.models import Repository

    rows = (
        Repository.objects.filter(
            integration=context.integration, deleted_at__isnull=True
        )
        .exclude(default_branch="")
        .values_list("external_id", "default_branch")
    )
    return sorted(rows, key=lambda row: (len(row[0]), row[0]))
