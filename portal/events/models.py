"""The outbox of domain events and the queue of LMS write-backs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """Something that happened in the portal, recorded with the change itself.

    Written in the same transaction as the change it describes, so an event
    exists if and only if the change was committed (a transactional outbox).
    Sinks (analytics, chat, webhooks) deliver from here.
    """

    kind = models.CharField(max_length=100, db_index=True)
    subject = models.CharField(max_length=255, blank=True, db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}".strip()


class WriteBackStatus(models.TextChoices):
    """Where a write-back is in its life."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed, will retry"
    DEAD = "dead", "Gave up"


class WriteBack(models.Model):
    """A learner's progress, queued to be pushed to the LMS of its course."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="write_backs"
    )
    progress = models.ForeignKey(
        "learning.Progress", on_delete=models.CASCADE, related_name="write_backs"
    )
    status = models.CharField(
        max_length=20,
        choices=WriteBackStatus.choices,
        default=WriteBackStatus.QUEUED,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    error_code = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    offered_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker was last sent this write-back."
    )
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"write-back of progress {self.progress_id} to {self.integration_id}"
