"""App configuration of the Canvas sign-in provider."""

from django.apps import AppConfig


class CanvasOAuthConfig(AppConfig):
    """Registers the provider with allauth (allauth scans installed apps)."""

    name = "portal.accounts.providers.canvas"
    label = "canvas_oauth"
    verbose_name = "Canvas sign-in"
