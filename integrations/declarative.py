"""Load the declarative integrations file behind ``integrations apply``.

The file (YAML or JSON) lists integrations by name. Applying it creates the
ones that are missing and updates the ones that differ; running it again
changes nothing. Secrets appear only as ``${ENV_VAR}`` references that are
read from the environment when the file is applied, so the file itself can
live in version control.

Everything is validated before anything is written: one wrong value anywhere
in the file leaves the database exactly as it was. Each problem names the
line (YAML, and JSON where it can be found) and the path in the document,
e.g. ``integrations[2].settings.account_id``. docs/declarative-file.md
describes the format.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from integrations.declarative_routes import RouteChange, apply_route_change, plan_routes
from integrations.errors import CredentialDecryptionError
from integrations.models import Credential, Integration
from integrations.providers.base import Provider
from integrations.redaction import register_secret
from integrations.registry import UnknownProvider, get_provider
from integrations.schedules import validate_cron

logger = logging.getLogger(__name__)

DocumentPath = tuple[str | int, ...]
#: Reports a problem at a path relative to the entry being checked.
_Fail = Callable[[DocumentPath, str], None]

#: Keys allowed at the top of the file.
TOP_LEVEL_KEYS = ("integrations", "routes")
#: Keys allowed in one integration entry.
INTEGRATION_KEYS = (
    "name",
    "provider",
    "base_url",
    "credentials",
    "settings",
    "schedule",
    "enabled",
    "timeouts",
    "rate_limit",
)
#: ``timeouts`` keys and the Integration fields they set.
TIMEOUT_FIELDS = {
    "connect": "connect_timeout",
    "read": "read_timeout",
    "retry_budget": "retry_budget",
}
#: ``rate_limit`` keys and the Integration fields they set.
RATE_LIMIT_FIELDS = {"requests": "rate_limit_requests", "window": "rate_limit_window"}

#: Integration fields the file manages, with the file path that sets each.
MANAGED_FIELDS = {
    "provider": "provider",
    "base_url": "base_url",
    "settings": "settings",
    "schedule": "schedule",
    "enabled": "enabled",
    **{model: f"timeouts.{key}" for key, model in TIMEOUT_FIELDS.items()},
    **{model: f"rate_limit.{key}" for key, model in RATE_LIMIT_FIELDS.items()},
}

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: How settings validators name a nested value: ``endpoints[0].fields.title``.
SETTING_PATH = re.compile(r"[\w-]+(?:\[\d+\]|\.[\w-]+)*")
SETTING_PATH_PART = re.compile(r"([\w-]+)|\[(\d+)\]")

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
CREDENTIAL_SET = "set"
CREDENTIAL_CHANGED = "changed"
CREDENTIAL_UNCHANGED = "unchanged"


def format_path(path: DocumentPath) -> str:
    """Render a document path as ``integrations[2].settings.account_id``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, with where it is."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line else []
        if self.path:
            where.append(self.path)
        return f"{': '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, Any]:
        """Return the problem as JSON-ready data."""
        return {"line": self.line, "path": self.path, "message": self.message}


class DeclarativeFileError(Exception):
    """The file is unreadable or invalid; nothing was changed."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        # In file order; problems without a line concern the whole file.
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        count = len(problems)
        heading = f"{source}: {count} problem{'s' if count != 1 else ''}; nothing was changed."
        super().__init__(
            "\n".join([heading, *(f"  {problem}" for problem in self.problems)])
        )


@dataclass
class SourceDocument:
    """A parsed file: its data and the line each key of it starts on."""

    source: str
    format: str
    data: Any
    lines: dict[DocumentPath, int] = field(default_factory=dict)

    def line_of(self, path: DocumentPath) -> int | None:
        """Return the line of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def problem(self, path: DocumentPath, message: str) -> Problem:
        """Build a Problem at ``path``, with its line when known."""
        return Problem(format_path(path), message, self.line_of(path))


