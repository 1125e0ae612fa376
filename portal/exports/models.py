"""One upload of a report to an S3 integration's bucket."""

from __future__ import annotations

from django.db import models


class ExportKind(models.TextChoices):
    """What a report holds."""

    PROGRESS = "progress", "Learner progress"
    COURSES = "courses", "Courses"


class ExportFormat(models.TextChoices):
    """How a report is written."""

    CSV = "csv", "CSV"
    JSON = "json", "JSON"


class ExportStatus(models.TextChoices):
    """Where an upload stands."""

    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Export(models.Model):
    """A report written from the learning data and uploaded to S3."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="exports"
    )
    kind = models.CharField(max_length=20, choices=ExportKind.choices)
    format = models.CharField(max_length=10, choices=ExportFormat.choices)
    key = models.CharField(max_length=1024, help_text="The object's key in the bucket.")
    size = models.BigIntegerField(default=0, help_text="Bytes uploaded.")
    rows = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=ExportStatus.choices, default=ExportStatus.RUNNING
    )
    error_code = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key or f"{self.kind}.{self.format}"
