"""The quiz platform's results through the sync engine: runs, schedule, resume."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from integrations.declarative import apply_file
from integrations.models import Integration, SyncRun, SyncStatus
from integrations.sync.engine import execute_run
from integrations.sync.runs import run_sync_now
from integrations.tasks import sync_integration
from portal.assessment.models import Quiz, QuizOrigin, QuizResult
from portal.assessment.publish import publish_quiz
from portal.events.models import Event
from portal.learning.models import Progress
from tests.assessment.test_results import submission
from tests.fakes.quiz_platform import RESULTS
from tests.fakes.server import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(fake, platform, quiz, link_learners):
    publish_quiz(quiz, platform)
    quiz.refresh_from_db()
    return quiz


def test_integrations_sync_runs_the_quiz_results_stream(
    fake, platform, published, learner, course
):
    for number, who in enumerate(["u-ada", "u-bob", "u-ada"], start=1):
        fake.add_result(published.external_id, **submission(number, who))
    out = io.StringIO()

    call_command("integrations", "sync", platform.name, stdout=out)

    (run,) = SyncRun.objects.filter(integration=platform)
    assert (run.stream, run.status, run.created, run.pages) == (
        "quiz_results",
        SyncStatus.SUCCEEDED,
        3,
        2,
    )
    assert "quiz_results" in out.getvalue()
    assert QuizResult.objects.filter(quiz=published).count() == 3
    progress = Progress.objects.get(learner=learner, course=course)
    assert progress.percent == Decimal("100.00")
    assert Event.objects.filter(kind="quiz.completed").count() == 3


def test_a_resync_through_the_engine_is_idempotent(fake, platform, published):
    fake.add_result(published.external_id, **submission(1))
    run_sync_now(platform)

    (run,) = run_sync_now(platform, streams=["quiz_results"])

    assert (run.created, run.updated, run.unchanged) == (0, 0, 1)
    assert Event.objects.filter(kind="quiz.completed").count() == 1


def test_the_engine_and_the_direct_sync_store_the_same_rows(fake, platform, published):
    from portal.assessment.results import sync_quiz_results

    fake.add_result(published.external_id, **submission(1))
    sync_quiz_results(platform)

    (run,) = run_sync_now(platform)

    assert (run.created, run.unchanged) == (0, 1)
    assert QuizResult.objects.count() == 1


def test_a_failed_run_resumes_at_the_page_it_stopped(fake, platform, published):
    for number in range(1, 5):
        fake.add_result(published.external_id, **submission(number))
    real = fake._results
    pages = []
    failing = {"left": 10}

    def second_page_fails(request):
        pages.append(request.arg("page"))
        if request.arg("page") == "2" and failing["left"] > 0:
            failing["left"] -= 1
            return Reply.json({"error": {"code": "unavailable"}}, 503)
        return real(request)

    fake.route("GET", RESULTS, second_page_fails)
    (failed,) = run_sync_now(platform)
    assert (failed.status, failed.error_code) == (SyncStatus.FAILED, "transient_error")
    assert failed.cursor["quiz"] == published.pk
    assert QuizResult.objects.count() == 2
    failing["left"] = 0
    pages.clear()

    (resumed,) = run_sync_now(platform)

    assert resumed.resumed_from_id == failed.pk
    assert resumed.status == SyncStatus.SUCCEEDED
    assert pages[0] == "2"
    assert QuizResult.objects.count() == 4
    assert Event.objects.filter(kind="quiz.completed").count() == 4


def test_a_rate_limit_is_waited_out(fake, platform, published):
    fake.add_result(published.external_id, **submission(1))
    real = fake._results
    throttled = {"left": 1}

    def throttle_once(request):
        if throttled["left"]:
            throttled["left"] -= 1
            return Reply.json(
                {"error": {"code": "slow_down"}}, 429, {"Retry-After": "0"}
            )
        return real(request)

    fake.route("GET", RESULTS, throttle_once)

    (run,) = run_sync_now(platform)

    assert (run.status, run.created) == (SyncStatus.SUCCEEDED, 1)
    assert fake.count(f"/quizzes/{published.external_id}/results") == 2


def test_a_wrong_token_fails_the_run_as_an_auth_failure(fake, platform, published):
    fake.token = "rotated"

    (run,) = run_sync_now(platform)

    assert (run.status, run.error_code) == (SyncStatus.FAILED, "authentication_failed")


def test_a_quiz_gone_from_the_platform_is_reported_and_the_rest_read(
    fake, platform, published, course
):
    fake.add_result(published.external_id, **submission(1))
    second = Quiz.objects.create(course=course, title="Gone")
    second.questions.create(kind="true_false", prompt="Gone?", correct_answer=True)
    publish_quiz(second, platform)
    second.refresh_from_db()
    del fake.quizzes[second.external_id]

    (run,) = run_sync_now(platform)

    assert (run.status, run.created, run.failed) == (SyncStatus.SUCCEEDED, 1, 1)
    assert "no such quiz" in run.failures[0]["reason"]


def test_the_schedule_from_integrations_apply_queues_the_results_sync(
    tmp_path, fake, quiz, link_learners
):
    path = tmp_path / "quizzes.yaml"
    path.write_text(
        "integrations:\n"
        "  - name: scheduled-quizzes\n"
        "    provider: quiz_platform\n"
        f"    base_url: {fake.base_url}\n"
        "    credentials:\n"
        "      token: ${QUIZ_TOKEN}\n"
        '    schedule: "*/15 * * * *"\n'
    )
    apply_file(path, environ={"QUIZ_TOKEN": fake.token})
    integration = Integration.objects.get(name="scheduled-quizzes")
    task = PeriodicTask.objects.get(pk=integration.periodic_task_id)
    assert task.task == "integrations.sync_integration"
    publish_quiz(quiz, integration)
    quiz.refresh_from_db()
    fake.add_result(quiz.external_id, **submission(1))

    (run_id,) = sync_integration(integration.pk)
    run = execute_run(run_id, owner="beat-worker")

    assert (run.stream, run.trigger, run.status) == (
        "quiz_results",
        "schedule",
        SyncStatus.SUCCEEDED,
    )
    assert QuizResult.objects.filter(quiz=quiz).count() == 1


def test_the_admin_action_queues_a_results_run(
    client, admin_user, platform, published, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/admin/assessment/quiz/",
            {"action": "sync_results", "_selected_action": [published.pk]},
            follow=True,
        )

    assert response.status_code == 200
    (run,) = SyncRun.objects.filter(integration=platform)
    assert (run.stream, run.trigger, run.status) == (
        "quiz_results",
        "admin",
        SyncStatus.QUEUED,
    )
    assert "results sync queued" in response.content.decode()


def test_an_lms_quiz_is_read_only_in_the_admin(client, admin_user, course):
    lms_quiz = Quiz.objects.create(
        course=course,
        title="Canvas quiz",
        origin=QuizOrigin.LMS,
        integration=course.integration,
        external_id="7001",
    )
    client.force_login(admin_user)
    url = f"/admin/assessment/quiz/{lms_quiz.pk}/change/"

    response = client.post(url, {"title": "Changed here"})

    assert response.status_code == 403
    lms_quiz.refresh_from_db()
    assert lms_quiz.title == "Canvas quiz"


def test_an_lms_quiz_in_the_course_does_not_dilute_portal_quiz_progress(
    fake, platform, published, learner, course
):
    Quiz.objects.create(
        course=course,
        title="The LMS's own quiz",
        origin=QuizOrigin.LMS,
        integration=course.integration,
        external_id="7001",
        publish_state="published",
    )
    fake.add_result(published.external_id, **submission(1))

    run_sync_now(platform)

    progress = Progress.objects.get(learner=learner, course=course)
    assert progress.percent == Decimal("100.00")
