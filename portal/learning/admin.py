"""The admin of the learning records: read-mostly, since syncs own them.

Courses, assignments, enrollments, progress, submissions, repositories,
playlists and videos are rewritten by the next sync of their integration, so the admin
shows them without letting anyone edit them. Learner identities decide
whose records are whose; an admin may fix a wrong match.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from integrations.providers.slack.admin_actions import create_slack_channels
from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    IssueReport,
    LearnerIdentity,
    Playlist,
    PlaylistItem,
    Progress,
    Repository,
    RepositoryFile,
    Submission,
    Video,
)

SYNCED_FIELDS = (
    "integration",
    "external_id",
    "remote_created_at",
    "remote_updated_at",
    "deleted_at",
    "created_at",
    "updated_at",
)


class DeletedListFilter(admin.SimpleListFilter):
    """Filter synced rows by whether they vanished from their source."""

    title = "in source"
    parameter_name = "in_source"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "Present"), ("no", "Deleted in source")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class SyncedRecordAdmin(admin.ModelAdmin):
    """Show synced rows; syncs write them, so nobody adds or edits them here."""

    list_filter: tuple[Any, ...] = ("integration", DeletedListFilter)
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse adding: the sync engine creates these rows."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse editing: the next sync would overwrite the change."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Let superusers delete rows (a sync brings back what still exists)."""
        return request.user.is_active and request.user.is_superuser


@admin.register(Course)
class CourseAdmin(SyncedRecordAdmin):
    """Courses from every integration."""

    list_display = (
        "title",
        "code",
        "state",
        "integration",
        "external_id",
        "updated_at",
    )
    list_filter = ("state", "integration", DeletedListFilter)
    list_select_related = ("integration",)
    search_fields = ("title", "code", "external_id")
    fields = ("title", "code", "state", "starts_at", "ends_at", "url", *SYNCED_FIELDS)
    actions = (create_slack_channels,)


@admin.register(Assignment)
class AssignmentAdmin(SyncedRecordAdmin):
    """Assignments of every course."""

    list_display = ("title", "course", "due_at", "points_possible", "integration")
    list_select_related = ("course", "integration")
    search_fields = ("title", "external_id", "course__title")
    fields = ("title", "course", "due_at", "points_possible", *SYNCED_FIELDS)


@admin.register(Enrollment)
class EnrollmentAdmin(SyncedRecordAdmin):
    """Who is in which course, with which role."""

    list_display = ("learner", "course", "role", "state", "integration", "updated_at")
    list_filter = ("role", "state", "integration", DeletedListFilter)
    list_select_related = ("learner", "course", "integration")
    search_fields = (
        "learner__username",
        "learner__email",
        "course__title",
        "external_id",
    )
    fields = ("learner", "course", "role", "state", *SYNCED_FIELDS)


@admin.register(Progress)
class ProgressAdmin(SyncedRecordAdmin):
    """Each learner's percent, grade and completion per course."""

    list_display = (
        "learner",
        "course",
        "percent",
        "grade",
        "completed_at",
        "integration",
    )
    list_select_related = ("learner", "course", "integration")
    search_fields = ("learner__username", "learner__email", "course__title")
    fields = ("learner", "course", "percent", "grade", "completed_at", *SYNCED_FIELDS)


@admin.register(Submission)
class SubmissionAdmin(SyncedRecordAdmin):
    """Each learner's latest attempt at each assignment, with its grade."""

    list_display = (
        "learner",
        "assignment",
        "state",
        "submitted_at",
        "attempt",
        "score",
        "late",
        "integration",
    )
    list_filter = ("state", "late", "integration", DeletedListFilter)
    list_select_related = ("learner", "assignment", "integration")
    search_fields = ("learner__username", "learner__email", "assignment__title")
    fields = (
        "learner",
        "assignment",
        "state",
        "submitted_at",
        "attempt",
        "score",
        "grade",
        "late",
        "missing",
        "url",
        *SYNCED_FIELDS,
    )


@admin.register(Repository)
class RepositoryAdmin(SyncedRecordAdmin):
    """Repositories from GitHub integrations, learners' own and admins'."""

    list_display = (
        "full_name",
        "learner",
        "visibility",
        "language",
        "pushed_at",
        "integration",
    )
    list_filter = ("visibility", "archived", "integration", DeletedListFilter)
    list_select_related = ("learner", "integration")
    search_fields = ("full_name", "description", "external_id", "learner__username")
    fields = (
        "full_name",
        "learner",
        "description",
        "url",
        "default_branch",
        "visibility",
        "fork",
        "archived",
        "topics",
        "language",
        "stargazers_count",
        "pushed_at",
        "readme_truncated",
        "readme",
        *SYNCED_FIELDS,
    )


