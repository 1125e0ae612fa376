"""System checks of the API's settings, so a bad rate fails at start-up."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings

from portal.api.throttling import parse_rate


@register()
def check_throttle_rates(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Report every API throttle rate that cannot be parsed."""
    errors = []
    for scope, rate in api_settings.DEFAULT_THROTTLE_RATES.items():
        try:
            parse_rate(rate)
        except ImproperlyConfigured as error:
            errors.append(
                Error(
                    str(error),
                    hint=f"Fix the rate of the '{scope}' scope (docs/api.md).",
                    id="api.E001",
                )
            )
    return errors