def load_document(path: str | Path) -> SourceDocument:
    """Read and parse the file at ``path`` (YAML or JSON)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DeclarativeFileError(
            str(path), [Problem("", f"The file is not UTF-8 text: {error.reason}.")]
        ) from error
    return parse_document(text, source=str(path), format=_format_from_name(path.name))


def parse_document(
    text: str, *, source: str = "<input>", format: str | None = None
) -> SourceDocument:
    """Parse ``text`` as ``format`` ("yaml" or "json"; None: guess from content)."""
    if format is None:
        format = "json" if text.lstrip()[:1] in ("{", "[") else "yaml"
    if format == "json":
        return _parse_json(text, source)
    if format == "yaml":
        return _parse_yaml(text, source)
    raise ValueError(f"unknown format {format!r}; use 'yaml' or 'json'")


def _format_from_name(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return None


def _parse_yaml(text: str, source: str) -> SourceDocument:
    problems: list[Problem] = []
    lines: dict[DocumentPath, int] = {}
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            # Lines are read before construction: constructing flattens merge
            # keys into the mapping, which would look like duplicates.
            if node is not None:
                _collect_lines(node, (), lines, problems, set())
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        raise DeclarativeFileError(source, [_yaml_problem(error)]) from error
    except yaml.YAMLError as error:
        raise DeclarativeFileError(
            source, [Problem("", "The file is not valid YAML.")]
        ) from error

    if problems:
        raise DeclarativeFileError(source, problems)
    return SourceDocument(source=source, format="yaml", data=data, lines=lines)


def _yaml_problem(error: yaml.MarkedYAMLError) -> Problem:
    # str(error) quotes the offending line of the file, which may hold a
    # secret; build the message from the parser's description alone.
    mark = error.problem_mark or error.context_mark
    context = error.context or ""
    if context and error.context_mark is not None and error.context_mark is not mark:
        context += f" (started on line {error.context_mark.line + 1})"
    parts = [part for part in (context, error.problem) if part]
    message = "Invalid YAML: " + ", ".join(parts) + "."
    if mark is not None:
        message += f" (column {mark.column + 1})"
    return Problem("", message, mark.line + 1 if mark is not None else None)


def _collect_lines(
    node: yaml.Node,
    path: DocumentPath,
    lines: dict[DocumentPath, int],
    problems: list[Problem],
    active: set[int],
) -> None:
    """Record the line of every key and item under ``node``; flag duplicate keys."""
    if id(node) in active:
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    Problem(
                        format_path((*path, key)),
                        f"Duplicate key {key!r} (first on line {seen[key]}).",
                        line,
                    )
                )
                continue
            seen[key] = line
            lines[(*path, key)] = line
            _collect_lines(value_node, (*path, key), lines, problems, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _collect_lines(item, (*path, index), lines, problems, active)
    active.discard(id(node))


class _JsonObject(dict):
    """A JSON object that remembers keys it saw more than once."""

    duplicates: list[str]


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    result = _JsonObject()
    result.duplicates = []
    for key, value in pairs:
        if key in result:
            result.duplicates.append(key)
        result[key] = value
    return result


def _parse_json(text: str, source: str) -> SourceDocument:
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as error:
        problem = Problem(
            "", f"Invalid JSON: {error.msg} (column {error.colno}).", error.lineno
        )
        raise DeclarativeFileError(source, [problem]) from error

    # JSON is valid YAML in all but rare corners, so composing it as YAML
    # finds the line of each key; when that fails, problems carry paths only.
    lines: dict[DocumentPath, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _collect_lines(node, (), lines, [], set())
    except yaml.YAMLError:
        lines = {}

    document = SourceDocument(source=source, format="json", data=data, lines=lines)
    problems: list[Problem] = []
    _collect_json_duplicates(data, (), document, problems)
    if problems:
        raise DeclarativeFileError(source, problems)
    return document


def _collect_json_duplicates(
    value: Any, path: DocumentPath, document: SourceDocument, problems: list[Problem]
) -> None:
    if isinstance(value, _JsonObject):
        for key in value.duplicates:
            problems.append(document.problem((*path, key), f"Duplicate key {key!r}."))
        for key, item in value.items():
            _collect_json_duplicates(item, (*path, key), document, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect_json_duplicates(item, (*path, index), document, problems)


@dataclass
class CredentialChange:
    """What applying the file does to one credential; never holds the value visibly."""

    key: str
    action: str
    kind: str
    plaintext: str = field(repr=False)
    stored: Credential | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Return e.g. "credential access_token changed" (no value)."""
        return f"credential {self.key} {self.action}"

    def as_dict(self) -> dict[str, str]:
        """Return the change as JSON-ready data, without the secret."""
        return {"key": self.key, "action": self.action}


