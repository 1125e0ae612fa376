"""The ``routes:`` list of the declarative file: routing rules of the events.

Each entry is one :class:`portal.events.models.RoutingRule`, named, sending
some event kinds to a sink integration (one in the same file, or one already
stored). Routes are validated with the integrations and written in the same
transaction; an entry equal to the stored rule of its name changes nothing.
Rules the file does not name are left as they are. docs/declarative-file.md
describes the format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from integrations.models import Integration
from portal.events.models import RoutingRule
from portal.events.routing import sink_problem

if TYPE_CHECKING:
    from integrations.declarative import DocumentPath, Problem, SourceDocument

logger = logging.getLogger(__name__)

#: Keys allowed in one route entry.
ROUTE_KEYS = ("name", "sink", "events", "filters", "template", "enabled")
#: ``filters`` keys and the RoutingRule fields they set.
FILTER_FIELDS = {"integration": "integration_filter", "course": "course_filter"}
#: RoutingRule fields the file manages, with the file path that sets each.
ROUTE_FIELDS = {
    "sink_id": "sink",
    "event_kinds": "events",
    **{model: f"filters.{key}" for key, model in FILTER_FIELDS.items()},
    "template": "template",
    "enabled": "enabled",
}
_DEFAULT_TEMPLATE = RoutingRule._meta.get_field("template").default


@dataclass
class RouteChange:
    """What applying the file does to one routing rule."""

    name: str
    action: str
    changed_fields: list[str]
    instance: RoutingRule = field(repr=False)
    sink: Integration = field(repr=False)

    @property
    def writes(self) -> bool:
        """Tell whether applying this change writes anything."""
        return self.action != "unchanged"

    def as_dict(self) -> dict[str, Any]:
        """Return the change as JSON-ready data."""
        return {
            "name": self.name,
            "sink": self.sink.name,
            "action": self.action,
            "changed_fields": self.changed_fields,
        }


def plan_routes(
    document: SourceDocument,
    sinks: dict[str, Integration],
    problems: list[Problem],
) -> list[RouteChange]:
    """Validate the ``routes`` list against ``sinks`` (the file's integrations).

    A sink not in the file is looked up among the stored integrations.
    Problems are appended; the changes of the valid entries are returned.
    """
    data = document.data if isinstance(document.data, dict) else {}
    items = data.get("routes")
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append(document.problem(("routes",), "Must be a list of routes."))
        return []

    changes: list[RouteChange] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        path: DocumentPath = ("routes", index)
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in seen:
            problems.append(
                document.problem(
                    (*path, "name"),
                    f"Duplicate route name {name!r}; already used by "
                    f"routes[{seen[name]}].",
                )
            )
            continue
        if isinstance(name, str):
            seen[name] = index
        change = _plan_route(document, path, item, sinks, problems)
        if change is not None:
            changes.append(change)
    return changes


def _plan_route(
    document: SourceDocument,
    path: DocumentPath,
    item: Any,
    sinks: dict[str, Integration],
    problems: list[Problem],
) -> RouteChange | None:
    if not isinstance(item, dict):
        problems.append(document.problem(path, "Each route must be a mapping."))
        return None
    found: list[Problem] = []

    def fail(subpath: DocumentPath, message: str) -> None:
        found.append(document.problem((*path, *subpath), message))

    for key in item:
        if key not in ROUTE_KEYS:
            fail(
                (str(key),),
                f"Unknown key {key!r}; allowed keys: {', '.join(ROUTE_KEYS)}.",
            )
    name = _string(item, "name", fail, required=True)
    sink = _sink(_string(item, "sink", fail, required=True), sinks, fail)
    values = {
        "event_kinds": _event_kinds(item.get("events"), fail),
        **_filters(item.get("filters"), fail),
        "template": _string(item, "template", fail) or _DEFAULT_TEMPLATE,
        "enabled": _enabled(item.get("enabled"), fail),
    }
    if found or not name or sink is None:
        problems.extend(found)
        return None

    existing = RoutingRule.objects.filter(name=name).first()
    instance = existing or RoutingRule(name=name)
    before = {model: getattr(instance, model) for model in ROUTE_FIELDS}
    for model, value in values.items():
        setattr(instance, model, value)
    instance.sink_id = sink.pk
    try:
        # The sink may not be saved yet: it is checked by provider above.
        instance.full_clean(exclude=["sink"])
    except ValidationError as error:
        problems.extend(_validation_problems(document, path, error))
        return None

    if existing is None:
        return RouteChange(name, "created", [], instance, sink)
    changed = [
        ROUTE_FIELDS[model]
        for model in ROUTE_FIELDS
        if before[model] != getattr(instance, model)
    ]
    return RouteChange(
        name, "updated" if changed else "unchanged", changed, instance, sink
    )


def _string(
    item: dict, key: str, fail: Callable[[DocumentPath, str], None], *, required=False
) -> str:
    value = item.get(key)
    if value is None or value == "":
        if required:
            fail((key,) if key in item else (), f"Missing required key {key!r}.")
        return ""
    if not isinstance(value, str):
        fail((key,), "Must be a string.")
        return ""
    return value


def _sink(
    name: str, sinks: dict[str, Integration], fail: Callable[[DocumentPath, str], None]
) -> Integration | None:
    if not name:
        return None
    sink = sinks.get(name) or Integration.objects.filter(name=name).first()
    if sink is None:
        fail(
            ("sink",),
            f"No integration {name!r} in this file or the portal; name a sink "
            "integration listed under 'integrations'.",
        )
        return None
    problem = sink_problem(sink.provider)
    if problem:
        fail(("sink",), problem)
        return None
    return sink


def _event_kinds(value: Any, fail: Callable[[DocumentPath, str], None]) -> str:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        fail(
            ("events",),
            "Must be a list of event kinds, e.g. [sync.failed, 'course.*'].",
        )
        return ""
    return ", ".join(kind.strip() for kind in value if kind.strip())


def _filters(value: Any, fail: Callable[[DocumentPath, str], None]) -> dict[str, str]:
    result = dict.fromkeys(FILTER_FIELDS.values(), "")
    if value is None:
        return result
    if not isinstance(value, dict):
        fail(("filters",), f"Must be a mapping with keys: {', '.join(FILTER_FIELDS)}.")
        return result
    for key, text in value.items():
        if key not in FILTER_FIELDS:
            fail(
                ("filters", str(key)),
                f"Unknown filter {key!r}; allowed filters: {', '.join(FILTER_FIELDS)}.",
            )
        elif text is not None and not isinstance(text, str | int):
            fail(("filters", key), "Must be a string.")
        elif text is not None:
            result[FILTER_FIELDS[key]] = str(text)
    return result


def _enabled(value: Any, fail: Callable[[DocumentPath, str], None]) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        fail(("enabled",), "Must be true or false.")
        return True
    return value


def _validation_problems(
    document: SourceDocument, path: DocumentPath, error: ValidationError
) -> list[Problem]:
    problems = []
    for model_field, messages in error.message_dict.items():
        subpath = tuple(ROUTE_FIELDS.get(model_field, model_field).split("."))
        if model_field == "name":
            subpath = ("name",)
        for message in messages:
            problems.append(document.problem((*path, *subpath), message))
    return problems


def apply_route_change(change: RouteChange) -> None:
    """Write one route (after its sink was saved); call inside the transaction."""
    if not change.writes:
        return
    change.instance.sink = change.sink
    change.instance.save()
    logger.info(
        "integrations.apply.route_changed",
        extra={
            "route": change.name,
            "action": change.action,
            "fields": change.changed_fields,
        },
    )
