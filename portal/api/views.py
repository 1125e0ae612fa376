"""The /api/v1/ resources.

Every queryset starts scoped to the requesting user (portal.api.permissions)
and joins what its serializer shows (the integration's name), so a page costs
the same few queries whatever its length.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer, SerializerMethodField

from integrations.models import Integration, SyncRun
from integrations.sync.upsert import PORTAL_OWNED_PREFIX
from portal.api import filters, permissions, serializers
from portal.api.exceptions import Conflict
from portal.api.models import ApiToken
from portal.events.domain import course_completed, is_complete, progress_updated
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

logger = logging.getLogger(__name__)

#: Progress reported through the API gets this external id prefix, so it never
#: collides with the ids LMSs give their own records (docs/api.md).
PORTAL_EXTERNAL_ID_PREFIX = PORTAL_OWNED_PREFIX


def portal_external_id(course: Course, learner_id: int) -> str:
    """Return the external id of progress reported through the API."""
    return f"{PORTAL_EXTERNAL_ID_PREFIX}{course.pk}:{learner_id}"


@functools.cache
def shown_columns(serializer_class: type[BaseSerializer]) -> tuple[str, ...]:
    """Return the columns a read serializer shows, for ``QuerySet.only()``.

    Loading only those (with the integration's name alone from its table)
    halves the cost of turning a page of rows into objects. Empty when the
    serializer computes a field from the whole object, which only() could
    turn into one extra query per row.
    """
    columns = []
    for field in serializer_class().fields.values():
        if isinstance(field, serializers.IntegrationNameField):
            continue  # an annotation, not a column of the model
        if isinstance(field, SerializerMethodField) or field.source == "*":
            return ()
        columns.append("__".join(field.source_attrs))
    return tuple(columns)


def with_integration_name(queryset: QuerySet) -> QuerySet:
    """Annotate each row with its integration's name (one joined column)."""
    return queryset.annotate(integration_name=F("integration__name"))


class ScopedViewSet(viewsets.GenericViewSet):
    """A viewset whose rows are cut to the user; ids are digits only."""

    filter_backends = [filters.PortalFilterBackend]
    lookup_value_regex = r"[0-9]+"
    default_ordering = "id"

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut ``queryset`` to what the user may see."""
        raise NotImplementedError

    def base_queryset(self) -> QuerySet:
        """Return every row of the resource, with what the serializer shows."""
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        """Return the rows the requesting user may see."""
        if getattr(self, "swagger_fake_view", False):
            return self.base_queryset().none()
        queryset = self.scope(self.base_queryset())
        if self.action in ("list", "retrieve"):
            columns = shown_columns(self.get_serializer_class())
            if columns:
                queryset = queryset.only(*columns)
        return queryset


class CourseViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Courses: learners see those they are enrolled in, staff all."""

    serializer_class = serializers.CourseSerializer
    filterset_class = filters.CourseFilterSet
    ordering_fields = {
        "id": "id",
        "title": "title",
        "code": "code",
        "state": "state",
        "starts_at": "starts_at",
        "ends_at": "ends_at",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return courses with their integration's name."""
        return with_integration_name(Course.objects.all())

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the user's courses."""
        return permissions.visible_courses(self.request.user, queryset)


class AssignmentViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Assignments of the courses the user may see."""

    serializer_class = serializers.AssignmentSerializer
    filterset_class = filters.AssignmentFilterSet
    ordering_fields = {
        "id": "id",
        "title": "title",
        "due_at": "due_at",
        "points_possible": "points_possible",
        "course": "course",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return assignments with their integration's name."""
        return with_integration_name(Assignment.objects.all())

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to assignments of the user's courses."""
        return permissions.visible_assignments(self.request.user, queryset)


class EnrollmentViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Enrollments: learners see their own, staff all."""

    serializer_class = serializers.EnrollmentSerializer
    filterset_class = filters.EnrollmentFilterSet
    ordering_fields = {
        "id": "id",
        "course": "course",
        "learner": "learner",
        "role": "role",
        "state": "state",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return enrollments with their integration's name."""
        return with_integration_name(Enrollment.objects.all())

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the user's own enrollments."""
        return permissions.visible_enrollments(self.request.user, queryset)


class RepositoryViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Repositories: learners see those of their own integrations, staff all.

    Lists leave the README out (up to 100 kB a row); the detail has it.
    """

    filterset_class = filters.RepositoryFilterSet
    ordering_fields = {
        "id": "id",
        "full_name": "full_name",
        "name": "name",
        "pushed_at": "pushed_at",
        "stargazers_count": "stargazers_count",
        "updated_at": "updated_at",
    }

    def get_serializer_class(self) -> type[BaseSerializer]:
        """Return the detail serializer (with the README) for one repository."""
        if self.action == "retrieve":
            return serializers.RepositoryDetailSerializer
        return serializers.RepositorySerializer

    def base_queryset(self) -> QuerySet:
        """Return repositories with their integration's name."""
        return with_integration_name(Repository.objects.all())

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the repositories of the user's own integrations."""
        return permissions.visible_repositories(self.request.user, queryset)


class RepositoryFileViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Files of repository trees, scoped like their repositories."""

    serializer_class = serializers.RepositoryFileSerializer
    filterset_class = filters.RepositoryFileFilterSet
    ordering_fields = {
        "id": "id",
        "path": "path",
        "repository": "repository",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return files with their integration's name."""
        return with_integration_name(RepositoryFile.objects.all())

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the files of the repositories the user may see."""
        return permissions.visible_repository_files(self.request.user, queryset)


class YouTubeContentViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Rows of YouTube integrations: the school's and the user's own; staff all."""

    model: type[Playlist] | type[Video]

    def base_queryset(self) -> QuerySet:
        """Return the rows with their integration's name."""
        return with_integration_name(self.model.objects.all())

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the school's rows and those of the user's own connections."""
        return permissions.visible_youtube(self.request.user, queryset)


class PlaylistViewSet(YouTubeContentViewSet):
    """YouTube playlists: the school's, and learners' own to them; staff all."""

    model = Playlist
    serializer_class = serializers.PlaylistSerializer
    filterset_class = filters.PlaylistFilterSet
    ordering_fields = {
        "id": "id",
        "title": "title",
        "published_at": "published_at",
        "item_count": "item_count",
        "updated_at": "updated_at",
    }


class VideoViewSet(YouTubeContentViewSet):
    """Videos of synced playlists, scoped like the playlists."""

    model = Video
    serializer_class = serializers.VideoSerializer
    filterset_class = filters.VideoFilterSet
    ordering_fields = {
        "id": "id",
        "title": "title",
        "published_at": "published_at",
        "duration_seconds": "duration_seconds",
        "view_count": "view_count",
        "updated_at": "updated_at",
    }


@extend_schema_view(
    create=extend_schema(
        summary="Report your progress in a course",
        request=serializers.ProgressCreateSerializer,
        responses={
            201: serializers.ProgressSerializer,
            409: OpenApiResponse(
                serializers.ErrorSerializer,
                description=(
                    "You already have progress in this course: PATCH it. "
                    "details.id is its id."
                ),
            ),
        },
    ),
    partial_update=extend_schema(
        summary="Change your progress",
        request=serializers.ProgressUpdateSerializer,
        responses={200: serializers.ProgressSerializer},
    ),
)
class ProgressViewSet(
    ScopedViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
):
    """Progress: learners see and report their own, staff see all."""

    serializer_class = serializers.ProgressSerializer
    filterset_class = filters.ProgressFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = {
        "id": "id",
        "course": "course",
        "learner": "learner",
        "percent": "percent",
        "completed_at": "completed_at",
        "updated_at": "updated_at",
    }

    def get_permissions(self) -> list[Any]:
        """Add the rule that only a progress row's learner may change it."""
        return [*super().get_permissions(), permissions.OwnProgressForWrites()]

    def base_queryset(self) -> QuerySet:
        """Return progress with its integration's name (whole, for writes)."""
        queryset = with_integration_name(Progress.objects.all())
        if self.action == "partial_update":
            # The event payload needs the integration's name.
            queryset = queryset.select_related("integration")
        return queryset

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the user's own progress."""
        return permissions.visible_progress(self.request.user, queryset)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Store new progress, emit its events (the LMS write-back follows them)."""
        courses = permissions.reportable_courses(request.user)
        incoming = serializers.ProgressCreateSerializer(
            data=request.data, courses=courses, context=self.get_serializer_context()
        )
        incoming.is_valid(raise_exception=True)
        course = incoming.validated_data["course"]
        values = {
            "percent": incoming.validated_data["percent"],
            "completed_at": incoming.validated_data.get("completed_at"),
        }

        try:
            with transaction.atomic():
                progress = self._create_progress(course, request.user.pk, values)
        except IntegrityError:
            # A concurrent request created the same row between the check and
            # the insert.
            progress = None
        if progress is None:
            existing = self._existing_progress(course, request.user.pk)
            raise Conflict(
                "You already have progress in this course; PATCH it instead.",
                details={"id": existing.pk if existing else None},
            )

        data = serializers.ProgressSerializer(progress).data
        return Response(data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change the user's own progress; emit and queue only on a change."""
        progress = self.get_object()
        incoming = serializers.ProgressUpdateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        incoming.is_valid(raise_exception=True)

        changed = {
            name: value
            for name, value in incoming.validated_data.items()
            if getattr(progress, name) != value
        }
        if changed:
            was_complete = is_complete(progress.percent, progress.completed_at)
            with transaction.atomic():
                for name, value in changed.items():
                    setattr(progress, name, value)
                progress.save(update_fields=[*changed, "updated_at"])
                self._announce(progress, sorted(changed), was_complete)

        return Response(serializers.ProgressSerializer(progress).data)

    def _existing_progress(self, course: Course, learner_id: int) -> Progress | None:
        return (
            Progress.objects.filter(
                course=course, learner_id=learner_id, deleted_at__isnull=True
            )
            .order_by("id")
            .first()
        )

    def _create_progress(
        self, course: Course, learner_id: int, values: dict[str, Any]
    ) -> Progress | None:
        if self._existing_progress(course, learner_id) is not None:
            return None
        external_id = portal_external_id(course, learner_id)
        # A row reported earlier and since marked deleted comes back to life
        # rather than clashing with the unique (integration, external_id).
        progress = Progress.objects.filter(
            integration_id=course.integration_id, external_id=external_id
        ).first()
        if progress is None:
            progress = Progress(
                integration=course.integration,
                external_id=external_id,
                course=course,
                learner_id=learner_id,
            )
        progress.integration = course.integration
        progress.deleted_at = None
        progress.percent = values["percent"]
        progress.completed_at = values["completed_at"]
        progress.save()
        self._announce(progress, ["percent", "completed_at"], was_complete=False)
        return progress

    def _announce(
        self, progress: Progress, fields: list[str], was_complete: bool
    ) -> None:
        """Emit the progress events in the transaction.

        ``progress.updated`` also carries the change back to the course's LMS:
        the dispatcher routes it to the LMS write-back (docs/events.md).
        """
        progress_updated(progress, progress.integration.name, fields, source="api")
        if not was_complete and is_complete(progress.percent, progress.completed_at):
            course_completed(progress, progress.integration.name, source="api")
        logger.info(
            "api.progress.reported",
            extra={
                "progress_id": progress.pk,
                "integration": progress.integration.name,
            },
        )


class IntegrationViewSet(
    viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Integrations: name, provider and health; never credentials or settings."""

    serializer_class = serializers.IntegrationSerializer
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    ordering_fields = {"name": "name"}
    default_ordering = "name"

    def get_queryset(self) -> QuerySet:
        """Return the integrations the user may see, latest sync run prefetched."""
        latest = SyncRun.objects.order_by("-created_at", "-id")
        queryset = Integration.objects.prefetch_related(
            Prefetch("sync_runs", queryset=latest[:1], to_attr="latest_runs")
        )
        return permissions.visible_integrations(self.request.user, queryset)


class SyncRunViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Sync runs with their counts; staff only."""

    serializer_class = serializers.SyncRunSerializer
    filterset_class = filters.SyncRunFilterSet
    ordering_fields = {
        "id": "id",
        "created_at": "created_at",
        "started_at": "started_at",
        "finished_at": "finished_at",
    }
    default_ordering = "-id"

    def get_permissions(self) -> list[Any]:
        """Require staff on top of signing in."""
        return [*super().get_permissions(), permissions.IsStaff()]

    def base_queryset(self) -> QuerySet:
        """Return runs with their integration joined."""
        return SyncRun.objects.select_related("integration")

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Staff see every run (non-staff never get here)."""
        return queryset


@extend_schema_view(
    create=extend_schema(
        summary="Create an API token (shown once)",
        responses={201: serializers.ApiTokenCreatedSerializer},
    ),
    destroy=extend_schema(summary="Revoke one of your API tokens"),
)
class ApiTokenViewSet(
    ScopedViewSet,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
):
    """The requesting user's own API tokens: list, create, revoke."""

    serializer_class = serializers.ApiTokenSerializer
    filter_backends: list[Any] = []
    ordering_fields = {"id": "id", "created_at": "created_at"}
    default_ordering = "-id"

    def base_queryset(self) -> QuerySet:
        """Return every token."""
        return ApiToken.objects.all()

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the user's own tokens, staff included."""
        return queryset.filter(user=self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create a token and answer with it, the only time it is shown."""
        incoming = self.get_serializer(data=request.data)
        incoming.is_valid(raise_exception=True)

        row, token = ApiToken.objects.issue(
            request.user,
            incoming.validated_data["name"],
            expires_at=incoming.validated_data.get("expires_at"),
        )
        logger.info(
            "api.token.created", extra={"token_id": row.pk, "user_id": request.user.pk}
        )

        data = serializers.ApiTokenCreatedSerializer(row).data
        data["token"] = token
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        """Delete the token row: it stops working at once."""
        logger.info(
            "api.token.revoked",
            extra={"token_id": instance.pk, "user_id": self.request.user.pk},
        )
        instance.delete()
