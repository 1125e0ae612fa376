"""Validate an integration's settings and credentials against its provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from integrations.providers.base import SettingField

if TYPE_CHECKING:
    from integrations.models import Integration
    from integrations.providers.base import Provider

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "url": (str,),
    "choice": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def validate_settings(
    values: Any, schema: list[SettingField] | tuple
) -> dict[str, Any]:
    """Return ``values`` with defaults filled in, or raise ValidationError.

    The error's message dict maps each wrong setting to what is wrong with
    it, so the admin and ``integrations apply`` can name the field.
    """
    if not isinstance(values, dict):
        raise ValidationError(
            {"settings": "Settings must be a mapping of names to values."}
        )

    errors: dict[str, str] = {}
    known = {field.name: field for field in schema}
    for name in values:
        if name not in known:
            choices = ", ".join(sorted(known)) or "none"
            errors[name] = f"Unknown setting {name!r}; known settings: {choices}."

    cleaned: dict[str, Any] = {}
    for field in schema:
        if field.name not in values or values[field.name] in (None, ""):
            if field.required:
                errors[field.name] = "This setting is required."
            elif field.default is not None:
                cleaned[field.name] = field.default
            continue
        problem = _check_value(field, values[field.name])
        if problem:
            errors[field.name] = problem
        else:
            cleaned[field.name] = values[field.name]

    if errors:
        raise ValidationError(
            {f"settings.{name}": message for name, message in errors.items()}
        )
    return cleaned


def _check_value(field: SettingField, value: Any) -> str:
    expected = _PYTHON_TYPES.get(field.type, (object,))
    # bool is an int in Python; a setting typed int must not accept True.
    if not isinstance(value, expected) or (
        field.type in ("int", "float") and value is True
    ):
        return f"Expected a value of type {field.type}, got {type(value).__name__}."
    if field.type == "choice" and value not in field.choices:
        return f"Must be one of: {', '.join(field.choices)}."
    if field.type == "url":
        try:
            URLValidator(schemes=["http", "https"])(value)
        except ValidationError:
            return "Enter a valid http(s) URL."
    if (
        field.minimum is not None
        and isinstance(value, int | float)
        and value < field.minimum
    ):
        return f"Must be at least {field.minimum}."
    if (
        field.maximum is not None
        and isinstance(value, int | float)
        and value > field.maximum
    ):
        return f"Must be at most {field.maximum}."
    return ""


def validate_integration(integration: Integration, provider: Provider) -> None:
    """Validate base URL and settings of ``integration`` for ``provider``."""
    from integrations.http.ssrf import check_url

    errors: dict[str, list[str]] = {}
    if provider.requires_base_url and not integration.base_url:
        errors.setdefault("base_url", []).append(f"{provider.title} needs a base URL.")
    if integration.base_url:
        try:
            check_url(integration.base_url, resolve=False)
        except Exception as error:  # UnsafeURLError carries a sentence for admins
            errors.setdefault("base_url", []).append(
                getattr(error, "message", str(error))
            )
    try:
        integration.settings = validate_settings(
            integration.settings, provider.settings_schema
        )
    except ValidationError as error:
        errors.setdefault("settings", []).extend(
            message
            if name == "settings"
            else f"{name.removeprefix('settings.')}: {message}"
            for name, messages in error.message_dict.items()
            for message in messages
        )
    else:
        try:
            provider.validate_settings(integration.settings)
        except ValidationError as error:
            errors.setdefault("settings", []).extend(
                error.message_dict.get("settings", error.messages)
            )
    if errors:
        raise ValidationError(errors)


def schema_problems(
    values: Any, schema: list[SettingField] | tuple
) -> tuple[dict[str, Any] | None, list[str]]:
    """Return the settings checked against ``schema`` and the problems found.

    The first half of every provider's settings parser: ``(cleaned, [])``
    with defaults filled in, or ``(None, problems)`` with each problem
    starting with the setting at fault ("per_page: Must be at most 100.").
    """
    try:
        return validate_settings(values, schema), []
    except ValidationError as error:
        return None, [
            f"{name.removeprefix('settings.')}: {message}"
            for name, messages in error.message_dict.items()
            for message in messages
        ]
