"""A run re-queued for a rate limit ends like any other when it succeeds."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.models import SyncRun, SyncStatus
from integrations.sync.engine import execute_run
from integrations.sync.runs import run_sync_now
from portal.learning.models import Course

pytestmark = pytest.mark.django_db


def test_a_requeued_run_that_succeeds_later_carries_no_error(integration, school):
    # One refusal that asks for an hour: too long to wait in the call.
    school.fail_next(429, headers={"Retry-After": "3600"}, path="/api/courses")
    limited = run_sync_now(integration, streams=["courses"])[0]
    assert (limited.status, limited.error_code) == (SyncStatus.QUEUED, "rate_limited")
    # The service is back before the hour it asked for is over.
    SyncRun.objects.filter(pk=limited.pk).update(next_attempt_at=timezone.now())

    finished = execute_run(limited.pk, owner="worker-1")

    assert finished.status == SyncStatus.SUCCEEDED
    assert (finished.error_code, finished.error_summary) == ("", "")
    assert Course.objects.filter(deleted_at__isnull=True).count() == 12
