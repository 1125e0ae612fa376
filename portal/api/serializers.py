"""What each API resource shows and accepts; fields are always listed.

Names follow the public contract in DESIGN.md: every synced record carries
``id``, ``integration`` (the integration's name), ``external_id`` and
``updated_at``; ``deleted_at`` is added so that front ends asking for
``include_deleted`` can tell the rows that vanished from their source.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from operator import attrgetter
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from integrations.models import Integration, SyncRun
from portal.api.models import ApiToken
from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    Playlist,
    Progress,
    Repository,
    RepositoryFile,
    Video,
)

#: A user may hold this many API tokens at once.
MAX_TOKENS_PER_USER = 50

SYNCED_FIELDS = ["id", "integration", "external_id", "updated_at", "deleted_at"]


class ErrorSerializer(serializers.Serializer):
    """The shape of every error response."""

    code = serializers.CharField(
        help_text=(
            "Stable, machine-readable: invalid, parse_error, not_authenticated, "
            "authentication_failed, permission_denied, not_found, "
            "method_not_allowed, not_acceptable, unsupported_media_type, "
            "conflict, throttled, server_error."
        )
    )
    message = serializers.CharField(help_text="A sentence for a person.")
    details = serializers.DictField(
        child=serializers.JSONField(),
        help_text=(
            "invalid: the errors of each field (a list of messages per field "
            "name); throttled: retry_after in seconds; conflict: the id of the "
            "existing row; otherwise empty."
        ),
    )


def _iso_datetime(value: datetime, zone: Any) -> str:
    # What DRF's DateTimeField renders with the default ISO 8601 format.
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


#: Prepared rendering plans, per serializer class and time zone.
_PLANS: dict[tuple[type, Any], list[tuple[str, Callable, Callable, str]]] = {}


class FastRepresentation:
    """Render rows with one prepared getter and converter per field.

    DRF's generic path builds the serializer's fields for every request and
    asks every field of every row for its attribute and representation
    through several layers of calls; on a page of 100 rows that was most of
    the request. This mixin prepares, once per class, a getter and a
    converter per readable field: plain attributes and ids are read directly
    and date-times formatted inline, every other field keeps its own
    ``to_representation``. Only read-only, context-free fields may be
    rendered this way. The output is identical to DRF's, which
    tests/api/test_serializers.py checks for every resource.
    """

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """Return the row as primitive values, like DRF's Serializer does."""
        plan = self.__dict__.get("_fast_plan")
        if plan is None:
            plan = self._fast_plan = self._bind_plan()
        row = {}
        for name, get, convert in plan:
            value = get(instance)
            row[name] = None if value is None else convert(value)
        return row

    def _bind_plan(self) -> list[tuple[str, Callable, Callable]]:
        zone = timezone.get_current_timezone()
        key = (type(self), zone)
        plan = _PLANS.get(key)
        if plan is None:
            # Built from a fresh instance, so no request stays referenced.
            plan = _PLANS[key] = type(self)()._prepare(zone)
        return [
            (name, get, getattr(self, method) if method else convert)
            for name, get, convert, method in plan
        ]

    def _prepare(self, zone: Any) -> list[tuple[str, Callable, Callable, str]]:
        plan = []
        for field in self._readable_fields:
            name = field.field_name
            if isinstance(field, IntegrationNameField):
                plan.append((name, field.get_attribute, _identity, ""))
            elif isinstance(field, serializers.SerializerMethodField):
                plan.append((name, _identity, _identity, field.method_name))
            elif isinstance(field, serializers.PrimaryKeyRelatedField) and (
                field.pk_field is None and len(field.source_attrs) == 1
            ):
                attname = self.Meta.model._meta.get_field(field.source).attname
                plan.append((name, attrgetter(attname), _identity, ""))
            elif type(field) is serializers.DateTimeField and (
                getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601
            ):
                getter = attrgetter(".".join(field.source_attrs))
                converter = partial(_iso_datetime, zone=zone)
                plan.append((name, getter, converter, ""))
            else:
                getter = attrgetter(".".join(field.source_attrs))
                plan.append((name, getter, field.to_representation, ""))
        return plan


def _identity(value: Any) -> Any:
    return value


class IntegrationNameField(serializers.CharField):
    """The name of a row's integration.

    The API's querysets annotate it as ``integration_name`` (one joined
    column instead of a whole Integration object per row); a row without
    the annotation, such as one just written, reads it through the relation.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("help_text", "Name of the integration the record came from.")
        super().__init__(source="integration_name", **kwargs)

    def get_attribute(self, instance: Any) -> str:
        """Return the annotated name, or the related integration's."""
        name = getattr(instance, "integration_name", None)
        return name if name is not None else instance.integration.name


