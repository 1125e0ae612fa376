"""The /api/v1/quizzes/ and /api/v1/quiz-results/ resources.

Read-only, scoped like the LMS resources (portal.api.permissions): learners
see the published quizzes of courses they are enrolled in, without the
answers, and only their own results; staff see everything, answers too.
Quizzes synced from an LMS (``origin: lms``) have no questions here (they
live in the LMS); quizzes the LMS no longer has are left out, and so are
their results.
"""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers
from rest_framework.serializers import BaseSerializer

from portal.api.filters import IdFilter, PortalFilterSet, UpdatedSinceFilter
from portal.api.permissions import enrolled_course_ids, is_staff
from portal.api.views import ScopedViewSet
from portal.assessment.models import (
    PublishState,
    Question,
    Quiz,
    QuizOrigin,
    QuizResult,
    ResultState,
)

# --- Serializers -------------------------------------------------------------


class ChoiceSerializer(serializers.Serializer):
    """A choice of a multiple-choice question, as learners see it."""

    text = serializers.CharField(read_only=True)


class ChoiceWithAnswerSerializer(ChoiceSerializer):
    """A choice with whether it is correct, for staff."""

    correct = serializers.BooleanField(read_only=True, default=False)


class QuestionSerializer(serializers.ModelSerializer):
    """A question as learners see it: no correct answers."""

    choices = ChoiceSerializer(
        many=True, read_only=True, help_text="Empty unless kind is multiple_choice."
    )
    points = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False, read_only=True
    )

    class Meta:
        model = Question
        fields = ["id", "position", "kind", "prompt", "points", "choices"]
        read_only_fields = fields


class QuestionWithAnswersSerializer(QuestionSerializer):
    """A question with its answers, for staff."""

    choices = ChoiceWithAnswerSerializer(
        many=True, read_only=True, help_text="Empty unless kind is multiple_choice."
    )
    correct_answer = serializers.BooleanField(
        read_only=True, allow_null=True, help_text="true_false: the right answer."
    )
    accepted_answers = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="short_answer: the answers that count as right.",
    )

    class Meta(QuestionSerializer.Meta):
        fields = [*QuestionSerializer.Meta.fields, "correct_answer", "accepted_answers"]
        read_only_fields = fields


