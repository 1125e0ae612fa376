"""Query parameters that filter the API's lists (django-filter).

A bad value is a 400 whose details name the parameter. Filters only narrow
a queryset that is already cut to what the user may see, so filtering by
another learner's id or a course outside one's scope returns nothing rather
than an error that would confirm the id exists.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.drainage import set_override

from integrations.models import SyncRun, SyncStatus
from portal.api.permissions import is_staff
from portal.learning.models import (
    Assignment,
    Course,
    CourseState,
    Enrollment,
    EnrollmentRole,
    EnrollmentState,
    Playlist,
    PlaylistItem,
    PrivacyStatus,
    Progress,
    Repository,
    RepositoryFile,
    RepositoryFileType,
    RepositoryVisibility,
    Video,
)

_MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    """A positive 64-bit row id."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", _MAX_ID)
        super().__init__(**kwargs)


def _describe(filter_: django_filters.Filter, schema: dict[str, Any]) -> None:
    # drf-spectacular drops a filter's label when its type is overridden; a
    # schema dict carried by the instance keeps both.
    set_override(filter_, "field", {**schema, "description": filter_.label or ""})


class IdFilter(django_filters.Filter):
    """Filter by a row id, validated as a positive 64-bit integer."""

    field_class = IdField

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _describe(
            self,
            {"type": "integer", "format": "int64", "minimum": 1, "maximum": _MAX_ID},
        )


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time that must have a UTC equivalent."""

    def to_python(self, value: Any) -> Any:
        """Parse ``value``; refuse one that falls outside years 1..9999 in UTC."""
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                "Enter a date-time between years 1 and 9999 in UTC.", code="invalid"
            ) from None


class UpdatedSinceFilter(django_filters.Filter):
    """Keep rows changed at or after an ISO 8601 date-time."""

    field_class = UtcDateTimeField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("field_name", "updated_at")
        kwargs.setdefault("lookup_expr", "gte")
        kwargs.setdefault(
            "label",
            "Rows changed at or after this ISO 8601 date-time, e.g. "
            "2025-01-31T12:00:00Z (URL-encode a '+' offset as %2B).",
        )
        super().__init__(**kwargs)
        _describe(self, {"type": "string", "format": "date-time"})


class IncludeDeletedFilter(django_filters.BooleanFilter):
    """Whether to return soft-deleted rows too (true/false)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _describe(self, {"type": "boolean"})


class PortalFilterSet(django_filters.FilterSet):
    """A filter set that can say what it does when no parameter is given."""

    @classmethod
    def unfiltered(cls, queryset: QuerySet) -> QuerySet:
        """Return ``queryset`` as the filter set leaves it without parameters."""
        return queryset


class PortalFilterBackend(DjangoFilterBackend):
    """django-filter's backend, without building a form when no filter is used.

    Validating an empty form costs more per request than the rest of the
    filtering; the result without parameters is known in advance.
    """

    def filter_queryset(self, request: Any, queryset: QuerySet, view: Any) -> QuerySet:
        """Filter by the query parameters, or apply only the defaults."""
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        given = request.query_params
        if issubclass(filterset_class, PortalFilterSet) and not any(
            name in given for name in filterset_class.base_filters
        ):
            return filterset_class.unfiltered(queryset)
        return super().filter_queryset(request, queryset, view)


