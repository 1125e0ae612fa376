"""The /api/v1/achievements/ and /api/v1/earned-achievements/ resources.

Read-only, scoped like the other resources (portal.api.permissions):
learners see the enabled achievements they can earn (those about no course,
or about a course they are enrolled in, or a published quiz of one) and
the achievements they earned; staff see every definition and every award.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from portal.achievements.models import Achievement, Criterion, EarnedAchievement
from portal.api.filters import IdFilter, PortalFilterSet, UpdatedSinceFilter
from portal.api.permissions import enrolled_course_ids, is_staff
from portal.api.views import ScopedViewSet
from portal.assessment.models import PublishState

# --- Serializers -------------------------------------------------------------


class AchievementSerializer(serializers.ModelSerializer):
    """An achievement and the criterion that earns it."""

    course = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="course_completed, progress_percent: the only course that "
        "counts (null: any course).",
    )
    quiz = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="quiz_score: the only quiz that counts (null: any quiz).",
    )
    min_courses = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="courses_completed: how many courses.",
    )
    min_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        coerce_to_string=False,
        read_only=True,
        allow_null=True,
        help_text="quiz_score, progress_percent: the least percentage (0 to 100).",
    )

    class Meta:
        model = Achievement
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "enabled",
            "criterion",
            "course",
            "quiz",
            "min_courses",
            "min_percent",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EarnedAchievementSerializer(serializers.ModelSerializer):
    """An achievement a learner earned, and what earned it."""

    achievement_slug = serializers.CharField(source="achievement.slug", read_only=True)
    achievement_name = serializers.CharField(source="achievement.name", read_only=True)
    course = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="Id of the course the earning record is about, or null.",
    )
    integration = serializers.CharField(
        source="integration.name",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="Name of the integration the earning record came from, or null.",
    )
    source = serializers.CharField(
        read_only=True,
        help_text="What earned it: course.completed, quiz.completed, "
        "progress.updated, sync (synced progress) or retroactive.",
    )

    class Meta:
        model = EarnedAchievement
        fields = [
            "id",
            "achievement",
            "achievement_slug",
            "achievement_name",
            "learner",
            "course",
            "integration",
            "source",
            "earned_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- Filters -----------------------------------------------------------------


class AchievementFilterSet(PortalFilterSet):
    """Filters of /achievements/."""

    criterion = django_filters.ChoiceFilter(choices=Criterion.choices)
    course = IdFilter(field_name="course_id", label="Id of the course.")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Achievement
        fields = ["criterion", "course", "updated_since"]


class EarnedAchievementFilterSet(PortalFilterSet):
    """Filters of /earned-achievements/."""

    achievement = IdFilter(field_name="achievement_id", label="Id of the achievement.")
    learner = IdFilter(field_name="learner_id", label="Id of the learner (user).")
    course = IdFilter(field_name="course_id", label="Id of the course.")
    integration = django_filters.CharFilter(
        field_name="integration__name", label="Name of the integration."
    )
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = EarnedAchievement
        fields = ["achievement", "learner", "course", "integration", "updated_since"]


# --- Views -------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List achievements",
        description="Learners get the enabled achievements they can earn; "
        "staff get all of them.",
    ),
    retrieve=extend_schema(summary="Get an achievement"),
)
class AchievementViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Achievements: learners see the enabled ones they can earn, staff all."""

    serializer_class = AchievementSerializer
    filterset_class = AchievementFilterSet
    ordering_fields = {
        "id": "id",
        "name": "name",
        "slug": "slug",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return every achievement."""
        return Achievement.objects.all()

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to enabled ones about no course or the learner's (staff: all)."""
        if is_staff(self.request.user):
            return queryset
        courses = enrolled_course_ids(self.request.user)
        about_course = Q(course__isnull=True) | Q(course_id__in=courses)
        about_quiz = Q(quiz__isnull=True) | Q(
            quiz__course_id__in=courses, quiz__publish_state=PublishState.PUBLISHED
        )
        return queryset.filter(about_course & about_quiz, enabled=True)


@extend_schema_view(
    list=extend_schema(summary="List earned achievements"),
    retrieve=extend_schema(summary="Get an earned achievement"),
)
class EarnedAchievementViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Earned achievements: learners see their own, staff all."""

    serializer_class = EarnedAchievementSerializer
    filterset_class = EarnedAchievementFilterSet
    ordering_fields = {
        "id": "id",
        "earned_at": "earned_at",
        "achievement": "achievement",
        "learner": "learner",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return awards with their achievement and integration."""
        return EarnedAchievement.objects.select_related("achievement", "integration")

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the user's own awards (staff: all)."""
        if is_staff(self.request.user):
            return queryset
        return queryset.filter(learner=self.request.user)
