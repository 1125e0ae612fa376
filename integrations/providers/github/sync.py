"""The GitHub provider's one stream, ``repositories``, and its mapping.

The listing is ``GET /user/repos`` (the token's user's repositories, by
``affiliation`` and ``visibility``) or ``GET /orgs/{org}/repos`` (one
organization's), 100 a page, following the ``Link`` header's next URL as
given; the cursor is that URL, so a killed sync resumes at the next page.
Each repository's README is read raw from ``GET
/repos/{owner}/{repo}/readme``, unless the stored row shows the repository
was not pushed to since (same ``pushed_at`` and default branch): a README
changes only with a push. docs/providers/github.md describes every call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import Stream
from integrations.providers.github.client import GitHubApi, segment
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
from integrations.records import README_MAX_BYTES

if TYPE_CHECKING:
    from integrations.http.pagination import FetchedPage
    from integrations.providers.base import Page, StreamContext
    from integrations.records import Record, RepositoryRecord

logger = logging.getLogger(__name__)

AFFILIATIONS = ("owner", "collaborator", "organization_member")
VISIBILITIES = ("all", "public", "private")
ORG_TYPES = ("all", "public", "private", "forks", "sources", "member")
REPOSITORY_VISIBILITIES = ("public", "private", "internal")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class GitHubConfig:
    """The checked settings of one GitHub integration, defaults filled in."""

    org: str | None = None
    affiliation: tuple[str, ...] = AFFILIATIONS
    visibility: str = "all"
    org_type: str = "all"
    per_page: int = MAX_PER_PAGE
    readmes: bool = True

    def listing(self, page_limit: int | None) -> tuple[str, dict[str, Any]]:
        """Return the listing's path and parameters."""
        per_page = self.per_page
        if page_limit:
            per_page = max(1, min(per_page, page_limit))
        if self.org is not None:
            path = f"/orgs/{segment(self.org)}/repos"
            return path, {"type": self.org_type, "per_page": per_page}
        params = {
            "affiliation": ",".join(self.affiliation),
            "visibility": self.visibility,
            "per_page": per_page,
        }
        return "/user/repos", params


# --- Reading values ---------------------------------------------------------


def _visibility(item: dict[str, Any], private: bool) -> str:
    value = item.get("visibility")
    if value is None:
        # Older GitHub Enterprise Server versions answer without it.
        return "private" if private else "public"
    if value not in REPOSITORY_VISIBILITIES:
        raise ItemError(
            f"visibility: unknown value {value!r}; expected one of "
            f"{', '.join(REPOSITORY_VISIBILITIES)}"
        )
    return value


def readme_text(content: bytes | None) -> tuple[str, bool]:
    """Return a README's text, cut at README_MAX_BYTES, and whether it was cut.

    Decoded as UTF-8 (invalid bytes replaced); NUL characters are dropped,
    as PostgreSQL refuses them in text columns.
    """
    if not content:
        return "", False
    truncated = len(content) > README_MAX_BYTES
    text = content[:README_MAX_BYTES].decode("utf-8", errors="replace")
    if truncated and text.endswith("\ufffd"):
        # The cut fell inside a character: drop its remains.
        text = text.rstrip("\ufffd")
    return text.replace("\x00", ""), truncated


# --- GitHub JSON to records -------------------------------------------------


def repository_record(item: dict[str, Any]) -> RepositoryRecord:
    """Return the portal repository for a GitHub Repository object (no README)."""
    repository_id = item.get("id")
    if isinstance(repository_id, bool) or not isinstance(repository_id, int):
        raise ItemError("id: missing or not an id")
    owner = item.get("owner")
    if not isinstance(owner, dict):
        raise ItemError("owner: missing or not an object")
    private = read_flag(item, "private")
    return {
        "type": "repository",
        "external_id": str(repository_id),
        "full_name": read_text(item, "full_name", required=True),
        "name": read_text(item, "name", required=True),
        "owner_login": read_text(owner, "login", required=True),
        "description": read_text(item, "description"),
        "url": read_text(item, "html_url"),
        "default_branch": read_text(item, "default_branch"),
        "visibility": _visibility(item, private),
        "private": private,
        "fork": read_flag(item, "fork"),
        "archived": read_flag(item, "archived"),
        "topics": read_topics(item, "topics"),
        "language": read_text(item, "language"),
        "stargazers_count": read_count(item, "stargazers_count"),
        # Filled in by the stream when it reads READMEs.
        "readme": "",
        "readme_truncated": False,
        "readme_read": False,
        "pushed_at": read_datetime(item, "pushed_at"),
        "remote_created_at": read_datetime(item, "created_at"),
        "remote_updated_at": read_datetime(item, "updated_at"),
    }