class SyncedRecordSerializer(FastRepresentation, serializers.ModelSerializer):
    """The fields every synced record carries."""

    integration = IntegrationNameField()
    external_id = serializers.CharField(
        read_only=True, help_text="The record's id in its source, as a string."
    )
    updated_at = serializers.DateTimeField(
        read_only=True, help_text="When the portal last changed the row."
    )
    deleted_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the record vanished from its source; null while it exists.",
    )


class CourseSerializer(SyncedRecordSerializer):
    """A course."""

    # A plain string: LMSs may give none, and "" is not a valid URI.
    url = serializers.CharField(
        read_only=True, help_text="The course's page in its LMS; may be empty."
    )

    class Meta:
        model = Course
        fields = [
            *SYNCED_FIELDS,
            "title",
            "code",
            "state",
            "starts_at",
            "ends_at",
            "url",
        ]
        read_only_fields = fields


class AssignmentSerializer(SyncedRecordSerializer):
    """An assignment of a course."""

    points_possible = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        coerce_to_string=False,
        allow_null=True,
        read_only=True,
    )

    class Meta:
        model = Assignment
        fields = [*SYNCED_FIELDS, "course", "title", "due_at", "points_possible"]
        read_only_fields = fields


class EnrollmentSerializer(SyncedRecordSerializer):
    """A learner's enrollment in a course."""

    class Meta:
        model = Enrollment
        fields = [*SYNCED_FIELDS, "course", "learner", "role", "state"]
        read_only_fields = fields


#: What a repository shows in lists; the detail adds its README.
REPOSITORY_FIELDS = [
    *SYNCED_FIELDS,
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
]


class RepositorySerializer(SyncedRecordSerializer):
    """A code repository, as lists show it (without its README)."""

    url = serializers.CharField(
        read_only=True, help_text="The repository's page at its host; may be empty."
    )
    learner = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="The learner whose own integration synced it; null for an "
        "admin's integration.",
    )
    topics = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Topic names, sorted."
    )
    readme_truncated = serializers.BooleanField(
        read_only=True, help_text="Whether the README was cut at 100 kB."
    )

    class Meta:
        model = Repository
        fields = REPOSITORY_FIELDS
        read_only_fields = fields


class RepositoryDetailSerializer(RepositorySerializer):
    """A code repository with its README's text."""

    readme = serializers.CharField(
        read_only=True,
        help_text="The README's text (UTF-8, at most 100 kB); empty when the "
        "repository has none or READMEs are not read.",
    )

    class Meta(RepositorySerializer.Meta):
        fields = [*REPOSITORY_FIELDS, "readme"]
        read_only_fields = fields


class RepositoryFileSerializer(SyncedRecordSerializer):
    """A file or directory of a repository's default branch (GitLab's tree)."""

    repository = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="Id of the repository."
    )
    entry_type = serializers.CharField(
        read_only=True,
        help_text="blob (a file), tree (a directory) or commit (a submodule).",
    )
    sha = serializers.CharField(
        read_only=True, help_text="The git object id; empty if the host gave none."
    )

    class Meta:
        model = RepositoryFile
        fields = [
            *SYNCED_FIELDS,
            "repository",
            "path",
            "name",
            "entry_type",
            "mode",
            "sha",
        ]
        read_only_fields = fields


class PlaylistSerializer(SyncedRecordSerializer):
    """A YouTube playlist."""

    thumbnail_url = serializers.CharField(
        read_only=True, help_text="The largest thumbnail YouTube gives; may be empty."
    )

    class Meta:
        model = Playlist
        fields = [
            *SYNCED_FIELDS,
            "title",
            "description",
            "channel_id",
            "channel_title",
            "privacy_status",
            "item_count",
            "thumbnail_url",
            "published_at",
        ]
        read_only_fields = fields


class VideoSerializer(SyncedRecordSerializer):
    """A YouTube video of a synced playlist."""

    url = serializers.CharField(read_only=True, help_text="The video's watch page.")
    thumbnail_url = serializers.CharField(
        read_only=True, help_text="The largest thumbnail YouTube gives; may be empty."
    )
    duration_seconds = serializers.IntegerField(
        read_only=True, help_text="The video's length; 0 for a live broadcast."
    )

    class Meta:
        model = Video
        fields = [
            *SYNCED_FIELDS,
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
        ]
        read_only_fields = fields


