"""Who may see and change what through the API.

Scoping is done on querysets, not only with object permissions: DRF applies
object permissions neither to lists nor to creation, so every list, detail,
filter and ordering starts from a queryset already cut to what the user may
see. An object outside it is a 404, never a 403, so ids do not leak.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from rest_framework import permissions
from rest_framework.request import Request

from integrations.models import Integration
from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    EnrollmentState,
    Playlist,
    Progress,
    Repository,
    RepositoryFile,
    Video,
)


def is_staff(user: Any) -> bool:
    """Tell whether ``user`` may read everything."""
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))


def enrolled_course_ids(user: Any) -> QuerySet:
    """Return a subquery of the ids of courses ``user`` is enrolled in now."""
    return (
        Enrollment.objects.filter(learner=user, deleted_at__isnull=True)
        .exclude(state=EnrollmentState.DELETED)
        .values("course_id")
    )


def visible_courses(user: Any, queryset: QuerySet[Course]) -> QuerySet[Course]:
    """Cut ``queryset`` to the courses ``user`` may read."""
    if is_staff(user):
        return queryset
    return queryset.filter(id__in=enrolled_course_ids(user))


def visible_assignments(
    user: Any, queryset: QuerySet[Assignment]
) -> QuerySet[Assignment]:
    """Cut ``queryset`` to the assignments of courses ``user`` may read."""
    if is_staff(user):
        return queryset
    return queryset.filter(course_id__in=enrolled_course_ids(user))


def visible_enrollments(
    user: Any, queryset: QuerySet[Enrollment]
) -> QuerySet[Enrollment]:
    """Cut ``queryset`` to ``user``'s own enrollments (staff: all)."""
    if is_staff(user):
        return queryset
    return queryset.filter(learner=user)


def visible_progress(user: Any, queryset: QuerySet[Progress]) -> QuerySet[Progress]:
    """Cut ``queryset`` to ``user``'s own progress (staff: all)."""
    if is_staff(user):
        return queryset
    return queryset.filter(learner=user)


def visible_repositories(
    user: Any, queryset: QuerySet[Repository]
) -> QuerySet[Repository]:
    """Cut ``queryset`` to the repositories of ``user``'s own integrations.

    A repository's learner is the user of the connection its learner
    integration syncs with (staff: all).
    """
    if is_staff(user):
        return queryset
    return queryset.filter(learner=user)


def reportable_repositories(user: Any) -> QuerySet[Repository]:
    """Return the repositories ``user`` may report a problem in.

    The school's public GitHub repositories (synced by integrations without
    a connection: course material) and the user's own; not deleted. A
    private school repository (solutions, staff material) is staff's: a
    learner's report on it would answer 404, as for one that does not exist.
    """
    rows = Repository.objects.select_related("integration").filter(
        deleted_at__isnull=True, integration__provider="github"
    )
    if is_staff(user):
        return rows
    school_public = Q(integration__connection__isnull=True, private=False)
    return rows.filter(school_public | Q(learner=user))


def visible_repository_files(
    user: Any, queryset: QuerySet[RepositoryFile]
) -> QuerySet[RepositoryFile]:
    """Cut ``queryset`` to the files of the repositories ``user`` may see."""
    if is_staff(user):
        return queryset
    return queryset.filter(repository__learner=user)


def visible_youtube(
    user: Any, queryset: QuerySet[Playlist] | QuerySet[Video]
) -> QuerySet:
    """Cut ``queryset`` to the school's YouTube content and ``user``'s own.

    The school's is what integrations without a connection sync (an API
    key's playlists); a learner's own is what their Google connection's
    integration syncs. Another learner's playlists, private ones among
    them, stay theirs. Staff see all.
    """
    if is_staff(user):
        return queryset
    return queryset.filter(
        Q(integration__connection__isnull=True) | Q(integration__connection__user=user)
    )


def visible_integrations(
    user: Any, queryset: QuerySet[Integration]
) -> QuerySet[Integration]:
    """Cut ``queryset`` to the school's integrations and ``user``'s own.

    A learner integration (one that syncs with a learner's connection) is
    that learner's business: its name carries their user id, and its health
    tells whether their account works. Staff see all.
    """
    if is_staff(user):
        return queryset
    return queryset.filter(Q(connection__isnull=True) | Q(connection__user=user))


def reportable_courses(user: Any) -> QuerySet[Course]:
    """Return the courses ``user`` may report progress in.

    Only courses they are enrolled in now and that are not deleted, staff
    included: progress is always reported by the learner it belongs to.
    """
    return Course.objects.select_related("integration").filter(
        id__in=enrolled_course_ids(user), deleted_at__isnull=True
    )


class IsStaff(permissions.BasePermission):
    """Allow staff only (sync runs are operational data)."""

    message = "Only staff may read sync runs."

    def has_permission(self, request: Request, view: Any) -> bool:
        """Tell whether the user is staff."""
        return is_staff(request.user)


class OwnProgressForWrites(permissions.BasePermission):
    """Let anyone who can see a progress row read it; only its learner change it.

    Learners only ever see their own rows (the queryset is scoped), so this
    denies writes to staff on other learners' progress, which they can read.
    """

    message = "Progress can only be reported by the learner it belongs to."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        """Tell whether the request may act on progress row ``obj``."""
        if request.method in permissions.SAFE_METHODS:
            return True
        return obj.learner_id == request.user.pk
