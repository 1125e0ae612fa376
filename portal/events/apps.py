"""App configuration of the domain events outbox."""

from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The transactional outbox of domain events and LMS write-backs."""

    name = "portal.events"
    label = "events"
    verbose_name = "Events"
