"""App configuration of the REST API."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The /api/v1/ REST API and its access tokens."""

    name = "portal.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        """Register the OpenAPI extensions and the settings checks."""
        from portal.api import checks, schema  # noqa: F401