@dataclass
class IntegrationChange:
    """What applying the file does to one integration."""

    name: str
    action: str
    changed_fields: list[str]
    credentials: list[CredentialChange]
    instance: Integration = field(repr=False)
    update_fields: list[str] = field(default_factory=list, repr=False)

    @property
    def writes(self) -> bool:
        """Tell whether applying this change writes anything."""
        return self.action != UNCHANGED or any(
            credential.action != CREDENTIAL_UNCHANGED for credential in self.credentials
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the change as JSON-ready data, without secrets."""
        return {
            "name": self.name,
            "provider": self.instance.provider,
            "action": self.action,
            "changed_fields": self.changed_fields,
            "credentials": [credential.as_dict() for credential in self.credentials],
        }


@dataclass
class ApplyPlan:
    """Every change the file asks for, validated; ``applied`` once written."""

    source: str
    changes: list[IntegrationChange]
    applied: bool = False
    routes: list[RouteChange] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Return how many integrations are created, updated and unchanged."""
        counts = {CREATED: 0, UPDATED: 0, UNCHANGED: 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def credential_counts(self) -> dict[str, int]:
        """Return how many credentials are set, changed and unchanged."""
        counts = {CREDENTIAL_SET: 0, CREDENTIAL_CHANGED: 0, CREDENTIAL_UNCHANGED: 0}
        for change in self.changes:
            for credential in change.credentials:
                counts[credential.action] += 1
        return counts

    def route_counts(self) -> dict[str, int]:
        """Return how many routing rules are created, updated and unchanged."""
        counts = {CREATED: 0, UPDATED: 0, UNCHANGED: 0}
        for route in self.routes:
            counts[route.action] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-ready data, without secrets."""
        plan = {
            "file": self.source,
            "dry_run": not self.applied,
            "integrations": [change.as_dict() for change in self.changes],
            "summary": {**self.counts(), "credentials": self.credential_counts()},
        }
        if self.routes:
            plan["routes"] = [route.as_dict() for route in self.routes]
            plan["summary"]["routes"] = self.route_counts()
        return plan


@dataclass
class _Entry:
    """One integration of the file after its shape was checked."""

    index: int
    name: str
    provider: Provider | None
    values: dict[str, Any]
    credential_refs: dict[str, str]
    #: False when the entry's shape is wrong: it is not validated further
    #: than its environment references, whose problems are still reported.
    valid: bool = True

    @property
    def path(self) -> DocumentPath:
        return ("integrations", self.index)


def plan_changes(
    document: SourceDocument, *, environ: Mapping[str, str] | None = None
) -> ApplyPlan:
    """Validate the whole document and work out what applying it changes.

    Raise DeclarativeFileError listing every problem found. Reads the
    database (and decrypts stored credentials to compare them) but writes
    nothing.
    """
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []

    items = _top_level_items(document, problems)
    entries = []
    for index, item in enumerate(items):
        entry = _check_entry(document, index, item, problems)
        if entry is not None:
            entries.append(entry)
    _check_duplicate_names(document, entries, problems)

    changes = []
    for entry in entries:
        secrets = _resolve_credentials(document, entry, environ, problems)
        if not entry.valid:
            continue
        change = _plan_entry(document, entry, secrets, problems)
        if change is not None:
            changes.append(change)
    sinks = {change.name: change.instance for change in changes}
    routes = plan_routes(document, sinks, problems)

    if problems:
        raise DeclarativeFileError(document.source, problems)
    return ApplyPlan(source=document.source, changes=changes, routes=routes)


def _top_level_items(document: SourceDocument, problems: list[Problem]) -> list[Any]:
    data = document.data
    if data is None:
        problems.append(
            Problem("", "The file is empty; it needs an 'integrations' list.")
        )
        return []
    if not isinstance(data, dict):
        problems.append(
            document.problem(
                (), "The file must be a mapping with an 'integrations' list."
            )
        )
        return []
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            problems.append(
                document.problem(
                    (str(key),),
                    f"Unknown key {key!r}; the top level allows only: "
                    f"{', '.join(TOP_LEVEL_KEYS)}.",
                )
            )
    if "integrations" not in data:
        problems.append(document.problem((), "Missing the 'integrations' list."))
        return []
    items = data["integrations"]
    if items is None:
        return []
    if not isinstance(items, list):
        problems.append(
            document.problem(("integrations",), "Must be a list of integrations.")
        )
        return []
    return items


def _check_entry(
    document: SourceDocument, index: int, item: Any, problems: list[Problem]
) -> _Entry | None:
    """Check the shape and types of one entry; return it when usable."""
    path: DocumentPath = ("integrations", index)
    if not isinstance(item, dict):
        problems.append(document.problem(path, "Each integration must be a mapping."))
        return None
    found: list[Problem] = []

    def fail(subpath: DocumentPath, message: str) -> None:
        found.append(document.problem((*path, *subpath), message))

    for key in item:
        if key not in INTEGRATION_KEYS:
            fail(
                (str(key),),
                f"Unknown key {key!r}; allowed keys: {', '.join(INTEGRATION_KEYS)}.",
            )

    name = _required_string(item, "name", fail)
    provider_slug = _required_string(item, "provider", fail)
    provider = None
    if provider_slug:
        try:
            provider = get_provider(provider_slug)
        except UnknownProvider as error:
            fail(("provider",), str(error))

    values: dict[str, Any] = {
        "base_url": _optional_string(item, "base_url", fail),
        "schedule": _optional_string(item, "schedule", fail).strip(),
        "enabled": True,
        "settings": {},
    }
    if item.get("enabled") is not None:
        if isinstance(item["enabled"], bool):
            values["enabled"] = item["enabled"]
        else:
            fail(("enabled",), "Must be true or false.")
    if item.get("settings") is not None:
        if isinstance(item["settings"], dict):
            values["settings"] = item["settings"]
        else:
            fail(("settings",), "Must be a mapping of setting names to values.")
    if values["schedule"]:
        try:
            validate_cron(values["schedule"])
        except ValidationError as error:
            fail(("schedule",), " ".join(error.messages))
    values.update(_check_timeouts(item.get("timeouts"), fail))
    values.update(_check_rate_limit(item.get("rate_limit"), fail))
    credential_refs = _check_credentials(item.get("credentials"), provider, fail)

    problems.extend(found)
    valid = not found and provider is not None
    return _Entry(index, name, provider, values, credential_refs, valid)


def _required_string(item: dict, key: str, fail: _Fail) -> str:
    value = item.get(key)
    if value is None or value == "":
        fail((key,) if key in item else (), f"Missing required key {key!r}.")
        return ""
    if not isinstance(value, str):
        fail((key,), f"Must be a string, not {_type_name(value)}.")
        return ""
    return value


def _optional_string(item: dict, key: str, fail: _Fail) -> str:
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        fail((key,), f"Must be a string, not {_type_name(value)}.")
        return ""
    return value


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", list: "a list"}
    if isinstance(value, dict):
        return "a mapping"
    return names.get(type(value), type(value).__name__)


def _check_timeouts(value: Any, fail: _Fail) -> dict[str, float | None]:
    result: dict[str, float | None] = dict.fromkeys(TIMEOUT_FIELDS.values())
    if value is None:
        return result
    if not isinstance(value, dict):
        fail(
            ("timeouts",), f"Must be a mapping with keys: {', '.join(TIMEOUT_FIELDS)}."
        )
        return result
    for key, number in value.items():
        if key not in TIMEOUT_FIELDS:
            fail(
                ("timeouts", str(key)),
                f"Unknown key {key!r}; allowed keys: {', '.join(TIMEOUT_FIELDS)}.",
            )
        elif number is None:
            continue
        elif isinstance(number, bool) or not isinstance(number, int | float):
            fail(
                ("timeouts", key),
                f"Must be a number of seconds, not {_type_name(number)}.",
            )
        else:
            result[TIMEOUT_FIELDS[key]] = float(number)
    return result


def _check_rate_limit(value: Any, fail: _Fail) -> dict[str, int | None]:
    result: dict[str, int | None] = dict.fromkeys(RATE_LIMIT_FIELDS.values())
    if value is None:
        return result
    if not isinstance(value, dict):
        fail(("rate_limit",), "Must be a mapping with keys: requests, window.")
        return result
    for key in value:
        if key not in RATE_LIMIT_FIELDS:
            fail(
                ("rate_limit", str(key)),
                f"Unknown key {key!r}; allowed keys: {', '.join(RATE_LIMIT_FIELDS)}.",
            )
    for key, model_field in RATE_LIMIT_FIELDS.items():
        number = value.get(key)
        if number is None:
            fail(
                ("rate_limit",),
                f"Missing {key!r}: a rate limit needs both requests and window.",
            )
        elif isinstance(number, bool) or not isinstance(number, int) or number < 1:
            fail(("rate_limit", key), "Must be a whole number of at least 1.")
        else:
            result[model_field] = number
    return result


def _check_credentials(
    value: Any, provider: Provider | None, fail: _Fail
) -> dict[str, str]:
    """Return credential key -> environment variable name."""
    refs: dict[str, str] = {}
    if value is None:
        return refs
    if not isinstance(value, dict):
        fail(
            ("credentials",),
            "Must be a mapping of credential keys to ${ENV_VAR} references.",
        )
        return refs
    known = {field.key for field in provider.credential_schema} if provider else None
    for key, reference in value.items():
        key = str(key)
        if known is not None and key not in known:
            fail(
                ("credentials", key),
                f"Unknown credential {key!r} for provider {provider.slug!r}; "
                f"known credentials: {', '.join(sorted(known)) or 'none'}.",
            )
            continue
        # Never echo the value: if it is not a reference it may be a secret.
        match = (
            ENV_REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
        )
        if match is None:
            fail(
                ("credentials", key),
                "Must be an environment reference such as ${MY_TOKEN}; secrets are "
                "never written in the file itself.",
            )
            continue
        refs[key] = match.group(1)
    return refs


def _check_duplicate_names(
    document: SourceDocument, entries: list[_Entry], problems: list[Problem]
) -> None:
    first: dict[str, _Entry] = {}
    for entry in list(entries):
        if not entry.name:
            continue
        earlier = first.get(entry.name)
        if earlier is None:
            first[entry.name] = entry
            continue
        where = format_path(earlier.path)
        line = document.line_of((*earlier.path, "name"))
        if line:
            where += f", line {line}"
        problems.append(
            document.problem(
                (*entry.path, "name"),
                f"Duplicate name {entry.name!r}; already used by {where}.",
            )
        )
        entries.remove(entry)


def _resolve_credentials(
    document: SourceDocument,
    entry: _Entry,
    environ: Mapping[str, str],
    problems: list[Problem],
) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for key, variable in entry.credential_refs.items():
        value = environ.get(variable)
        if value is None:
            message = f"Environment variable {variable} is not set."
        elif value == "":
            message = f"Environment variable {variable} is empty."
        else:
            # Known secrets are masked by the logging filter wherever they turn up.
            register_secret(value)
            secrets[key] = value
            continue
        problems.append(document.problem((*entry.path, "credentials", key), message))
    return secrets


def _plan_entry(
    document: SourceDocument,
    entry: _Entry,
    secrets: dict[str, str],
    problems: list[Problem],
) -> IntegrationChange | None:
    """Validate one entry against the model and compare it with what is stored."""
    provider = entry.provider
    if provider is None:
        return None
    existing = Integration.objects.filter(name=entry.name).first()
    if existing is not None and existing.provider != provider.slug:
        problems.append(
            document.problem(
                (*entry.path, "provider"),
                f"Integration {entry.name!r} already exists with provider "
                f"{existing.provider!r}; the provider of an integration cannot change. "
                "Use a new name.",
            )
        )
        return None

    instance = existing or Integration(name=entry.name)
    before = {name: getattr(instance, name) for name in MANAGED_FIELDS}
    instance.provider = provider.slug
    for name, value in entry.values.items():
        setattr(instance, name, value)
    try:
        instance.full_clean()
    except ValidationError as error:
        problems.extend(_validation_problems(document, entry, error))
        return None

    stored = (
        {credential.key: credential for credential in instance.credentials.all()}
        if (existing is not None)
        else {}
    )
    missing = [
        field.key
        for field in provider.credential_schema
        if field.required
        and field.key not in entry.credential_refs
        and not (field.key in stored and stored[field.key].value)
    ]
    for key in missing:
        problems.append(
            document.problem(
                (*entry.path, "credentials"),
                f"Provider {provider.slug!r} needs credential {key!r}; add "
                f"'{key}: ${{ENV_VAR}}' under credentials.",
            )
        )
    if missing:
        return None

    credentials = _plan_credentials(provider, secrets, stored)
    if existing is None:
        return IntegrationChange(entry.name, CREATED, [], credentials, instance)
    changed, update_fields = _changed_fields(before, instance)
    action = UPDATED if update_fields else UNCHANGED
    return IntegrationChange(
        entry.name, action, changed, credentials, instance, update_fields
    )


def _validation_problems(
    document: SourceDocument, entry: _Entry, error: ValidationError
) -> list[Problem]:
    """Turn the model's field errors into problems at file paths."""
    problems = []
    for model_field, messages in error.message_dict.items():
        for message in messages:
            setting, _, rest = message.partition(": ")
            if model_field == "settings" and rest and SETTING_PATH.fullmatch(setting):
                subpath: DocumentPath = ("settings", *_split_setting_path(setting))
                text = rest
            elif model_field in MANAGED_FIELDS:
                subpath = tuple(MANAGED_FIELDS[model_field].split("."))
                text = message
            elif model_field == NON_FIELD_ERRORS:
                subpath, text = (), message
            else:
                subpath, text = (model_field,), message
            problems.append(document.problem((*entry.path, *subpath), text))
    return problems


def _split_setting_path(text: str) -> list[str | int]:
    """Split ``endpoints[0].path`` into ["endpoints", 0, "path"]."""
    return [
        int(index) if index else name for name, index in SETTING_PATH_PART.findall(text)
    ]


def _plan_credentials(
    provider: Provider, secrets: dict[str, str], stored: dict[str, Credential]
) -> list[CredentialChange]:
    kinds = {field.key: field.kind for field in provider.credential_schema}
    changes = []
    for key, plaintext in secrets.items():
        credential = stored.get(key)
        if credential is None or not credential.value:
            action = CREDENTIAL_SET
        else:
            try:
                same = credential.reveal() == plaintext
            except CredentialDecryptionError:
                # Undecryptable means the old key is gone; the file's value
                # replaces it, which is the documented way to recover.
                same = False
            action = CREDENTIAL_UNCHANGED if same else CREDENTIAL_CHANGED
        changes.append(CredentialChange(key, action, kinds[key], plaintext, credential))
    return changes


def _changed_fields(
    before: dict[str, Any], instance: Integration
) -> tuple[list[str], list[str]]:
    """Return (file paths that changed, model fields to save)."""
    changed: list[str] = []
    update_fields: list[str] = []
    for model_field, file_path in MANAGED_FIELDS.items():
        old, new = before[model_field], getattr(instance, model_field)
        if old == new:
            continue
        update_fields.append(model_field)
        if (
            model_field == "settings"
            and isinstance(old, dict)
            and isinstance(new, dict)
        ):
            changed.extend(
                f"settings.{key}"
                for key in sorted(set(old) | set(new), key=str)
                if old.get(key, _MISSING) != new.get(key, _MISSING)
            )
        else:
            changed.append(file_path)
    return changed, update_fields


_MISSING = object()


def apply_plan(plan: ApplyPlan) -> ApplyPlan:
    """Write every change of ``plan`` in one transaction; return the plan."""
    with transaction.atomic():
        for change in plan.changes:
            _apply_change(change)
        for route in plan.routes:
            apply_route_change(route)
    plan.applied = True
    return plan


def _apply_change(change: IntegrationChange) -> None:
    instance = change.instance
    if change.action == CREATED:
        instance.save()
    elif change.action == UPDATED:
        # Only the managed fields: a full save would overwrite the sync lease
        # and health fields that workers update concurrently.
        instance.save(update_fields=[*change.update_fields, "updated_at"])

    for credential_change in change.credentials:
        if credential_change.action == CREDENTIAL_UNCHANGED:
            continue
        credential = credential_change.stored or Credential(
            integration=instance, key=credential_change.key
        )
        credential.kind = credential_change.kind
        credential.set_secret(credential_change.plaintext)
        credential.save()

    if change.writes:
        logger.info(
            "integrations.apply.changed",
            extra={
                "integration": change.name,
                "action": change.action,
                "fields": change.changed_fields,
                # Key names and actions only; "credentials" would be masked
                # whole by the redacting filter.
                "credential_changes": [
                    f"{c.key} {c.action}" for c in change.credentials
                ],
            },
        )


def apply_document(
    document: SourceDocument,
    *,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ApplyPlan:
    """Validate ``document`` and, unless ``dry_run``, apply it; return the plan.

    Validation and writes share one transaction, so the rows compared are
    the rows written: a concurrent change cannot slip in between.
    """
    if dry_run:
        return plan_changes(document, environ=environ)
    with transaction.atomic():
        return apply_plan(plan_changes(document, environ=environ))


def apply_file(
    path: str | Path,
    *,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ApplyPlan:
    """Load, validate and (unless ``dry_run``) apply the file at ``path``."""
    return apply_document(load_document(path), dry_run=dry_run, environ=environ)