@admin.register(RepositoryFile)
class RepositoryFileAdmin(SyncedRecordAdmin):
    """Files and directories of GitLab projects' default branches."""

    list_display = ("path", "repository", "entry_type", "mode", "short_sha")
    list_filter = ("entry_type", "integration", DeletedListFilter)
    list_select_related = ("repository", "integration")
    search_fields = ("path", "repository__full_name", "sha", "external_id")
    fields = (
        "repository",
        "path",
        "name",
        "entry_type",
        "mode",
        "sha",
        *SYNCED_FIELDS,
    )

    @admin.display(description="SHA", ordering="sha")
    def short_sha(self, entry: RepositoryFile) -> str:
        """Show the git object id as git abbreviates it."""
        return entry.sha[:10]


@admin.register(IssueReport)
class IssueReportAdmin(admin.ModelAdmin):
    """Learners' problem reports and the GitHub issues they became.

    Read-only: the report endpoint and the sweeper write them
    (integrations/providers/github/issues.py).
    """

    list_display = (
        "title",
        "repository",
        "reporter",
        "state",
        "issue_link",
        "attempts",
        "error_code",
        "updated_at",
    )
    list_filter = ("state", "error_code", "repository__integration")
    list_select_related = ("repository", "reporter")
    search_fields = (
        "title",
        "repository__full_name",
        "reporter__username",
        "reporter__email",
        "idempotency_key",
    )
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False
    fields = (
        "title",
        "body",
        "labels",
        "repository",
        "reporter",
        "state",
        "issue_link",
        "issue_number",
        "attempts",
        "error_code",
        "error",
        "idempotency_key",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="Issue", ordering="issue_number")
    def issue_link(self, report: IssueReport) -> str:
        """Link to the issue on GitHub once it is open."""
        if not report.issue_url:
            return "–"
        return format_html(
            '<a href="{}" rel="noopener">#{}</a>', report.issue_url, report.issue_number
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse adding: learners report through the API."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse editing: a report records what was sent to GitHub."""
        return False


@admin.register(Playlist)
class PlaylistAdmin(SyncedRecordAdmin):
    """Playlists from YouTube integrations, the school's and learners' own."""

    list_display = (
        "title",
        "channel_title",
        "privacy_status",
        "item_count",
        "integration",
    )
    list_filter = ("privacy_status", "integration", DeletedListFilter)
    list_select_related = ("integration",)
    search_fields = ("title", "channel_title", "external_id")
    fields = (
        "title",
        "description",
        "channel_id",
        "channel_title",
        "privacy_status",
        "item_count",
        "thumbnail_url",
        "published_at",
        *SYNCED_FIELDS,
    )


@admin.register(PlaylistItem)
class PlaylistItemAdmin(SyncedRecordAdmin):
    """A video's position in a playlist."""

    list_display = ("playlist", "position", "video_external_id", "integration")
    list_filter = ("integration", DeletedListFilter)
    list_select_related = ("playlist", "integration")
    search_fields = ("video_external_id", "playlist__title", "external_id")
    fields = ("playlist", "video_external_id", "position", *SYNCED_FIELDS)


@admin.register(Video)
class VideoAdmin(SyncedRecordAdmin):
    """Videos of the playlists YouTube integrations sync."""

    list_display = (
        "title",
        "channel_title",
        "duration_seconds",
        "view_count",
        "integration",
    )
    list_filter = ("integration", DeletedListFilter)
    list_select_related = ("integration",)
    search_fields = ("title", "channel_title", "external_id")
    fields = (
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
        *SYNCED_FIELDS,
    )


@admin.register(LearnerIdentity)
class LearnerIdentityAdmin(admin.ModelAdmin):
    """Links between portal users and their accounts in each integration."""

    list_display = ("user", "integration", "remote_user_id", "email", "display_name")
    list_filter = ("integration",)
    list_select_related = ("user", "integration")
    search_fields = ("user__username", "user__email", "email", "remote_user_id")
    raw_id_fields = ("user",)
    readonly_fields = ("integration", "remote_user_id", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse adding: syncs create identities as they meet remote users."""
        return False
