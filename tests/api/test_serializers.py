"""The prepared rendering of rows equals DRF's generic rendering, field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.utils import timezone as django_timezone
from rest_framework import serializers as drf

from integrations.models import SyncRun, SyncStatus
from portal.api import serializers
from portal.api.views import with_integration_name
from portal.learning.models import Assignment, Course, Enrollment, Progress, Repository

CASES = [
    (serializers.CourseSerializer, Course),
    (serializers.AssignmentSerializer, Assignment),
    (serializers.EnrollmentSerializer, Enrollment),
    (serializers.ProgressSerializer, Progress),
    (serializers.RepositorySerializer, Repository),
    (serializers.RepositoryDetailSerializer, Repository),
]


def drf_rendering(serializer, row):
    """Render ``row`` through DRF's own Serializer.to_representation."""
    return drf.Serializer.to_representation(serializer, row)


@pytest.fixture
def varied(world):
    """Give rows microseconds, other time zones, NULLs, decimals and blanks."""
    odd_zone = timezone(timedelta(hours=-5, minutes=-30))
    Course.objects.filter(pk=world.course_a.pk).update(
        starts_at=datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=odd_zone),
        ends_at=datetime(2025, 6, 1, tzinfo=UTC),
        url="",
    )
    Assignment.objects.filter(pk=world.assignment_a.pk).update(
        due_at=django_timezone.now(), points_possible=Decimal("12.50")
    )
    Progress.objects.filter(pk=world.progress_a.pk).update(
        completed_at=django_timezone.now(), percent=Decimal("99.99"), grade="A-"
    )
    Enrollment.objects.filter(pk=world.enrollment_a.pk).update(
        deleted_at=django_timezone.now()
    )
    return world


@pytest.mark.parametrize(("serializer_class", "model"), CASES)
@pytest.mark.parametrize("annotated", [True, False])
def test_rows_render_exactly_as_drf_renders_them(
    varied, serializer_class, model, annotated
):
    rows = model.objects.all()
    if annotated:
        rows = with_integration_name(rows)

    for row in rows:
        serializer = serializer_class(row)
        assert serializer.data == drf_rendering(serializer, row)


def test_runs_and_integrations_render_exactly_as_drf_renders_them(world):
    SyncRun.objects.create(
        integration=world.lms,
        stream="courses",
        status=SyncStatus.SUCCEEDED,
        started_at=django_timezone.now() - timedelta(seconds=3),
        finished_at=django_timezone.now(),
    )
    SyncRun.objects.create(integration=world.lms, stream="progress")

    for run in SyncRun.objects.select_related("integration"):
        serializer = serializers.SyncRunSerializer(run)
        assert serializer.data == drf_rendering(serializer, run)
    for integration in (world.lms, world.moodle):
        serializer = serializers.IntegrationSerializer(integration)
        assert serializer.data == drf_rendering(serializer, integration)


def test_a_time_zone_in_force_is_honoured_like_drf(varied, settings):
    row = Course.objects.get(pk=varied.course_a.pk)

    with django_timezone.override("America/Sao_Paulo"):
        serializer = serializers.CourseSerializer(row)
        data = serializer.data
        assert data == drf_rendering(serializer, row)
    assert data["ends_at"].endswith("-03:00")