class QuizSerializer(serializers.ModelSerializer):
    """A quiz as learners see it."""

    integration = serializers.CharField(
        source="integration.name",
        read_only=True,
        allow_null=True,
        help_text="Name of the quiz platform integration it is published to.",
    )
    external_id = serializers.CharField(
        read_only=True,
        help_text="The quiz's id at the platform; empty until published.",
    )
    max_score = serializers.SerializerMethodField(
        help_text="The sum of the questions' points; an LMS quiz: the LMS's points."
    )
    url = serializers.CharField(
        read_only=True, help_text="An LMS quiz's page in the LMS; empty otherwise."
    )
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Quiz
        fields = [
            "id",
            "course",
            "title",
            "description",
            "time_limit_minutes",
            "origin",
            "publish_state",
            "integration",
            "external_id",
            "published_at",
            "due_at",
            "url",
            "max_score",
            "questions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_max_score(self, quiz: Quiz) -> float | None:
        """Return the points of all questions, or an LMS quiz's own points."""
        if quiz.is_from_lms:
            points = quiz.points_possible
            return float(points) if points is not None else None
        return float(sum(question.points for question in quiz.questions.all()))


class QuizWithAnswersSerializer(QuizSerializer):
    """A quiz with its questions' answers, for staff."""

    questions = QuestionWithAnswersSerializer(many=True, read_only=True)

    class Meta(QuizSerializer.Meta):
        pass


class QuizResultSerializer(serializers.ModelSerializer):
    """A learner's result in a quiz, as the platform scored it."""

    integration = serializers.CharField(
        source="integration.name",
        read_only=True,
        help_text="Name of the integration the result came from.",
    )
    course = serializers.SerializerMethodField(help_text="Id of the quiz's course.")
    score = serializers.DecimalField(
        max_digits=10, decimal_places=2, coerce_to_string=False, read_only=True
    )
    max_score = serializers.DecimalField(
        max_digits=10, decimal_places=2, coerce_to_string=False, read_only=True
    )
    answers = serializers.ListField(
        child=serializers.DictField(child=serializers.JSONField()),
        read_only=True,
        help_text="The learner's answers, as the platform reported them; empty "
        "for LMS results.",
    )
    state = serializers.CharField(
        read_only=True,
        help_text="complete, or pending_review while a grader has questions left.",
    )
    attempt = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The LMS's attempt number."
    )

    class Meta:
        model = QuizResult
        fields = [
            "id",
            "quiz",
            "course",
            "learner",
            "integration",
            "external_id",
            "score",
            "max_score",
            "answers",
            "state",
            "attempt",
            "submitted_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_course(self, result: QuizResult) -> int:
        """Return the id of the quiz's course (the quiz is joined)."""
        return result.quiz.course_id


QUIZ_RESPONSE = PolymorphicProxySerializer(
    component_name="QuizForViewer",
    serializers=[QuizSerializer, QuizWithAnswersSerializer],
    resource_type_field_name=None,
)

# --- Filters -----------------------------------------------------------------


class QuizFilterSet(PortalFilterSet):
    """Filters of /quizzes/."""

    course = IdFilter(field_name="course_id", label="Id of the course.")
    publish_state = django_filters.ChoiceFilter(choices=PublishState.choices)
    origin = django_filters.ChoiceFilter(choices=QuizOrigin.choices)
    integration = django_filters.CharFilter(
        field_name="integration__name", label="Name of the integration."
    )
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Quiz
        fields = ["course", "publish_state", "origin", "integration", "updated_since"]


class QuizResultFilterSet(PortalFilterSet):
    """Filters of /quiz-results/."""

    quiz = IdFilter(field_name="quiz_id", label="Id of the quiz.")
    course = IdFilter(field_name="quiz__course_id", label="Id of the quiz's course.")
    learner = IdFilter(field_name="learner_id", label="Id of the learner (user).")
    integration = django_filters.CharFilter(
        field_name="integration__name", label="Name of the integration."
    )
    state = django_filters.ChoiceFilter(choices=ResultState.choices)
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = QuizResult
        fields = ["quiz", "course", "learner", "integration", "state", "updated_since"]


# --- Views -------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List quizzes",
        description="Staff get the answers of each question; learners never do.",
        responses={200: QUIZ_RESPONSE},
    ),
    retrieve=extend_schema(
        summary="Get a quiz",
        description="Staff get the answers of each question; learners never do.",
        responses={200: QUIZ_RESPONSE},
    ),
)
class QuizViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Quizzes: learners see the published ones of their courses, staff all."""

    filterset_class = QuizFilterSet
    ordering_fields = {
        "id": "id",
        "title": "title",
        "course": "course",
        "published_at": "published_at",
        "updated_at": "updated_at",
    }

    def get_serializer_class(self) -> type[BaseSerializer]:
        """Return the serializer with answers for staff only."""
        if is_staff(self.request.user):
            return QuizWithAnswersSerializer
        return QuizSerializer

    def base_queryset(self) -> QuerySet:
        """Return quizzes with their integration and questions."""
        questions = Question.objects.order_by("position", "id")
        return (
            Quiz.objects.filter(deleted_at__isnull=True)
            .select_related("integration")
            .prefetch_related(Prefetch("questions", queryset=questions))
        )

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the published quizzes of the learner's courses (staff: all)."""
        if is_staff(self.request.user):
            return queryset
        return queryset.filter(
            course_id__in=enrolled_course_ids(self.request.user),
            publish_state=PublishState.PUBLISHED,
        )


@extend_schema_view(
    list=extend_schema(summary="List quiz results"),
    retrieve=extend_schema(summary="Get a quiz result"),
)
class QuizResultViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Quiz results: learners see their own, staff all."""

    serializer_class = QuizResultSerializer
    filterset_class = QuizResultFilterSet
    ordering_fields = {
        "id": "id",
        "quiz": "quiz",
        "learner": "learner",
        "score": "score",
        "submitted_at": "submitted_at",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return results with their integration and quiz."""
        return QuizResult.objects.filter(quiz__deleted_at__isnull=True).select_related(
            "integration", "quiz"
        )

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the user's own results (staff: all)."""
        if is_staff(self.request.user):
            return queryset
        return queryset.filter(learner=self.request.user)