# --- The stream -------------------------------------------------------------


class RepositoriesStream(Stream):
    """The repositories of the token's user, or of one organization."""

    name = "repositories"
    record_type = "repository"
    # README reuse reads the stored rows, so pages() touches the database.
    prefetch = False

    def __init__(self, config: GitHubConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of repositories from ``cursor`` (None: the first page)."""
        path, params = self.config.listing(context.page_limit)
        resume = resume_link_cursor(
            context, cursor, path, stream=self.name, event="github.sync.cursor_ignored"
        )
        api = GitHubApi(context.client)

        for fetched in api.listing(path, params, resume):
            yield self._page(context, api, fetched)

    def _page(
        self, context: StreamContext, api: GitHubApi, fetched: FetchedPage
    ) -> Page:
        records, failures = map_items(fetched.items, repository_record)
        if self.config.readmes:
            self._add_readmes(context, api, records)

        return mapped_page(
            records,
            failures,
            fetched=len(fetched.items),
            next_cursor=fetched.next_cursor,
            event="github.sync.items_failed",
            integration=context.integration.name,
            stream=self.name,
        )

    def _add_readmes(
        self, context: StreamContext, api: GitHubApi, records: list[Record]
    ) -> None:
        """Fill in each record's README: the stored one if not pushed since."""
        stored = {} if context.full else _stored_readmes(context, records)
        reused = 0
        for record in records:
            known = stored.get(record["external_id"])
            if known is not None and known[0] == (
                record["pushed_at"],
                record["default_branch"],
            ):
                record["readme"], record["readme_truncated"] = known[1]
                record["readme_read"] = True
                reused += 1
                continue
            content = self._readme(context, api, record)
            record["readme"], record["readme_truncated"] = readme_text(content)
            record["readme_read"] = True
        if reused:
            logger.debug(
                "github.sync.readmes_reused",
                extra={"integration": context.integration.name, "reused": reused},
            )

    def _readme(
        self, context: StreamContext, api: GitHubApi, record: RepositoryRecord
    ) -> bytes | None:
        """Return the README's bytes; None when there is none or none is readable.

        A README GitHub refuses for this repository alone (an organization's
        SSO or IP rules, a legal block) leaves it empty rather than failing
        the page; a refused token, rate limits and outages still stop it.
        """
        try:
            return api.readme(record["owner_login"], record["name"])
        except (errors.PermissionDenied, errors.PermanentError) as error:
            logger.warning(
                "github.sync.readme_unavailable",
                extra={
                    "integration": context.integration.name,
                    "stream": self.name,
                    "repository": record["external_id"],
                    "status": error.status,
                },
            )
            return None


def _stored_readmes(
    context: StreamContext, records: list[Record]
) -> dict[str, tuple[tuple[Any, str], tuple[str, bool]]]:
    """Return the live stored rows' (pushed_at, branch) and README, by id.

    Only rows with a known ``pushed_at`` and a README that was read count:
    without the one there is nothing to tell an unchanged repository by, and
    a README stored while the readmes setting was off was never read.
    """
    from portal.learning.models import Repository

    ids = [record["external_id"] for record in records]
    rows = (
        Repository.objects.filter(
            integration=context.integration,
            external_id__in=ids,
            deleted_at__isnull=True,
            pushed_at__isnull=False,
            readme_read=True,
        )
        .order_by()
        .values_list(
            "external_id", "pushed_at", "default_branch", "readme", "readme_truncated"
        )
    )
    return {
        external_id: ((pushed_at, branch), (readme, truncated))
        for external_id, pushed_at, branch, readme, truncated in rows
    }
