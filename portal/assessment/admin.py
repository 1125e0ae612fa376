"""Admin of quizzes (questions inline) and quiz results."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.errors import IntegrationError
from integrations.models import Integration
from integrations.sync.runs import enqueue_sync
from portal.assessment.models import Question, Quiz, QuizOrigin, QuizResult
from portal.assessment.publish import publish_quiz


class QuestionInline(admin.StackedInline):
    """The questions of a quiz, edited with it."""

    model = Question
    extra = 0
    fields = [
        "position",
        "kind",
        "prompt",
        "points",
        "choices",
        "correct_answer",
        "accepted_answers",
    ]


@admin.register(Quiz)
class QuizAdmin(admin.ModelAdmin):
    """Write quizzes, publish them, and sync their results."""

    list_display = [
        "title",
        "course",
        "origin",
        "publish_state",
        "integration",
        "updated_at",
    ]
    list_filter = ["origin", "publish_state"]
    search_fields = ["title"]
    inlines = [QuestionInline]
    readonly_fields = [
        "origin",
        "publish_state",
        "external_id",
        "published_version",
        "published_at",
        "publish_error",
        "points_possible",
        "due_at",
        "url",
        "deleted_at",
    ]
    actions = ["publish", "sync_results"]

    def has_change_permission(self, request: HttpRequest, obj: Quiz | None = None):
        """Refuse edits of LMS quizzes: they live in the LMS and sync from there."""
        if obj is not None and obj.origin == QuizOrigin.LMS:
            return False
        return super().has_change_permission(request, obj)

    @admin.action(description="Publish to the quiz platform integration")
    def publish(self, request: HttpRequest, queryset: QuerySet[Quiz]) -> None:
        """Publish each quiz to the only enabled quiz platform integration."""
        platforms = list(Integration.objects.filter(provider="quiz_platform"))
        if len(platforms) != 1:
            self.message_user(
                request,
                "Set up exactly one quiz platform integration to publish from here.",
                messages.ERROR,
            )
            return
        for quiz in queryset:
            try:
                publish_quiz(quiz, platforms[0])
            except ValidationError as error:
                self.message_user(request, f"{quiz}: {error}", messages.ERROR)
            except IntegrationError as error:
                self.message_user(request, f"{quiz}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{quiz}: published", messages.SUCCESS)

    @admin.action(description="Sync results from the quizzes' integrations")
    def sync_results(self, request: HttpRequest, queryset: QuerySet[Quiz]) -> None:
        """Queue a quiz_results sync run of each chosen quiz's integration.

        The run goes through the sync engine like a scheduled one: a SyncRun
        row on the integration's history page, resumable, one at a time.
        """
        ids = queryset.exclude(integration=None).values("integration_id")
        for integration in Integration.objects.filter(id__in=ids):
            try:
                enqueue_sync(integration, streams=["quiz_results"], trigger="admin")
            except IntegrationError as error:
                self.message_user(
                    request, f"{integration}: {error.message}", messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    f"{integration}: results sync queued; see its sync runs",
                )


@admin.register(QuizResult)
class QuizResultAdmin(admin.ModelAdmin):
    """Learners' quiz results, as the platform scored them."""

    list_display = ["quiz", "learner", "score", "max_score", "state", "submitted_at"]
    list_filter = ["integration", "state"]
    raw_id_fields = ["learner", "quiz"]
