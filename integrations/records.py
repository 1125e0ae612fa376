"""Normalized records: what a stream yields and the sync engine stores.

Dates are timezone-aware datetimes or None; ids are strings. A record's
``external_id`` is unique within its integration and record type.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, NotRequired, TypedDict


class LearnerRef(TypedDict):
    """A person as a remote service knows them."""

    remote_user_id: str
    email: NotRequired[str]
    name: NotRequired[str]


class CourseRecord(TypedDict):
    """A course, normalized."""

    type: Literal["course"]
    external_id: str
    title: str
    code: NotRequired[str]
    state: NotRequired[str]
    starts_at: NotRequired[datetime | None]
    ends_at: NotRequired[datetime | None]
    url: NotRequired[str]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class AssignmentRecord(TypedDict):
    """An assignment of a course, normalized."""

    type: Literal["assignment"]
    external_id: str
    course_external_id: str
    title: str
    due_at: NotRequired[datetime | None]
    points_possible: NotRequired[Decimal | None]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class EnrollmentRecord(TypedDict):
    """A learner's enrollment in a course, normalized."""

    type: Literal["enrollment"]
    external_id: str
    course_external_id: str
    learner: LearnerRef
    role: NotRequired[str]
    state: NotRequired[str]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class ProgressRecord(TypedDict):
    """A learner's progress in a course, normalized."""

    type: Literal["progress"]
    external_id: str
    course_external_id: str
    learner: LearnerRef
    percent: NotRequired[Decimal]
    grade: NotRequired[str]
    completed_at: NotRequired[datetime | None]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class SubmissionRecord(TypedDict):
    """A learner's submission of an assignment (its latest attempt), normalized.

    ``state`` is one of unsubmitted, submitted, graded, returned;
    ``submitted_at`` is None while nothing was handed in.
    """

    type: Literal["submission"]
    external_id: str
    assignment_external_id: str
    learner: LearnerRef
    state: str
    submitted_at: NotRequired[datetime | None]
    attempt: NotRequired[int | None]
    score: NotRequired[Decimal | None]
    grade: NotRequired[str]
    late: NotRequired[bool]
    missing: NotRequired[bool]
    url: NotRequired[str]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class RepositoryRecord(TypedDict):
    """A code repository (GitHub, GitLab), normalized.

    ``readme`` is the README's text as stored, at most README_MAX_BYTES of
    UTF-8 (``readme_truncated`` says whether it was cut); empty when the
    repository has none; ``readme_read`` is False when it was not read.
    """

    type: Literal["repository"]
    external_id: str
    full_name: str
    name: str
    owner_login: str
    description: NotRequired[str]
    url: NotRequired[str]
    default_branch: NotRequired[str]
    visibility: NotRequired[str]
    private: NotRequired[bool]
    fork: NotRequired[bool]
    archived: NotRequired[bool]
    topics: NotRequired[list[str]]
    language: NotRequired[str]
    stargazers_count: NotRequired[int]
    readme: NotRequired[str]
    readme_truncated: NotRequired[bool]
    readme_read: NotRequired[bool]
    pushed_at: NotRequired[datetime | None]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class RepositoryFileRecord(TypedDict):
    """A file or directory of a repository's tree (GitLab), normalized."""

    type: Literal["repository_file"]
    external_id: str
    repository_external_id: str
    path: str
    name: str
    entry_type: str
    mode: NotRequired[str]
    sha: NotRequired[str]


class PlaylistRecord(TypedDict):
    """A YouTube playlist, normalized."""

    type: Literal["playlist"]
    external_id: str
    title: str
    description: NotRequired[str]
    channel_id: NotRequired[str]
    channel_title: NotRequired[str]
    privacy_status: NotRequired[str]
    item_count: NotRequired[int]
    thumbnail_url: NotRequired[str]
    published_at: NotRequired[datetime | None]


class PlaylistItemRecord(TypedDict):
    """A video's position in a playlist (YouTube's playlistItem), normalized."""

    type: Literal["playlist_item"]
    external_id: str
    playlist_external_id: str
    video_external_id: str
    position: int


class VideoRecord(TypedDict):
    """A YouTube video, normalized; a count is None when YouTube hides it."""

    type: Literal["video"]
    external_id: str
    title: str
    description: NotRequired[str]
    channel_id: NotRequired[str]
    channel_title: NotRequired[str]
    duration_seconds: NotRequired[int]
    thumbnail_url: NotRequired[str]
    view_count: NotRequired[int | None]
    like_count: NotRequired[int | None]
    comment_count: NotRequired[int | None]
    published_at: NotRequired[datetime | None]
    url: NotRequired[str]


Record = (
    CourseRecord
    | AssignmentRecord
    | EnrollmentRecord
    | ProgressRecord
    | SubmissionRecord
    | RepositoryRecord
    | RepositoryFileRecord
    | PlaylistRecord
    | PlaylistItemRecord
    | VideoRecord
)

RECORD_TYPES = (
    "course",
    "assignment",
    "enrollment",
    "progress",
    "submission",
    "repository",
    "repository_file",
    "playlist",
    "playlist_item",
    "video",
)
#: The most README bytes a repository row keeps (docs/providers/github.md).
README_MAX_BYTES = 100 * 1024


# --- Quizzes of an LMS (stored by portal.assessment) ------------------------


class QuizRecord(TypedDict):
    """A quiz an LMS course has (Canvas classic quiz, Moodle quiz), normalized."""

    type: Literal["quiz"]
    external_id: str
    course_external_id: str
    title: str
    description: NotRequired[str]
    published: bool
    points_possible: NotRequired[Decimal | None]
    time_limit_minutes: NotRequired[int | None]
    due_at: NotRequired[datetime | None]
    url: NotRequired[str]


class QuizResultRecord(TypedDict):
    """A learner's scored submission of a quiz, normalized.

    ``state`` is ``complete`` or ``pending_review`` (a grader still has
    questions to mark, so the score may rise).
    """

    type: Literal["quiz_result"]
    external_id: str
    quiz_external_id: str
    learner: LearnerRef
    score: Decimal
    max_score: Decimal
    state: str
    submitted_at: datetime
    attempt: NotRequired[int | None]
    answers: NotRequired[list | dict]
