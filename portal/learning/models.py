"""What the portal syncs from outside services and serves to front ends.

Every synced row is keyed by (integration, external_id), keeps the remote's
own timestamps, a content hash for change detection, and a ``deleted_at``
mark instead of being dropped when it vanishes from the source.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class SyncedRecord(models.Model):
    """Fields every record synced from an integration carries."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    external_id = models.CharField(max_length=255)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, editable=False)
    seen_in_pass = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Sync pass that last saw this row.",
    )
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        """Tell whether the row vanished from its source."""
        return self.deleted_at is not None


class CourseState(models.TextChoices):
    """The portal's course states, mapped from each LMS's own."""

    UNPUBLISHED = "unpublished", "Unpublished"
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    DELETED = "deleted", "Deleted"


class Course(SyncedRecord):
    """A course in an LMS or another source of learning content."""

    title = models.CharField(max_length=500)
    code = models.CharField(max_length=255, blank=True)
    state = models.CharField(
        max_length=20, choices=CourseState.choices, default=CourseState.ACTIVE
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_course_per_integration",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Assignment(SyncedRecord):
    """A piece of graded work in a course."""

    course = models.ForeignKey(
        Course, on_delete=models.CASCADE, related_name="assignments"
    )
    title = models.CharField(max_length=500)
    due_at = models.DateTimeField(null=True, blank=True)
    points_possible = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_assignment_per_integration",
            )
        ]

    def __str__(self) -> str:
        return self.title


class SubmissionState(models.TextChoices):
    """Where a learner's work on an assignment stands, mapped from each LMS's own."""

    UNSUBMITTED = "unsubmitted", "Unsubmitted"
    SUBMITTED = "submitted", "Submitted"
    GRADED = "graded", "Graded"
    RETURNED = "returned", "Returned for another attempt"


class Submission(SyncedRecord):
    """A learner's submission of an assignment: its state, time, attempt and grade.

    One row per learner and assignment, holding the latest attempt (Canvas's
    submission, Moodle's latest ``assign_submission``); ``submitted_at`` is
    empty while nothing was handed in.
    """

    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="submissions"
    )
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions"
    )
    state = models.CharField(
        max_length=20,
        choices=SubmissionState.choices,
        default=SubmissionState.UNSUBMITTED,
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(null=True, blank=True)
    score = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    grade = models.CharField(max_length=50, blank=True)
    late = models.BooleanField(default=False)
    missing = models.BooleanField(default=False)
    url = models.URLField(max_length=1000, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_submission_per_integration",
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} on {self.assignment} ({self.state})"


class LearnerIdentity(models.Model):
    """Link a portal user to their user id in one integration.

    Records from several LMSs land on the same person through these links;
    the sync engine matches a new remote user to an existing portal user by
    email (docs/sync.md, "Learners").
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="learner_identities",
    )
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    remote_user_id = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "remote_user_id"], name="unique_remote_user"
            )
        ]
        verbose_name_plural = "learner identities"

    def __str__(self) -> str:
        return f"{self.user} in {self.integration_id} as {self.remote_user_id}"


class EnrollmentRole(models.TextChoices):
    """A person's role in a course."""

    STUDENT = "student", "Student"
    TEACHER = "teacher", "Teacher"
    TA = "ta", "Teaching assistant"
    DESIGNER = "designer", "Designer"
    OBSERVER = "observer", "Observer"


class EnrollmentState(models.TextChoices):
    """The state of an enrollment, mapped from each LMS's own."""

    ACTIVE = "active", "Active"
    INVITED = "invited", "Invited"
    COMPLETED = "completed", "Completed"
    INACTIVE = "inactive", "Inactive"
    DELETED = "deleted", "Deleted"


class Enrollment(SyncedRecord):
    """A learner in a course, with a role and a state."""

    course = models.ForeignKey(
        Course, on_delete=models.CASCADE, related_name="enrollments"
    )
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    role = models.CharField(
        max_length=20, choices=EnrollmentRole.choices, default=EnrollmentRole.STUDENT
    )
    state = models.CharField(
        max_length=20, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_enrollment_per_integration",
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} in {self.course} ({self.role})"


class Progress(SyncedRecord):
    """A learner's percent, grade and completion in a course."""

    course = models.ForeignKey(
        Course, on_delete=models.CASCADE, related_name="progress"
    )
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="progress"
    )
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    grade = models.CharField(max_length=50, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "progress"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_progress_per_integration",
            ),
            models.CheckConstraint(
                condition=models.Q(percent__gte=0) & models.Q(percent__lte=100),
                name="progress_percent_between_0_and_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.learner} {self.percent}% in {self.course}"


class RepositoryVisibility(models.TextChoices):
    """Who may see a repository at its host."""

    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private"
    INTERNAL = "internal", "Internal"


class Repository(SyncedRecord):
    """A code repository, e.g. one of a learner's GitHub repositories.

    ``learner`` is the portal user whose own integration synced it (the
    user of the integration's connection), like an enrollment's learner;
    empty for repositories an admin's integration syncs.
    """

    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="repositories",
    )
    full_name = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    owner_login = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    url = models.URLField(max_length=1000, blank=True)
    default_branch = models.CharField(max_length=255, blank=True)
    visibility = models.CharField(
        max_length=20,
        choices=RepositoryVisibility.choices,
        default=RepositoryVisibility.PUBLIC,
    )
    private = models.BooleanField(default=False)
    fork = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    topics = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=100, blank=True)
    stargazers_count = models.PositiveIntegerField(default=0)
    readme = models.TextField(
        blank=True, help_text="The README's text, cut at 100 kB; empty if none."
    )
    readme_truncated = models.BooleanField(default=False)
    readme_read = models.BooleanField(
        default=False,
        help_text="Whether the README was read (not while the integration's "
        "readmes setting is off).",
    )
    pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "repositories"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_repository_per_integration",
            )
        ]

    def __str__(self) -> str:
        return self.full_name


