"""The /api/v1/submissions/ resource: learners' submissions of assignments.

Read-only and scoped like progress (portal.api.permissions): learners see
their own submissions only, staff everyone's. Rows come from the LMS
submissions streams (docs/providers/canvas.md, docs/providers/moodle.md).
"""

from __future__ import annotations

import django_filters
from django.db.models import F, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins
from rest_framework import serializers as drf

from portal.api.filters import IdFilter, SyncedRecordFilterSet
from portal.api.permissions import is_staff
from portal.api.serializers import SYNCED_FIELDS, SyncedRecordSerializer
from portal.api.views import ScopedViewSet, with_integration_name
from portal.learning.models import Submission, SubmissionState


class SubmissionSerializer(SyncedRecordSerializer):
    """A learner's submission of an assignment (its latest attempt)."""

    course = drf.SerializerMethodField(help_text="Id of the assignment's course.")
    state = drf.ChoiceField(
        choices=SubmissionState.choices,
        read_only=True,
        help_text="unsubmitted, submitted, graded, or returned (another attempt "
        "asked for).",
    )
    submitted_at = drf.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the latest attempt was handed in; null if never.",
    )
    attempt = drf.IntegerField(
        read_only=True, allow_null=True, help_text="The attempt number (from 1)."
    )
    score = drf.DecimalField(
        max_digits=10,
        decimal_places=2,
        coerce_to_string=False,
        allow_null=True,
        read_only=True,
        help_text="Points scored; null until graded (or while the grade is hidden).",
    )
    grade = drf.CharField(
        read_only=True, help_text="The grade as the LMS shows it; may be empty."
    )
    late = drf.BooleanField(read_only=True, help_text="Handed in after the due date.")
    missing = drf.BooleanField(
        read_only=True, help_text="Not handed in and past the due date (Canvas)."
    )
    url = drf.CharField(
        read_only=True, help_text="The submission's page in its LMS; may be empty."
    )

    class Meta:
        model = Submission
        fields = [
            *SYNCED_FIELDS,
            "assignment",
            "course",
            "learner",
            "state",
            "submitted_at",
            "attempt",
            "score",
            "grade",
            "late",
            "missing",
            "url",
        ]
        read_only_fields = fields

    @extend_schema_field(drf.IntegerField())
    def get_course(self, submission: Submission) -> int:
        """Return the assignment's course id (annotated by the queryset)."""
        course_id = getattr(submission, "course_id", None)
        return course_id if course_id is not None else submission.assignment.course_id


class SubmissionFilterSet(SyncedRecordFilterSet):
    """Filters of /submissions/."""

    assignment = IdFilter(field_name="assignment_id", label="Id of the assignment.")
    course = IdFilter(
        field_name="assignment__course_id", label="Id of the assignment's course."
    )
    learner = IdFilter(field_name="learner_id", label="Id of the learner (user).")
    state = django_filters.ChoiceFilter(choices=SubmissionState.choices)

    class Meta:
        model = Submission
        fields = [
            "integration",
            "assignment",
            "course",
            "learner",
            "state",
            "updated_since",
            "include_deleted",
        ]


@extend_schema_view(
    list=extend_schema(summary="List submissions"),
    retrieve=extend_schema(summary="Get a submission"),
)
class SubmissionViewSet(
    ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Submissions: learners see their own, staff all."""

    serializer_class = SubmissionSerializer
    filterset_class = SubmissionFilterSet
    ordering_fields = {
        "id": "id",
        "assignment": "assignment",
        "learner": "learner",
        "state": "state",
        "submitted_at": "submitted_at",
        "updated_at": "updated_at",
    }

    def base_queryset(self) -> QuerySet:
        """Return submissions with their integration's name and course id."""
        queryset = with_integration_name(Submission.objects.all())
        return queryset.annotate(course_id=F("assignment__course_id"))

    def scope(self, queryset: QuerySet) -> QuerySet:
        """Cut to the user's own submissions (staff: all)."""
        if is_staff(self.request.user):
            return queryset
        return queryset.filter(learner=self.request.user)
