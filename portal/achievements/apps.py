"""App configuration of achievements."""

from django.apps import AppConfig


class AchievementsConfig(AppConfig):
    """Achievements admins define and learners earn (docs/achievements.md)."""

    name = "portal.achievements"
    label = "achievements"
    verbose_name = "Achievements"

    def ready(self) -> None:
        """Award achievements as the events that can earn them are written."""
        from portal.achievements import awarding
        from portal.achievements.criteria import CRITERIA_OF_KIND
        from portal.events.outbox import listen

        listen(CRITERIA_OF_KIND, awarding.on_events)
