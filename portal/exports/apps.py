"""Reports of the portal's learning data, uploaded to S3."""

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """The exports app: Export rows, their writers, tasks and schedules."""

    name = "portal.exports"
    label = "exports"
    verbose_name = "Exports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Keep each S3 integration's export schedule in a beat task."""
        from portal.exports import schedule

        schedule.connect_signals()
