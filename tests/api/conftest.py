"""Fixtures of the REST API tests: two learners, staff, and their courses.

The world, by learner:

- learner A: enrolled in ``course_a`` and ``shared``; progress in both;
  also enrolled in ``deleted_course`` (a course gone from its LMS) and in
  ``dropped`` through an enrollment that is itself deleted.
- learner B: enrolled in ``course_b`` and ``shared``; progress in both.
- nobody is enrolled in ``lonely``.
- repositories: two of learner A's (one of them deleted) from A's own
  GitHub integration, one of learner B's from B's, and one from an admin's
  GitHub integration, which belongs to no learner.
- YouTube: the school's playlist with two videos (one deleted) from an
  integration with an API key; learner A's private playlist with a video
  from A's Google connection, and learner B's from B's.

Courses come from ``lms`` (a provider that can write back) except
``course_b``, which comes from ``moodle``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from integrations import registry
from integrations.models import Integration
from integrations.providers.base import HealthReport, Provider
from portal.accounts.models import Connection
from portal.api.models import ApiToken
from portal.learning.models import (
    Assignment,
    Course,
    CourseState,
    Enrollment,
    EnrollmentRole,
    Playlist,
    PlaylistItem,
    Progress,
    Repository,
    RepositoryVisibility,
    Video,
)

WRITE_BACK_SLUG = "apitest-lms"


class WriteBackLms(Provider):
    """A provider that can write progress back; its push is never run here."""

    slug = WRITE_BACK_SLUG
    title = "API test LMS"
    requires_base_url = False
    supports_write_back = True

    def streams(self, integration: Integration) -> list:
        """Return no streams: these tests create rows directly."""
        return []

    def check_health(self, integration: Integration, client: Any) -> HealthReport:
        """Report healthy without a call."""
        return HealthReport(status="healthy")

    def push_progress(self, integration: Integration, client: Any, progress: Any):
        """Return what would be pushed."""
        return {"progress": progress.pk}


@pytest.fixture
def write_back_provider() -> Iterator[type[Provider]]:
    """Register the write-back test provider for one test."""
    registry.register(WriteBackLms)
    yield WriteBackLms
    registry._providers.pop(WRITE_BACK_SLUG, None)


@dataclass
class World:
    """Everything the API tests read and write."""

    lms: Integration
    moodle: Integration
    learner_a: Any
    learner_b: Any
    staff: Any
    course_a: Course
    course_b: Course
    shared: Course
    lonely: Course
    deleted_course: Course
    dropped: Course
    assignment_a: Assignment
    assignment_b: Assignment
    assignment_shared: Assignment
    enrollment_a: Enrollment
    enrollment_b: Enrollment
    enrollment_shared_a: Enrollment
    enrollment_shared_b: Enrollment
    progress_a: Progress
    progress_b: Progress
    progress_shared_a: Progress
    progress_shared_b: Progress
    repository_a: Repository
    repository_b: Repository
    repository_admin: Repository
    playlist_school: Playlist
    playlist_a: Playlist
    playlist_b: Playlist
    video_school: Video
    video_a: Video
    video_b: Video


def make_course(integration: Integration, external_id: str, **values: Any) -> Course:
    """Create a synced course."""
    values.setdefault("title", f"Course {external_id}")
    return Course.objects.create(
        integration=integration, external_id=external_id, content_hash="h", **values
    )


def make_assignment(course: Course, external_id: str, **values: Any) -> Assignment:
    """Create a synced assignment of ``course``."""
    values.setdefault("title", f"Assignment {external_id}")
    return Assignment.objects.create(
        integration=course.integration,
        course=course,
        external_id=external_id,
        content_hash="h",
        **values,
    )


def make_enrollment(course: Course, learner: Any, **values: Any) -> Enrollment:
    """Create a synced enrollment of ``learner`` in ``course``."""
    return Enrollment.objects.create(
        integration=course.integration,
        course=course,
        learner=learner,
        external_id=f"e-{course.external_id}-{learner.pk}",
        content_hash="h",
        **values,
    )


def make_progress(course: Course, learner: Any, **values: Any) -> Progress:
    """Create synced progress of ``learner`` in ``course``."""
    values.setdefault("percent", Decimal("10.00"))
    return Progress.objects.create(
        integration=course.integration,
        course=course,
        learner=learner,
        external_id=f"p-{course.external_id}-{learner.pk}",
        content_hash="h",
        **values,
    )


def make_repository(
    integration: Integration, external_id: str, learner: Any = None, **values: Any
) -> Repository:
    """Create a synced repository of ``learner`` (None: an admin's)."""
    name = values.pop("name", f"repo-{external_id}")
    owner = values.pop("owner_login", learner.username if learner else "school")
    return Repository.objects.create(
        integration=integration,
        external_id=external_id,
        learner=learner,
        name=name,
        owner_login=owner,
        full_name=f"{owner}/{name}",
        content_hash="h",
        **values,
    )


def make_google_integration(user: Any) -> Integration:
    """Create ``user``'s Google connection and its YouTube learner integration."""
    account = SocialAccount.objects.create(
        user=user, provider="google", uid=f"g-{user.pk}"
    )
    connection = Connection.objects.create(
        user=user, social_account=account, provider="google", uid=account.uid
    )
    return Integration.objects.create(
        name=f"learner-{user.pk}-google",
        provider="youtube",
        connection=connection,
        settings={"mine": True},
    )


def make_playlist(
    integration: Integration, external_id: str, *video_ids: str, **values: Any
) -> Playlist:
    """Create a synced playlist holding the videos ``video_ids``, in order."""
    values.setdefault("title", f"Playlist {external_id}")
    playlist = Playlist.objects.create(
        integration=integration, external_id=external_id, content_hash="h", **values
    )
    for position, video_id in enumerate(video_ids):
        PlaylistItem.objects.create(
            integration=integration,
            external_id=f"{external_id}-{position}",
            playlist=playlist,
            video_external_id=video_id,
            position=position,
            content_hash="h",
        )
    return playlist


def make_video(integration: Integration, external_id: str, **values: Any) -> Video:
    """Create a synced video."""
    values.setdefault("title", f"Video {external_id}")
    values.setdefault("url", f"https://www.youtube.com/watch?v={external_id}")
    return Video.objects.create(
        integration=integration, external_id=external_id, content_hash="h", **values
    )


@pytest.fixture
def world(db, write_back_provider) -> World:
    """Create the two learners, staff, courses and their records."""
    users = get_user_model().objects
    learner_a = users.create_user("learner-a", "a@example.edu", "pw-a-123456")
    learner_b = users.create_user("learner-b", "b@example.edu", "pw-b-123456")
    staff = users.create_user(
        "staff", "staff@example.edu", "pw-s-123456", is_staff=True
    )
    lms = Integration.objects.create(name="lms-main", provider=WRITE_BACK_SLUG)
    moodle = Integration.objects.create(name="moodle-main", provider="rest")

    course_a = make_course(lms, "101", code="A-101", state=CourseState.ACTIVE)
    course_b = make_course(moodle, "201", code="B-201", state=CourseState.COMPLETED)
    shared = make_course(lms, "301", code="S-301")
    lonely = make_course(lms, "401", code="L-401")
    deleted_course = make_course(lms, "501", deleted_at=timezone.now())
    dropped = make_course(lms, "601")

    assignment_a = make_assignment(course_a, "a1", points_possible=Decimal("10"))
    assignment_b = make_assignment(course_b, "b1")
    assignment_shared = make_assignment(shared, "s1")
    make_assignment(lonely, "l1")

    enrollment_a = make_enrollment(course_a, learner_a)
    enrollment_b = make_enrollment(course_b, learner_b)
    enrollment_shared_a = make_enrollment(shared, learner_a)
    enrollment_shared_b = make_enrollment(shared, learner_b, role=EnrollmentRole.TA)
    make_enrollment(deleted_course, learner_a)
    make_enrollment(dropped, learner_a, deleted_at=timezone.now())

    github_a = Integration.objects.create(
        name=f"learner-{learner_a.pk}-github", provider="github"
    )
    github_b = Integration.objects.create(
        name=f"learner-{learner_b.pk}-github", provider="github"
    )
    github_school = Integration.objects.create(name="github-school", provider="github")
    repository_a = make_repository(
        github_a,
        "9001",
        learner_a,
        topics=["python"],
        stargazers_count=3,
        readme="# A\n",
    )
    make_repository(github_a, "9002", learner_a, deleted_at=timezone.now())
    repository_b = make_repository(
        github_b,
        "9101",
        learner_b,
        private=True,
        visibility=RepositoryVisibility.PRIVATE,
    )
    repository_admin = make_repository(github_school, "9201")

    youtube_school = Integration.objects.create(
        name="youtube-school",
        provider="youtube",
        settings={"channel_id": "UC" + "s" * 22},
    )
    youtube_a = make_google_integration(learner_a)
    youtube_b = make_google_integration(learner_b)
    playlist_school = make_playlist(youtube_school, "PLschool", "vid-s1", "vid-s2")
    video_school = make_video(youtube_school, "vid-s1", duration_seconds=253)
    make_video(youtube_school, "vid-s2", deleted_at=timezone.now())
    playlist_a = make_playlist(youtube_a, "PLa", "vid-a1", privacy_status="private")
    video_a = make_video(youtube_a, "vid-a1", view_count=12)
    playlist_b = make_playlist(youtube_b, "PLb", "vid-b1", privacy_status="private")
    video_b = make_video(youtube_b, "vid-b1")

    return World(
        lms=lms,
        moodle=moodle,
        learner_a=learner_a,
        learner_b=learner_b,
        staff=staff,
        course_a=course_a,
        course_b=course_b,
        shared=shared,
        lonely=lonely,
        deleted_course=deleted_course,
        dropped=dropped,
        assignment_a=assignment_a,
        assignment_b=assignment_b,
        assignment_shared=assignment_shared,
        enrollment_a=enrollment_a,
        enrollment_b=enrollment_b,
        enrollment_shared_a=enrollment_shared_a,
        enrollment_shared_b=enrollment_shared_b,
        progress_a=make_progress(course_a, learner_a, percent=Decimal("40")),
        progress_b=make_progress(course_b, learner_b, percent=Decimal("70")),
        progress_shared_a=make_progress(shared, learner_a),
        progress_shared_b=make_progress(shared, learner_b, grade="B+"),
        repository_a=repository_a,
        repository_b=repository_b,
        repository_admin=repository_admin,
        playlist_school=playlist_school,
        playlist_a=playlist_a,
        playlist_b=playlist_b,
        video_school=video_school,
        video_a=video_a,
        video_b=video_b,
    )


@pytest.fixture
def client_for():
    """Return a factory of API clients signed in as a user (or anonymous)."""

    def make(user: Any = None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def token_client(leakcheck):
    """Return a factory of API clients that send a new bearer token of a user.

    The token is registered with the leak checker: no response may show it.
    """

    def make(user: Any, name: str = "test token") -> tuple[APIClient, ApiToken]:
        row, token = ApiToken.objects.issue(user, name)
        leakcheck.secret(token)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client, row

    return make
