"""Helpers of the analytics sinks' tests: sinks from a declarative file."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from integrations.models import Integration
from portal.events.models import Event
from portal.events.outbox import emit
from tests.commands.conftest import CommandResult, run_integrations


def apply_sink(
    tmp_path, monkeypatch, document: str, env: dict[str, str]
) -> Integration:
    """Apply a one-integration YAML file as an admin would; return the sink."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "integrations.yaml"
    path.write_text(document)

    result = run_integrations("apply", str(path))
    assert result.code == 0, result.output

    sink = Integration.objects.get()
    # A generous local limit: the tests' fakes do not throttle unless told.
    sink.rate_limit_requests, sink.rate_limit_window = 1000, 1
    sink.save()
    return sink


def emit_progress(learner: int, percent: int, **extra) -> Event:
    """Emit one committed progress event of ``learner``."""
    occurred_at: datetime | None = extra.pop("occurred_at", None)
    with transaction.atomic():
        event = emit(
            "progress.updated",
            subject=f"progress:{learner}-{percent}",
            payload={
                "learner_id": learner,
                "course_id": 3,
                "percent": str(percent),
                **extra,
            },
        )
    if occurred_at is not None:
        Event.objects.filter(pk=event.pk).update(occurred_at=occurred_at)
    return event


def test_command(name: str) -> CommandResult:
    """Run ``integrations test NAME``."""
    return run_integrations("test", name)


test_command.__test__ = False  # type: ignore[attr-defined]
