"""App configuration of the connector framework."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Integrations, credentials, sync runs, health and the provider registry."""

    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import registry, signals  # noqa: F401 - connects handlers

        registry.autodiscover()
