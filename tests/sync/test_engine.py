"""The sync engine against a real loopback JSON API, through the REST provider."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations.models import HealthStatus, Integration, SyncRun, SyncStatus
from integrations.sync import leases
from integrations.sync.engine import execute_run
from integrations.sync.runs import (
    SyncInProgress,
    cancel_run,
    enqueue_sync,
    reap_expired_runs,
    requeue_due_runs,
    run_sync_now,
)
from portal.learning.models import (
    Assignment,
    Course,
    Enrollment,
    LearnerIdentity,
    Progress,
)
from tests.fakes.server import Reply
from tests.sync.conftest import make_school_integration

pytestmark = pytest.mark.django_db

STREAMS = ["courses", "assignments", "enrollments", "progress"]


def runs_by_stream(runs: list[SyncRun]) -> dict[str, SyncRun]:
    return {run.stream: run for run in runs}


def test_first_sync_stores_every_stream_in_dependency_order(integration, school):
    runs = runs_by_stream(run_sync_now(integration))

    assert list(runs) == STREAMS
    assert all(run.status == SyncStatus.SUCCEEDED for run in runs.values())
    assert runs["courses"].pages == 3
    assert runs["courses"].created == 12 == Course.objects.count()
    assert runs["assignments"].created == Assignment.objects.count() == 4
    assert Enrollment.objects.count() == runs["enrollments"].created == 4
    assert Progress.objects.count() == runs["progress"].created
    assert runs["courses"].cursor is None
    assert runs["courses"].pass_number == runs["courses"].pk
    course = Course.objects.get(external_id="1001")
    assert course.integration == integration
    assert course.content_hash
    assert course.assignments.count() >= 1


def test_unchanged_resync_rewrites_nothing(integration, school):
    run_sync_now(integration)
    stamps = dict(Course.objects.values_list("external_id", "updated_at"))

    runs = runs_by_stream(run_sync_now(integration))

    assert runs["courses"].unchanged == 12
    assert runs["courses"].created == runs["courses"].updated == 0
    assert runs["courses"].deleted == 0
    assert dict(Course.objects.values_list("external_id", "updated_at")) == stamps


def test_changed_record_is_updated_and_others_skipped(integration, school):
    run_sync_now(integration, streams=["courses"])
    school.update("courses", 1001, name="Organic Chemistry II")

    run = run_sync_now(integration, streams=["courses"])[0]

    assert (run.updated, run.unchanged, run.created) == (1, 11, 0)
    assert Course.objects.get(external_id="1001").title == "Organic Chemistry II"


def test_vanished_record_is_marked_deleted_and_restored_when_back(integration, school):
    run_sync_now(integration, streams=["courses"])
    gone = school.items("courses")[-1]
    school.delete("courses", gone["id"])

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.deleted == 1
    row = Course.objects.get(external_id=str(gone["id"]))
    assert row.deleted_at is not None
    assert Course.objects.count() == 12

    school.add("courses", gone)
    run = run_sync_now(integration, streams=["courses"])[0]
    row.refresh_from_db()
    assert row.deleted_at is None
    assert run.updated == 1


def test_full_resync_rewrites_every_row(integration, school):
    run_sync_now(integration, streams=["courses"])

    run = run_sync_now(integration, streams=["courses"], full=True)[0]

    assert run.full
    assert run.updated == 12
    assert run.unchanged == 0


def test_failed_page_keeps_committed_pages_and_next_run_resumes(integration, school):
    run_sync_now(integration, streams=["courses"])
    school.delete("courses", 9008)
    fail_courses_after_first_page(school)

    failed = run_sync_now(integration, streams=["courses"])[0]

    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "transient_error"
    assert failed.pages == 1
    assert failed.cursor is not None
    assert not Course.objects.filter(deleted_at__isnull=False).exists()

    school.route("*", COURSES_ROUTE, school._serve)
    resumed = run_sync_now(integration, streams=["courses"])[0]

    assert resumed.status == SyncStatus.SUCCEEDED
    assert resumed.resumed_from_id == failed.pk
    assert resumed.pass_number == failed.pass_number
    assert resumed.pages == 2
    assert resumed.deleted == 1
    assert Course.objects.get(external_id="9008").deleted_at is not None
    assert Course.objects.filter(deleted_at__isnull=True).count() == 11


COURSES_ROUTE = re.compile(r"/api/(?P<collection>courses)")


def fail_courses_after_first_page(school) -> None:
    """Answer the first courses page, then 503 to every later courses request."""
    calls = {"count": 0}

    def serve(request):
        calls["count"] += 1
        if calls["count"] > 1:
            return Reply.json({"errors": [{"message": "Service Unavailable"}]}, 503)
        return school._serve(request)

    school.route("*", COURSES_ROUTE, serve)


def test_auth_failure_fails_at_once_and_marks_integration_unhealthy(
    integration, school
):
    school.token = "a-different-token-0000"

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.status == SyncStatus.FAILED
    assert run.error_code == "authentication_failed"
    assert school.request_count("/api/courses") == 1
    integration.refresh_from_db()
    assert integration.health_status == HealthStatus.UNHEALTHY
    assert "uthentication" in integration.health_error


def test_rate_limit_far_away_requeues_the_run_for_later(integration, school):
    school.fail_next(
        429, times=10, headers={"Retry-After": "3600"}, path="/api/courses"
    )

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.status == SyncStatus.QUEUED
    assert run.error_code == "rate_limited"
    assert run.next_attempt_at > timezone.now() + timedelta(minutes=50)


def test_second_sync_of_busy_integration_is_refused(integration, school):
    assert leases.acquire(integration.pk, "someone-else")

    with pytest.raises(SyncInProgress, match="already running"):
        run_sync_now(integration)
    assert not SyncRun.objects.exists()


def test_worker_finding_integration_busy_leaves_run_queued(
    integration, school, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        run = enqueue_sync(integration, streams=["courses"])[0]
    assert leases.acquire(integration.pk, "other-worker")

    result = execute_run(run.pk, owner="worker-2")

    assert result.status == SyncStatus.QUEUED
    assert result.offered_at is None
    assert Course.objects.count() == 0


def test_execute_run_drains_queue_in_order_and_ignores_duplicates(
    integration, school, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        runs = enqueue_sync(integration)
    assert len(callbacks) == 1

    # The message of the last stream arrives first: the worker still syncs
    # courses before the records that refer to them.
    execute_run(runs[-1].pk, owner="worker-1")
    again = execute_run(runs[-1].pk, owner="worker-1")

    statuses = dict(SyncRun.objects.values_list("stream", "status"))
    assert statuses == {name: SyncStatus.SUCCEEDED for name in STREAMS}
    assert again.status == SyncStatus.SUCCEEDED
    assert SyncRun.objects.count() == 4
    assert leases.holder(integration.pk) == ""


def test_enqueue_twice_does_not_queue_a_stream_twice(
    integration, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first = enqueue_sync(integration)
        second = enqueue_sync(integration)

    assert [run.pk for run in first] == [run.pk for run in second]
    assert SyncRun.objects.count() == 4


def test_unknown_stream_is_a_clear_error(integration):
    from integrations.errors import ConfigurationError

    with pytest.raises(
        ConfigurationError, match="no stream 'grades'; streams: courses"
    ):
        enqueue_sync(integration, streams=["grades"])


def test_reaper_resumes_a_run_whose_worker_died(
    integration, school, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        run = enqueue_sync(integration, streams=["courses"])[0]
    past = timezone.now() - timedelta(seconds=5)
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncStatus.RUNNING,
        lease_owner="dead-worker",
        lease_expires_at=past,
        pass_number=run.pk,
        cursor={"url": school.collection_url("courses") + "?page=2"},
        attempts=1,
    )
    Integration.objects.filter(pk=integration.pk).update(
        sync_lease_owner="dead-worker", sync_lease_expires_at=past
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resumed = reap_expired_runs()

    run.refresh_from_db()
    assert run.status == SyncStatus.FAILED
    assert run.error_code == "worker_lost"
    assert len(resumed) == 1 and len(callbacks) == 1
    new_run = resumed[0]
    assert new_run.resumed_from_id == run.pk
    assert new_run.pass_number == run.pk
    assert new_run.cursor == run.cursor

    execute_run(new_run.pk, owner="worker-3")
    new_run.refresh_from_db()
    assert new_run.status == SyncStatus.SUCCEEDED
    assert new_run.pages == 2


def test_sweeper_offers_due_and_lost_runs_once(
    integration, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        runs = enqueue_sync(integration)
    long_ago = timezone.now() - timedelta(hours=1)
    SyncRun.objects.filter(pk=runs[0].pk).update(offered_at=long_ago)
    SyncRun.objects.filter(pk=runs[1].pk).update(offered_at=None)
    SyncRun.objects.filter(pk=runs[2].pk).update(
        offered_at=None, next_attempt_at=timezone.now() + timedelta(hours=1)
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        offered = requeue_due_runs()
    with django_capture_on_commit_callbacks(execute=False):
        offered_again = requeue_due_runs()

    assert offered == 2
    assert len(callbacks) == 1
    assert offered_again == 0


def test_cancelled_run_is_not_executed(integration, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = enqueue_sync(integration, streams=["courses"])[0]

    assert cancel_run(run)
    result = execute_run(run.pk, owner="worker-1")

    assert result.status == SyncStatus.CANCELLED
    assert Course.objects.count() == 0


def test_progress_callback_sees_counts_grow(integration, school, settings):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1  # every page its own batch
    seen: list[tuple[str, int, int]] = []

    run_sync_now(
        integration,
        streams=["courses"],
        progress=lambda run: seen.append((run.status, run.pages, run.fetched)),
    )

    assert seen[:3] == [
        (SyncStatus.RUNNING, 1, 5),
        (SyncStatus.RUNNING, 2, 10),
        (SyncStatus.RUNNING, 3, 12),
    ]
    assert seen[-1][0] == SyncStatus.SUCCEEDED


def test_same_learner_in_two_integrations_is_one_user(db, school):
    first = make_school_integration(school, "school-a")
    second = make_school_integration(school, "school-b")

    run_sync_now(first)
    run_sync_now(second)

    users = get_user_model().objects.filter(email="m.lopez@school.example.edu")
    assert users.count() == 1
    assert LearnerIdentity.objects.filter(user=users.get()).count() == 2
    enrollments = Enrollment.objects.filter(learner=users.get())
    assert enrollments.filter(integration=first).count() == 2
    assert enrollments.filter(integration=second).count() == 2


def test_learner_matching_by_email_can_be_turned_off(db, school, settings):
    settings.PORTAL_LEARNER_MATCH = "none"
    run_sync_now(make_school_integration(school, "school-a"))
    run_sync_now(make_school_integration(school, "school-b"))

    assert (
        LearnerIdentity.objects.values("user").distinct().count()
        == LearnerIdentity.objects.count()
    )


def test_record_referring_to_unknown_course_is_counted_as_failed(integration, school):
    school.add(
        "assignments",
        {
            "id": 777,
            "course_id": 424242,
            "name": "Orphan",
            "updated_at": "2025-01-01T00:00:00Z",
        },
    )
    run_sync_now(integration, streams=["courses"])

    run = run_sync_now(integration, streams=["assignments"])[0]

    assert run.status == SyncStatus.SUCCEEDED
    assert run.failed == 1
    assert run.failures[0]["external_id"] == "777"
    assert "424242" in run.failures[0]["reason"]


def test_unverified_signup_email_does_not_capture_a_learners_records(db, school):
    mallory = get_user_model().objects.create(
        username="mallory", email="m.lopez@school.example.edu"
    )

    run_sync_now(make_school_integration(school))

    identity = LearnerIdentity.objects.get(remote_user_id="501")
    assert identity.user != mallory
    assert not Enrollment.objects.filter(learner=mallory).exists()


def test_staff_account_is_never_matched_by_email(db, school):
    from allauth.account.models import EmailAddress

    staff = get_user_model().objects.create(
        username="teacher", email="m.lopez@school.example.edu", is_staff=True
    )
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True)

    run_sync_now(make_school_integration(school))

    assert LearnerIdentity.objects.get(remote_user_id="501").user != staff


def test_verified_email_links_the_learner_to_their_account(db, school):
    from allauth.account.models import EmailAddress

    maria = get_user_model().objects.create(
        username="maria", email="M.Lopez@school.example.edu"
    )
    EmailAddress.objects.create(user=maria, email=maria.email, verified=True)

    run_sync_now(make_school_integration(school))

    assert LearnerIdentity.objects.get(remote_user_id="501").user == maria


def test_username_taken_by_someone_else_gets_a_new_account_not_theirs(db, school):
    squatter = get_user_model().objects.create(username="m.lopez@school.example.edu")

    run_sync_now(make_school_integration(school))

    learner = LearnerIdentity.objects.get(remote_user_id="501").user
    assert learner != squatter
    assert learner.username.startswith("m.lopez@school.example.edu-")


def test_non_http_course_url_is_never_stored(integration, school):
    school.update("courses", 1001, html_url="javascript:alert(document.cookie)")

    run_sync_now(integration, streams=["courses"])

    assert Course.objects.get(external_id="1001").url == ""


def test_over_long_value_fails_one_record_not_the_page(integration, school):
    school.update("courses", 1001, name="x" * 501)

    run = run_sync_now(integration, streams=["courses"])[0]

    assert run.status == SyncStatus.SUCCEEDED
    assert run.failed == 1
    assert "title is longer than 500" in run.failures[0]["reason"]
    assert Course.objects.count() == 11


def test_interrupted_cli_sync_leaves_nothing_queued_and_resumes_next_time(
    integration, school, settings
):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1  # every page its own batch

    def interrupt_after_first_page(run):
        if run.pages == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sync_now(integration, progress=interrupt_after_first_page)

    statuses = set(SyncRun.objects.values_list("status", flat=True))
    assert statuses == {SyncStatus.CANCELLED}
    assert leases.holder(integration.pk) == ""
    interrupted = SyncRun.objects.get(stream="courses")
    assert interrupted.error_code == "interrupted"

    resumed = runs_by_stream(run_sync_now(integration))["courses"]

    assert resumed.resumed_from_id == interrupted.pk
    assert resumed.pages == 2
    assert Course.objects.filter(deleted_at__isnull=True).count() == 12


def test_stale_resume_after_a_newer_complete_pass_is_cancelled(
    integration, school, django_capture_on_commit_callbacks
):
    first = run_sync_now(integration, streams=["courses"])[0]
    run_sync_now(integration, streams=["courses"])  # a newer, complete pass
    # Queued after the newer pass (a command would take it over), but resuming
    # the first pass, whose place in the queue it keeps.
    stale = SyncRun.objects.create(
        integration=integration,
        stream="courses",
        resumed_from=first,
        pass_number=first.pk,
        cursor={"url": school.collection_url("courses") + "?page=3"},
        created_at=first.created_at,
    )

    result = execute_run(stale.pk, owner="late-worker")

    assert result.status == SyncStatus.CANCELLED
    assert result.error_code == "superseded"
    assert not Course.objects.filter(deleted_at__isnull=False).exists()


def test_cli_sync_resumes_a_run_left_running_by_a_killed_process(integration, school):
    dead = SyncRun.objects.create(
        integration=integration,
        stream="courses",
        status=SyncStatus.RUNNING,
        lease_owner="killed",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        cursor={"url": school.collection_url("courses") + "?page=2"},
        attempts=1,
    )
    SyncRun.objects.filter(pk=dead.pk).update(pass_number=dead.pk)

    [run] = run_sync_now(integration, streams=["courses"])

    dead.refresh_from_db()
    assert dead.status == SyncStatus.FAILED and dead.error_code == "worker_lost"
    assert not SyncRun.objects.filter(status=SyncStatus.RUNNING).exists()
    # The reaper's resumption is the run the command executed, not a second.
    assert (run.resumed_from_id, run.pass_number, run.pages) == (dead.pk, dead.pk, 2)
    assert SyncRun.objects.count() == 2


def rate_limit_after_first_page(school):
    """Return a progress callback that makes the service throttle after page 1."""
    throttled = []

    def throttle(run):
        # Called once more when the run ends, still at one page.
        if run.pages == 1 and not throttled:
            throttled.append(run.pk)
            school.fail_next(429, headers={"Retry-After": "3600"}, path="/api/courses")

    return throttle


def test_cli_sync_takes_over_the_run_a_rate_limit_left_queued(
    integration, school, settings, django_capture_on_commit_callbacks
):
    settings.INTEGRATIONS_SYNC_BATCH_RECORDS = 1  # every page its own batch
    # A course a page: the pages prefetched while the first is stored leave
    # most of them to be refused.
    school.max_page_size = 1
    throttle = rate_limit_after_first_page(school)
    [limited] = run_sync_now(integration, streams=["courses"], progress=throttle)
    assert (limited.status, limited.error_code) == (SyncStatus.QUEUED, "rate_limited")
    assert limited.cursor

    [run] = run_sync_now(integration, streams=["courses"])
    requests = school.request_count()
    with django_capture_on_commit_callbacks(execute=False) as sends:
        swept = requeue_due_runs()
    late = execute_run(limited.pk, owner="late-worker")

    assert run.pk == limited.pk
    assert (run.status, run.pass_number, run.attempts) == (
        SyncStatus.SUCCEEDED,
        limited.pk,
        2,
    )
    assert SyncRun.objects.count() == 1
    assert (swept, len(sends), late.status) == (0, 0, SyncStatus.SUCCEEDED)
    assert school.request_count() == requests
    assert Course.objects.filter(deleted_at__isnull=True).count() == 12


def test_cli_sync_runs_the_queued_run_of_a_stream_the_workers_have_not_taken(
    integration, school, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        queued = runs_by_stream(enqueue_sync(integration, trigger="schedule"))

    done = runs_by_stream(run_sync_now(integration, streams=["courses"]))

    assert done["courses"].pk == queued["courses"].pk
    assert done["courses"].status == SyncStatus.SUCCEEDED
    assert done["courses"].trigger == "schedule"
    others = SyncRun.objects.exclude(stream="courses")
    assert set(others.values_list("status", flat=True)) == {SyncStatus.QUEUED}
    assert SyncRun.objects.count() == 4


def test_full_cli_sync_replaces_a_queued_incremental_run(
    integration, school, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        [queued] = enqueue_sync(integration, streams=["courses"])

    [run] = run_sync_now(integration, streams=["courses"], full=True)

    queued.refresh_from_db()
    assert run.pk != queued.pk
    assert (run.status, run.full) == (SyncStatus.SUCCEEDED, True)
    assert (queued.status, queued.error_code) == (SyncStatus.CANCELLED, "superseded")
    assert "command line replaced it" in queued.error_summary


def test_interrupted_cli_sync_hands_back_queued_runs_it_did_not_reach(
    integration, school, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        queued = runs_by_stream(enqueue_sync(integration))

    def interrupt_in_courses(run):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sync_now(integration, progress=interrupt_in_courses)

    statuses = {
        run.stream: (run.status, run.offered_at)
        for run in SyncRun.objects.filter(pk__in=[run.pk for run in queued.values()])
    }
    assert statuses.pop("courses")[0] == SyncStatus.CANCELLED
    assert statuses == {name: (SyncStatus.QUEUED, None) for name in STREAMS[1:]}
    assert SyncRun.objects.count() == 4
    with django_capture_on_commit_callbacks(execute=False) as sends:
        assert requeue_due_runs() == 3
    assert len(sends) == 1


def test_progress_reported_in_the_portal_is_never_marked_deleted_by_a_sync(
    integration, school
):
    run_sync_now(integration)
    course = Course.objects.get(external_id="1001")
    learner = get_user_model().objects.create(username="self-reporter")
    reported = Progress.objects.create(
        integration=integration,
        external_id=f"portal:{course.pk}:{learner.pk}",
        course=course,
        learner=learner,
        percent=50,
    )

    run = runs_by_stream(run_sync_now(integration))["progress"]

    assert run.deleted == 0
    reported.refresh_from_db()
    assert reported.deleted_at is None