class PrivacyStatus(models.TextChoices):
    """Who may watch a YouTube playlist or video."""

    PUBLIC = "public", "Public"
    UNLISTED = "unlisted", "Unlisted"
    PRIVATE = "private", "Private"


class Playlist(SyncedRecord):
    """A YouTube playlist: the school's channel's, or a learner's own."""

    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    channel_id = models.CharField(max_length=64, blank=True)
    channel_title = models.CharField(max_length=255, blank=True)
    privacy_status = models.CharField(
        max_length=20, choices=PrivacyStatus.choices, default=PrivacyStatus.PUBLIC
    )
    item_count = models.PositiveIntegerField(default=0)
    thumbnail_url = models.URLField(max_length=1000, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_playlist_per_integration",
            )
        ]

    def __str__(self) -> str:
        return self.title


class PlaylistItem(SyncedRecord):
    """A video's place in a playlist; ``external_id`` is YouTube's item id.

    The video is named by its YouTube id rather than a foreign key: items
    are synced before the videos they list, and a private or removed video
    stays in a playlist without ever becoming a Video row.
    """

    playlist = models.ForeignKey(
        Playlist, on_delete=models.CASCADE, related_name="items"
    )
    video_external_id = models.CharField(max_length=64, db_index=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["playlist_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_playlist_item_per_integration",
            )
        ]

    def __str__(self) -> str:
        return f"{self.video_external_id} at {self.position}"


class Video(SyncedRecord):
    """A YouTube video found in a synced playlist.

    The counts are null when YouTube does not give them (a channel may hide
    its likes; a premiere has no views yet).
    """

    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    channel_id = models.CharField(max_length=64, blank=True)
    channel_title = models.CharField(max_length=255, blank=True)
    duration_seconds = models.PositiveIntegerField(
        default=0, help_text="0 for a live broadcast."
    )
    thumbnail_url = models.URLField(max_length=1000, blank=True)
    view_count = models.PositiveBigIntegerField(null=True, blank=True)
    like_count = models.PositiveBigIntegerField(null=True, blank=True)
    comment_count = models.PositiveBigIntegerField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_video_per_integration",
            )
        ]

    def __str__(self) -> str:
        return self.title


class RepositoryFileType(models.TextChoices):
    """Git's kinds of tree entries, as GitLab's repository tree names them."""

    BLOB = "blob", "File"
    TREE = "tree", "Directory"
    COMMIT = "commit", "Submodule"


class RepositoryFile(SyncedRecord):
    """A file or directory in a repository's default branch (GitLab's tree).

    ``external_id`` is ``<project id>:<path>`` (a hash of the path stands in
    when that is longer than 255 characters); ``sha`` is the git object id,
    the same for every copy of identical content. ``entry_type`` is GitLab's
    ``type`` (blob, tree or commit).
    """

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="files"
    )
    path = models.TextField()
    name = models.CharField(max_length=255)
    entry_type = models.CharField(max_length=10, choices=RepositoryFileType.choices)
    mode = models.CharField(max_length=6, blank=True)
    sha = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["repository_id", "path", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                name="unique_repository_file_per_integration",
            )
        ]

    def __str__(self) -> str:
        return self.path


class IssueReportState(models.TextChoices):
    """Where a report stands on its way to an issue at the repository's host."""

    PENDING = "pending", "Pending: not sent yet"
    SENDING = "sending", "Sending: the request may have reached the host"
    CREATED = "created", "Created"
    FAILED = "failed", "Failed: the host refused it"


class IssueReport(models.Model):
    """A learner's report of a problem, opened as an issue in a repository.

    The row is written, with its unique ``idempotency_key``, before the
    request is sent; ``state`` is ``sending`` from then until the host's
    answer is stored, so a retry after an unanswered request searches for
    the issue (by the key's marker in its body) before sending again.
    """

    repository = models.ForeignKey(
        Repository, on_delete=models.CASCADE, related_name="issue_reports"
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    idempotency_key = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=256)
    body = models.TextField(blank=True)
    labels = models.JSONField(default=list, blank=True)
    state = models.CharField(
        max_length=10,
        choices=IssueReportState.choices,
        default=IssueReportState.PENDING,
    )
    attempts = models.PositiveIntegerField(default=0)
    issue_number = models.PositiveIntegerField(null=True, blank=True)
    issue_url = models.URLField(max_length=1000, blank=True)
    issue_api_url = models.URLField(max_length=1000, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title