class SyncedRecordFilterSet(PortalFilterSet):
    """Filters every synced resource has; soft-deleted rows hidden by default."""

    integration = django_filters.CharFilter(
        field_name="integration__name", label="Name of the integration."
    )
    updated_since = UpdatedSinceFilter()
    include_deleted = IncludeDeletedFilter(
        method="_keep",
        label=(
            "Also return rows that vanished from their source (their "
            "deleted_at is set). Default false."
        ),
    )

    def _keep(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        # Applied in filter_queryset, which also sees the parameter missing.
        return queryset

    @classmethod
    def unfiltered(cls, queryset: QuerySet) -> QuerySet:
        """Hide deleted rows."""
        return queryset.filter(deleted_at__isnull=True)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """Apply the filters, then hide deleted rows unless asked for."""
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("include_deleted"):
            queryset = self.unfiltered(queryset)
        return queryset


class CourseFilterSet(SyncedRecordFilterSet):
    """Filters of /courses/."""

    state = django_filters.ChoiceFilter(choices=CourseState.choices)
    learner = IdFilter(
        method="_filter_learner", label="Courses this learner is enrolled in."
    )

    class Meta:
        model = Course
        fields = ["integration", "state", "learner", "updated_since", "include_deleted"]

    def _filter_learner(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        # A learner asking about someone else would learn which of their own
        # courses the other person shares: only staff may ask about others.
        user = getattr(self.request, "user", None)
        if not is_staff(user) and value != getattr(user, "pk", None):
            return queryset.none()
        enrolled = Enrollment.objects.filter(
            learner_id=value, deleted_at__isnull=True
        ).exclude(state=EnrollmentState.DELETED)
        return queryset.filter(id__in=enrolled.values("course_id"))


class AssignmentFilterSet(SyncedRecordFilterSet):
    """Filters of /assignments/."""

    course = IdFilter(field_name="course_id", label="Id of the course.")

    class Meta:
        model = Assignment
        fields = ["integration", "course", "updated_since", "include_deleted"]


class EnrollmentFilterSet(SyncedRecordFilterSet):
    """Filters of /enrollments/."""

    course = IdFilter(field_name="course_id", label="Id of the course.")
    learner = IdFilter(field_name="learner_id", label="Id of the learner (user).")
    state = django_filters.ChoiceFilter(choices=EnrollmentState.choices)
    role = django_filters.ChoiceFilter(choices=EnrollmentRole.choices)

    class Meta:
        model = Enrollment
        fields = [
            "integration",
            "course",
            "learner",
            "state",
            "role",
            "updated_since",
            "include_deleted",
        ]


class ProgressFilterSet(SyncedRecordFilterSet):
    """Filters of /progress/."""

    course = IdFilter(field_name="course_id", label="Id of the course.")
    learner = IdFilter(field_name="learner_id", label="Id of the learner (user).")

    class Meta:
        model = Progress
        fields = [
            "integration",
            "course",
            "learner",
            "updated_since",
            "include_deleted",
        ]


class RepositoryFilterSet(SyncedRecordFilterSet):
    """Filters of /repositories/."""

    learner = IdFilter(field_name="learner_id", label="Id of the learner (user).")
    visibility = django_filters.ChoiceFilter(choices=RepositoryVisibility.choices)

    class Meta:
        model = Repository
        fields = [
            "integration",
            "learner",
            "visibility",
            "updated_since",
            "include_deleted",
        ]


class RepositoryFileFilterSet(SyncedRecordFilterSet):
    """Filters of /repository-files/."""

    repository = IdFilter(field_name="repository_id", label="Id of the repository.")
    entry_type = django_filters.ChoiceFilter(choices=RepositoryFileType.choices)

    class Meta:
        model = RepositoryFile
        fields = [
            "integration",
            "repository",
            "entry_type",
            "updated_since",
            "include_deleted",
        ]


class PlaylistFilterSet(SyncedRecordFilterSet):
    """Filters of /playlists/."""

    privacy_status = django_filters.ChoiceFilter(choices=PrivacyStatus.choices)

    class Meta:
        model = Playlist
        fields = ["integration", "privacy_status", "updated_since", "include_deleted"]


class VideoFilterSet(SyncedRecordFilterSet):
    """Filters of /videos/."""

    playlist = IdFilter(
        method="_filter_playlist", label="Videos in this playlist (its id)."
    )

    class Meta:
        model = Video
        fields = ["integration", "playlist", "updated_since", "include_deleted"]

    def _filter_playlist(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        # The videos the playlist's live items name, of the same integration.
        # The playlist's own visibility needs no check: a video of the
        # playlist's integration is in the user's scope only if it is.
        items = PlaylistItem.objects.filter(
            playlist_id=value,
            deleted_at__isnull=True,
            integration_id=OuterRef("integration_id"),
            video_external_id=OuterRef("external_id"),
        )
        return queryset.filter(Exists(items))


class SyncRunFilterSet(PortalFilterSet):
    """Filters of /sync-runs/."""

    integration = django_filters.CharFilter(
        field_name="integration__name", label="Name of the integration."
    )
    status = django_filters.ChoiceFilter(choices=SyncStatus.choices)
    stream = django_filters.CharFilter(label="Stream name, e.g. courses.")

    class Meta:
        model = SyncRun
        fields = ["integration", "status", "stream"]
