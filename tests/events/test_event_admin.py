"""The event log's admin page."""

from __future__ import annotations

import pytest

from portal.events.models import Event

pytestmark = pytest.mark.django_db


def test_the_event_log_filters_by_kind_without_listing_the_log(admin_client):
    Event.objects.create(kind="sync.failed", subject="integration:a")
    Event.objects.create(kind="course.completed", subject="progress:1")

    page = admin_client.get("/admin/events/event/?kind=sync.failed")

    assert page.status_code == 200
    assert "integration:a" in page.content.decode()
    assert "progress:1" not in page.content.decode()
