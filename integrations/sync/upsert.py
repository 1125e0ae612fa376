"""Store pages of normalized records as portal rows, idempotently.

A page is written with a handful of queries whatever its size: one to load
the rows it touches, one ``bulk_create`` for new rows, one ``bulk_update``
for changed rows, one UPDATE marking unchanged rows as seen in this pass.
Unchanged rows (same content hash) are never rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.models import Integration
from integrations.records import Record
from integrations.sync.identity import resolve_learners
from portal.achievements.awarding import on_progress_stored
from portal.events.domain import (
    assignment_submitted_event,
    assignments_submitted,
    course_completed_event,
    courses_completed,
    is_complete,
)
from portal.events.models import Event
from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    Playlist,
    PlaylistItem,
    Progress,
    Repository,
    RepositoryFile,
    Submission,
    Video,
)

#: Portal fields each record type carries besides the common ones.
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "course": ("title", "code", "state", "starts_at", "ends_at", "url"),
    "assignment": ("title", "due_at", "points_possible"),
    "enrollment": ("role", "state"),
    "progress": ("percent", "grade", "completed_at"),
    "submission": (
        "state",
        "submitted_at",
        "attempt",
        "score",
        "grade",
        "late",
        "missing",
        "url",
    ),
    "repository": (
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
        "readme",
        "readme_truncated",
        "readme_read",
        "pushed_at",
    ),
    "repository_file": ("path", "name", "entry_type", "mode", "sha"),
    "playlist": (
        "title",
        "description",
        "channel_id",
        "channel_title",
        "privacy_status",
        "item_count",
        "thumbnail_url",
        "published_at",
    ),
    "playlist_item": ("video_external_id", "position"),
    "video": (
        "title",
        "description",
        "channel_id",
        "channel_title",
        "duration_seconds",
        "thumbnail_url",
        "view_count",
        "like_count",
        "comment_count",
        "published_at",
        "url",
    ),
}
RECORD_MODELS: dict[str, type[models.Model]] = {
    "course": Course,
    "assignment": Assignment,
    "enrollment": Enrollment,
    "progress": Progress,
    "submission": Submission,
    "repository": Repository,
    "repository_file": RepositoryFile,
    "playlist": Playlist,
    "playlist_item": PlaylistItem,
    "video": Video,
}


@dataclass(frozen=True)
class Parent:
    """The row a record type belongs to, named in the record by external id."""

    noun: str
    model: type[models.Model]
    #: The record's key holding the parent's external id.
    key: str
    #: The foreign key column the parent's pk goes in.
    column: str


_COURSE = Parent("course", Course, "course_external_id", "course_id")
#: Record types whose rows belong to another synced row (synced first).
PARENTS: dict[str, Parent] = {
    "assignment": _COURSE,
    "enrollment": _COURSE,
    "progress": _COURSE,
    "submission": Parent(
        "assignment", Assignment, "assignment_external_id", "assignment_id"
    ),
    "playlist_item": Parent(
        "playlist", Playlist, "playlist_external_id", "playlist_id"
    ),
    "repository_file": Parent(
        "repository", Repository, "repository_external_id", "repository_id"
    ),
}
#: Record types whose rows belong to a learner (``record["learner"]``).
LEARNER_RECORD_TYPES = ("enrollment", "progress", "submission")
#: Text fields a record may give as None, stored as "".
_BLANK_WHEN_NONE = (
    "code",
    "url",
    "grade",
    "description",
    "default_branch",
    "language",
    "readme",
    "channel_id",
    "channel_title",
    "thumbnail_url",
)
_COMMON_FIELDS = ("remote_created_at", "remote_updated_at")
_MAX_FAILURE_SAMPLES = 20
#: Rows whose external_id starts with this were created in the portal (for
#: example progress a learner reported through the API), not by a sync; a
#: sync pass never marks them deleted.
PORTAL_OWNED_PREFIX = "portal:"


@dataclass
class PageResult:
    """What storing one page did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, external_id: str, reason: str) -> None:
        """Count a record that could not be stored, keeping a sample of why."""
        self.failed += 1
        if len(self.failures) < _MAX_FAILURE_SAMPLES:
            self.failures.append({"external_id": external_id, "reason": reason})


class RecordStore(Protocol):
    """Stores one record type that lives outside the learning models.

    A portal app registers it (:func:`register_record_store`) from its
    AppConfig.ready(), so the sync engine stores, previews and finishes
    passes of that record type without importing the app.
    """

    def store(
        self,
        integration: Integration,
        records: list[Record],
        pass_number: int,
        *,
        force: bool,
    ) -> PageResult:
        """Upsert ``records`` (deduplicated) and mark them seen in the pass."""

    def live_hashes(
        self, integration: Integration, external_ids: list[str]
    ) -> dict[str, str | None]:
        """Return the content hash of each stored row (None: marked deleted)."""

    def live_count(self, integration: Integration) -> int:
        """Count the rows a complete pass would judge."""

    def mark_missing_deleted(self, integration: Integration, pass_number: int) -> int:
        """Mark rows the complete pass did not see as deleted; return how many."""