class PercentField(serializers.DecimalField):
    """A percent from 0 to 100, rounded half up to two decimals.

    Front ends compute percents as done/total*100 with many decimals;
    rounding them is friendlier than refusing them.
    """

    def validate_precision(self, value: Decimal) -> Decimal:
        """Round to two decimals, then check the digits as DRF does."""
        try:
            rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            self.fail("max_digits", max_digits=self.max_digits)
        return super().validate_precision(rounded)


def _percent_field(**kwargs: Any) -> serializers.DecimalField:
    return PercentField(
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        coerce_to_string=False,
        help_text="Percent of the course done, 0 to 100 (rounded to two decimals).",
        **kwargs,
    )


class ProgressSerializer(SyncedRecordSerializer):
    """A learner's progress in a course."""

    percent = _percent_field(read_only=True)

    class Meta:
        model = Progress
        fields = [
            *SYNCED_FIELDS,
            "course",
            "learner",
            "percent",
            "grade",
            "completed_at",
        ]
        read_only_fields = fields


class ProgressCreateSerializer(serializers.Serializer):
    """Progress a learner reports in a course they are enrolled in."""

    course = serializers.PrimaryKeyRelatedField(
        queryset=Course.objects.none(),
        help_text="Id of a course you are enrolled in (not deleted).",
    )
    percent = _percent_field()
    completed_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When you completed the course; null or absent if not yet.",
    )

    def __init__(self, *args: Any, courses: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The choice of courses is the user's own: an id outside it reads
        # exactly like an id that does not exist.
        if courses is not None:
            self.fields["course"].queryset = courses


class ProgressUpdateSerializer(serializers.Serializer):
    """A change to one's own progress; absent fields stay as they are."""

    percent = _percent_field(required=False)
    completed_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When you completed the course."
    )


class LastSyncSerializer(serializers.ModelSerializer):
    """The most recent sync run of an integration, in brief."""

    class Meta:
        model = SyncRun
        fields = ["id", "stream", "status", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class IntegrationSerializer(FastRepresentation, serializers.ModelSerializer):
    """An integration's identity and health; never its credentials or settings."""

    health = serializers.CharField(
        source="health_status",
        read_only=True,
        help_text="unknown, healthy, degraded or unhealthy.",
    )
    last_sync = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "name",
            "provider",
            "enabled",
            "health",
            "health_checked_at",
            "last_sync",
        ]
        read_only_fields = fields

    @extend_schema_field(LastSyncSerializer(allow_null=True))
    def get_last_sync(self, integration: Integration) -> dict | None:
        """Return the latest run (prefetched by the view), or None."""
        runs = getattr(integration, "latest_runs", None)
        if runs is None:
            run = integration.last_run()
        else:
            run = runs[0] if runs else None
        return LastSyncSerializer(run).data if run is not None else None


class SyncRunSerializer(FastRepresentation, serializers.ModelSerializer):
    """One sync run of one stream, with its counts (staff only)."""

    integration = IntegrationNameField()
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "integration",
            "stream",
            "status",
            "full",
            "trigger",
            "pages",
            "fetched",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "failed",
            "attempts",
            "error_code",
            "error_summary",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, run: SyncRun) -> float | None:
        """Return how long the run took (so far), in seconds."""
        duration = run.duration
        return round(duration.total_seconds(), 3) if duration is not None else None


class ApiTokenSerializer(serializers.ModelSerializer):
    """One of the user's API tokens, without its secret."""

    name = serializers.CharField(
        max_length=100, help_text="What the token is for, e.g. 'mobile app'."
    )
    prefix = serializers.CharField(
        read_only=True, help_text="The start of the token, to recognise it."
    )
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the token stops working; null or absent: when revoked.",
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at"]

    def validate_expires_at(self, value: Any) -> Any:
        """Refuse an expiry in the past."""
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Refuse a new token beyond the per-user limit."""
        user = self.context["request"].user
        if ApiToken.objects.filter(user=user).count() >= MAX_TOKENS_PER_USER:
            raise serializers.ValidationError(
                f"You have {MAX_TOKENS_PER_USER} tokens already; revoke one first."
            )
        return attrs


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    """A new token, with its secret: shown in this answer only, never again."""

    token = serializers.CharField(
        read_only=True,
        help_text="The bearer token. Store it now: the portal keeps only a hash.",
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