#: Record type to the store of another app (see RecordStore).
RECORD_STORES: dict[str, RecordStore] = {}


def register_record_store(record_type: str, store: RecordStore) -> None:
    """Let ``store`` keep the rows of ``record_type`` (an app's ready() calls it)."""
    if record_type in RECORD_MODELS:
        raise ValueError(f"{record_type!r} is stored by the learning models already")
    RECORD_STORES[record_type] = store


def live_hashes(
    integration: Integration, record_type: str, external_ids: list[str]
) -> dict[str, str | None]:
    """Return each stored row's content hash by external id (None: deleted)."""
    store = RECORD_STORES.get(record_type)
    if store is not None:
        return store.live_hashes(integration, external_ids)
    model = RECORD_MODELS[record_type]
    return {
        external_id: content_hash if deleted_at is None else None
        for external_id, content_hash, deleted_at in model.objects.filter(
            integration=integration, external_id__in=external_ids
        )
        .order_by()
        .values_list("external_id", "content_hash", "deleted_at")
    }


def _canonical(value: Any) -> Any:
    """Return the JSON form of a value ``json`` cannot encode by itself."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value else "NaN"
    raise TypeError(f"{type(value).__name__} is not part of a normalized record")


_hash_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=_canonical
)


def record_hash(record: Record) -> str:
    """Return a stable SHA-256 of a normalized record, for change detection.

    The encoder walks the record in C and calls back only for dates and
    decimals; tuples encode as lists.
    """
    return hashlib.sha256(_hash_encoder.encode(record).encode()).hexdigest()


def _text_limits(model: type[models.Model]) -> dict[str, int]:
    return {
        field.name: field.max_length
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField) and field.max_length
    }


#: max_length of every text field per record type: a longer value is a
#: per-record failure here, not a DataError that rolls back the whole page on
#: PostgreSQL (SQLite would store it silently).
TEXT_LIMITS = {
    record_type: _text_limits(model) for record_type, model in RECORD_MODELS.items()
}


def _check_lengths(record_type: str, external_id: str, values: dict[str, Any]) -> None:
    limits = TEXT_LIMITS[record_type]
    if len(external_id) > limits["external_id"]:
        raise ValueError(
            f"external_id is longer than {limits['external_id']} characters"
        )
    for name, value in values.items():
        limit = limits.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            raise ValueError(f"{name} is longer than {limit} characters")


def _safe_url(value: Any) -> str:
    """Return ``value`` if it is an http(s) URL, else an empty string.

    Pages render course URLs as links; a ``javascript:`` or ``data:`` URL
    from a remote service must never reach an ``href``.
    """
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else ""


def _model_values(record: Record, record_type: str) -> dict[str, Any]:
    values = {name: record.get(name) for name in _COMMON_FIELDS}
    for name in RECORD_FIELDS[record_type]:
        if name in record:
            values[name] = record[name]
    for name in _BLANK_WHEN_NONE:
        if name in values and values[name] is None:
            values[name] = ""
    if "topics" in values and values["topics"] is None:
        values["topics"] = []
    for name in ("url", "thumbnail_url"):
        if name in values:
            values[name] = _safe_url(values[name])
    if "state" in values and not values["state"]:
        values.pop("state")
    for name in ("late", "missing"):
        if name in values and values[name] is None:
            values[name] = False
    for name in (
        "role",
        "visibility",
        "stargazers_count",
        "privacy_status",
        "item_count",
        "duration_seconds",
    ):
        if name in values and values[name] in (None, ""):
            values.pop(name)
    if "percent" in values:
        values["percent"] = _as_percent(values["percent"])
    return values


def _as_percent(value: Any) -> Decimal:
    try:
        percent = Decimal(str(value if value is not None else 0))
    except InvalidOperation as error:
        raise ValueError(f"percent {value!r} is not a number") from error
    if not Decimal(0) <= percent <= Decimal(100):
        raise ValueError(f"percent {percent} is outside 0..100")
    return percent.quantize(Decimal("0.01"))


def dedupe(records: list[Record]) -> list[Record]:
    """Keep the last record of each external id (a page may repeat one)."""
    by_id: dict[str, Record] = {}
    for record in records:
        by_id[str(record["external_id"])] = record
    return list(by_id.values())


def store_page(
    integration: Integration,
    record_type: str,
    records: list[Record],
    pass_number: int,
    *,
    force: bool = False,
) -> PageResult:
    """Upsert ``records`` of ``record_type`` and mark them seen in the pass.

    With ``force`` every record is rewritten even when its hash is unchanged
    (a full resync). Records that cannot be stored are counted as failed with
    a reason; the rest of the page is stored. Call inside a transaction.
    """
    store = RECORD_STORES.get(record_type)
    if store is not None:
        return store.store(integration, dedupe(records), pass_number, force=force)
    model = RECORD_MODELS[record_type]
    result = PageResult()
    records = dedupe(records)
    if not records:
        return result

    parents = _load_parents(integration, record_type, records)
    learners = _load_learners(integration, record_type, records)
    owner = _owner_relation(integration, record_type)
    external_ids = [str(record["external_id"]) for record in records]
    # No ordering: the models' default ORDER BY id makes the planner walk
    # the integration's whole index instead of the (integration,
    # external_id) unique index, which turns every page into a full scan.
    # Only what deciding needs is loaded, as tuples: most rows of a resync
    # are unchanged and never need a model instance.
    existing = {
        external_id: (pk, content_hash, deleted_at)
        for pk, external_id, content_hash, deleted_at in model.objects.filter(
            integration=integration, external_id__in=external_ids
        )
        .order_by()
        .values_list("id", "external_id", "content_hash", "deleted_at")
    }

    now = timezone.now()
    to_create: list[models.Model] = []
    to_update: list[models.Model] = []
    update_fields: set[str] = {
        "content_hash",
        "seen_in_pass",
        "deleted_at",
        "updated_at",
    }
    unchanged_pks: list[int] = []
    for record in records:
        external_id = str(record["external_id"])
        try:
            values = _model_values(record, record_type)
            _check_lengths(record_type, external_id, values)
            values.update(_relations(record, record_type, parents, learners))
            values.update(owner)
        except (KeyError, ValueError) as error:
            result.fail(external_id, str(error))
            continue
        digest = record_hash(record)
        known = existing.get(external_id)
        if known is None:
            to_create.append(
                model(
                    integration=integration,
                    external_id=external_id,
                    content_hash=digest,
                    seen_in_pass=pass_number,
                    **values,
                )
            )
            continue
        pk, content_hash, deleted_at = known
        if content_hash == digest and deleted_at is None and not force:
            unchanged_pks.append(pk)
            continue
        # bulk_update writes only the named fields, each set here.
        row = model(
            pk=pk,
            content_hash=digest,
            seen_in_pass=pass_number,
            deleted_at=None,
            updated_at=now,
            **values,
        )
        update_fields.update(values)
        to_update.append(row)

    completions = (
        _completion_events(integration, to_create, to_update)
        if record_type == "progress"
        else []
    )
    handed_in = (
        _submission_events(integration, to_create, to_update)
        if record_type == "submission"
        else []
    )
    if to_create:
        model.objects.bulk_create(to_create)
    if to_update:
        model.objects.bulk_update(to_update, sorted(update_fields))
    if completions:
        courses_completed([event() for event in completions])
    if handed_in:
        assignments_submitted([event() for event in handed_in])
    if record_type == "progress" and (to_create or to_update):
        on_progress_stored(integration, [*to_create, *to_update])
    if unchanged_pks:
        model.objects.filter(pk__in=unchanged_pks).update(seen_in_pass=pass_number)
    result.created = len(to_create)
    result.updated = len(to_update)
    result.unchanged = len(unchanged_pks)
    return result


def _completion_events(
    integration: Integration, created: list[Progress], updated: list[Progress]
) -> list[Callable[[], Event]]:
    """Return makers of ``course.completed`` for rows about to become complete.

    Makers, because created rows get their ids only from ``bulk_create``.
    The events are written in the page's transaction, with the rows.
    """
    done_before = set(
        Progress.objects.filter(
            Q(completed_at__isnull=False) | Q(percent__gte=100),
            pk__in=[row.pk for row in updated],
            deleted_at__isnull=True,
        )
        .order_by()
        .values_list("pk", flat=True)
    )
    newly_done = [
        row
        for row in [*created, *updated]
        if row.pk not in done_before and is_complete(row.percent, row.completed_at)
    ]
    return [
        functools.partial(course_completed_event, row, integration.name, "sync")
        for row in newly_done
    ]


def _submission_events(
    integration: Integration, created: list[Submission], updated: list[Submission]
) -> list[Callable[[], Event]]:
    """Return makers of ``assignment.submitted`` for rows newly handed in.

    A row is newly handed in when it has a ``submitted_at`` and had none
    before (or is new), or when its attempt number went up: a resubmission
    of the same attempt, a grade or an unchanged resync emits nothing. The
    previous values are read before the page is written, in its transaction.
    """
    before = {
        pk: (submitted_at, attempt)
        for pk, submitted_at, attempt in Submission.objects.filter(
            pk__in=[row.pk for row in updated]
        )
        .order_by()
        .values_list("pk", "submitted_at", "attempt")
    }
    handed_in = []
    for row in [*created, *updated]:
        if row.submitted_at is None:
            continue
        was_at, was_attempt = before.get(row.pk, (None, None))
        newer_attempt = (
            row.attempt is not None
            and was_attempt is not None
            and row.attempt > was_attempt
        )
        if was_at is None or newer_attempt:
            handed_in.append(row)
    if not handed_in:
        return []
    courses = dict(
        Assignment.objects.filter(pk__in={row.assignment_id for row in handed_in})
        .order_by()
        .values_list("pk", "course_id")
    )
    return [
        functools.partial(
            assignment_submitted_event,
            row,
            courses[row.assignment_id],
            integration.name,
        )
        for row in handed_in
    ]


def _load_parents(
    integration: Integration, record_type: str, records: list[Record]
) -> dict[str, int]:
    parent = PARENTS.get(record_type)
    if parent is None:
        return {}
    parent_ids = {str(record.get(parent.key, "")) for record in records}
    rows = parent.model.objects.filter(
        integration=integration, external_id__in=parent_ids
    ).order_by()
    return dict(rows.values_list("external_id", "id"))


def _load_learners(
    integration: Integration, record_type: str, records: list[Record]
) -> dict[str, int]:
    if record_type not in LEARNER_RECORD_TYPES:
        return {}
    refs = [record["learner"] for record in records if record.get("learner")]
    return resolve_learners(integration, refs)


def _relations(
    record: Record, record_type: str, parents: dict[str, int], learners: dict[str, int]
) -> dict[str, Any]:
    parent = PARENTS.get(record_type)
    if parent is None:
        return {}
    parent_external_id = str(record.get(parent.key, ""))
    if parent_external_id not in parents:
        raise KeyError(
            f"{parent.noun} {parent_external_id!r} is not synced "
            f"(sync {parent.noun}s first)"
        )
    relations: dict[str, Any] = {parent.column: parents[parent_external_id]}
    if record_type in LEARNER_RECORD_TYPES:
        learner = record.get("learner") or {}
        remote_user_id = str(learner.get("remote_user_id", ""))
        if remote_user_id not in learners:
            raise KeyError(
                f"learner {remote_user_id!r} could not be matched or created"
            )
        relations["learner_id"] = learners[remote_user_id]
    return relations


def _owner_relation(integration: Integration, record_type: str) -> dict[str, Any]:
    """Return the learner a repository row belongs to: the connection's user.

    A learner's own integration (``Integration.connection``) syncs that
    learner's repositories; an admin's integration syncs nobody's.
    """
    if record_type != "repository":
        return {}
    connection_id = integration.connection_id
    if connection_id is None:
        return {"learner_id": None}
    from portal.accounts.models import Connection

    user_id = (
        Connection.objects.filter(pk=connection_id)
        .values_list("user_id", flat=True)
        .first()
    )
    return {"learner_id": user_id}


def mark_missing_deleted(
    integration: Integration, record_type: str, pass_number: int
) -> int:
    """Mark rows of a complete pass that the pass did not see as deleted."""
    store = RECORD_STORES.get(record_type)
    if store is not None:
        return store.mark_missing_deleted(integration, pass_number)
    model = RECORD_MODELS[record_type]
    now = timezone.now()
    gone = (
        model.objects.filter(integration=integration, deleted_at__isnull=True)
        .exclude(seen_in_pass=pass_number)
        .exclude(external_id__startswith=PORTAL_OWNED_PREFIX)
    )
    return gone.update(deleted_at=now, updated_at=now)


def empty_pass_keeps_rows(fetched: int, live: int) -> bool:
    """Tell whether a complete pass must mark nothing deleted.

    ``fetched`` is what the pass read, ``live`` the rows it would judge (see
    :func:`live_count`). An empty answer from a source that had rows is far
    more often a broken endpoint or mapping than a real mass deletion.
    """
    return fetched == 0 and live > 0


def live_count(integration: Integration, record_type: str) -> int:
    """Count the rows of a record type not marked deleted."""
    store = RECORD_STORES.get(record_type)
    if store is not None:
        return store.live_count(integration)
    model = RECORD_MODELS[record_type]
    live = model.objects.filter(integration=integration, deleted_at__isnull=True)
    return live.exclude(external_id__startswith=PORTAL_OWNED_PREFIX).count()
