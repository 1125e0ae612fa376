"""Streams of the generic REST provider: endpoint mappings and paging.

An admin describes each collection of a JSON API as an endpoint mapping:
where it lives, which portal record type its items become, and a dotted
path into each item for every record field. This module checks those
mappings, turns items into normalized records and drives the HTTP layer's
pagination. docs/providers/rest.md is the admin-facing description.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils.dateparse import parse_date, parse_datetime

from integrations.http import pagination as http_pagination
from integrations.providers.base import Page, Stream
from integrations.redaction import is_sensitive_name

if TYPE_CHECKING:
    from integrations.providers.base import StreamContext
    from integrations.records import Record

logger = logging.getLogger(__name__)

STREAM_NAME = re.compile(r"^[a-z0-9_]{1,50}$")
PAGINATION_STYLES = ("link", "page", "offset", "cursor", "header_page", "none")
ENDPOINT_KEYS = (
    "stream",
    "path",
    "record_type",
    "items_path",
    "params",
    "fields",
    "state_map",
    "role_map",
)

# The portal's own vocabularies (portal.learning.models), repeated here so
# that settings validation does not import the domain app.
COURSE_STATES = ("unpublished", "active", "completed", "deleted")
ENROLLMENT_STATES = ("active", "invited", "completed", "inactive", "deleted")
ENROLLMENT_ROLES = ("student", "teacher", "ta", "designer", "observer")

# Two decimal places, as the portal's Decimal columns store them.
CENT = Decimal("0.01")
MAX_POINTS = Decimal("99999999.99")


@dataclass(frozen=True)
class FieldSpec:
    """How one mapped field is read from an item and where it lands."""

    kind: str
    target: str
    required: bool = False


def _common_fields() -> dict[str, FieldSpec]:
    return {
        "external_id": FieldSpec("id", "external_id", required=True),
        "created_at": FieldSpec("datetime", "remote_created_at"),
        "updated_at": FieldSpec("datetime", "remote_updated_at"),
    }


def _learner_fields() -> dict[str, FieldSpec]:
    return {
        "course_external_id": FieldSpec("id", "course_external_id", required=True),
        "learner_id": FieldSpec("id", "learner.remote_user_id", required=True),
        "learner_email": FieldSpec("text", "learner.email"),
        "learner_name": FieldSpec("text", "learner.name"),
    }


#: The fields each record type accepts in an endpoint's ``fields`` mapping.
RECORD_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "course": {
        **_common_fields(),
        "title": FieldSpec("text", "title", required=True),
        "code": FieldSpec("text", "code"),
        "state": FieldSpec("state", "state"),
        "starts_at": FieldSpec("datetime", "starts_at"),
        "ends_at": FieldSpec("datetime", "ends_at"),
        "url": FieldSpec("text", "url"),
    },
    "assignment": {
        **_common_fields(),
        "course_external_id": FieldSpec("id", "course_external_id", required=True),
        "title": FieldSpec("text", "title", required=True),
        "due_at": FieldSpec("datetime", "due_at"),
        "points_possible": FieldSpec("decimal", "points_possible"),
    },
    "enrollment": {
        **_common_fields(),
        **_learner_fields(),
        "role": FieldSpec("role", "role"),
        "state": FieldSpec("state", "state"),
    },
    "progress": {
        **_common_fields(),
        **_learner_fields(),
        "percent": FieldSpec("percent", "percent"),
        "grade": FieldSpec("text", "grade"),
        "completed_at": FieldSpec("datetime", "completed_at"),
    },
}

#: The record types an endpoint may yield: the LMS ones, which have fields here.
REST_RECORD_TYPES = tuple(RECORD_FIELDS)

STATES_BY_RECORD_TYPE = {"course": COURSE_STATES, "enrollment": ENROLLMENT_STATES}


class ItemError(Exception):
    """One item cannot become a record; the sync records it and goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Endpoint:
    """One checked endpoint mapping: a collection that becomes one stream."""

    stream: str
    path: str
    record_type: str
    fields: Mapping[str, str | tuple[str, ...]]
    items_path: str | None = None
    params: Mapping[str, Any] | None = None
    state_map: Mapping[str, str] | None = None
    role_map: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Paging:
    """The pagination settings of an integration, shared by all its endpoints."""

    style: str = "link"
    page_size: int = 100
    page_param: str = "page"
    size_param: str = ""
    first_page: int = 1
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_path: str = "next_cursor"
    cursor_param: str = "cursor"
    next_page_header: str = "X-Next-Page"

    def pagination(self, size: int) -> http_pagination.Pagination:
        """Return the HTTP layer's pagination style for ``size`` items a request."""
        if self.style == "link":
            return http_pagination.LinkHeaderPagination()
        if self.style == "page":
            return http_pagination.PageNumberPagination(
                page_param=self.page_param,
                size_param=self.size_param or "per_page",
                size=size,
                start=self.first_page,
            )
        if self.style == "offset":
            return http_pagination.OffsetPagination(
                offset_param=self.offset_param, limit_param=self.limit_param, limit=size
            )
        if self.style == "cursor":
            return http_pagination.BodyCursorPagination(
                cursor_path=self.cursor_path, cursor_param=self.cursor_param
            )
        if self.style == "header_page":
            return http_pagination.HeaderPagePagination(
                next_page_header=self.next_page_header, page_param=self.page_param
            )
        return SinglePagePagination()

    def size_params(self, size: int) -> dict[str, Any]:
        """Return the query parameters that ask for ``size`` items a request.

        Page and offset pagination send their own; the styles that follow a
        pointer from the server send ``size_param`` only when it is set.
        """
        if self.style == "offset":
            return {self.limit_param: size}
        if self.style == "page":
            return {self.size_param or "per_page": size}
        if self.style in ("link", "cursor", "header_page") and self.size_param:
            return {self.size_param: size}
        return {}

    def reserved_params(self) -> dict[str, str]:
        """Return the query parameters this pagination sets, with their setting."""
        names = {
            "page": [
                ("page_param", self.page_param),
                ("size_param", self.size_param or "per_page"),
            ],
            "offset": [
                ("offset_param", self.offset_param),
                ("limit_param", self.limit_param),
            ],
            "cursor": [
                ("cursor_param", self.cursor_param),
                ("size_param", self.size_param),
            ],
            "header_page": [
                ("page_param", self.page_param),
                ("size_param", self.size_param),
            ],
            "link": [("size_param", self.size_param)],
        }.get(self.style, [])
        return {param: setting for setting, param in names if param}


class SinglePagePagination(http_pagination.Pagination):
    """Fetch one page, for APIs that answer the whole collection at once."""

    def request_for(
        self, path: str, params: Mapping[str, Any] | None, cursor: dict[str, Any] | None
    ) -> http_pagination.PageRequest:
        """Return the one request; no cursor points past it."""
        return http_pagination.PageRequest(path, dict(params) if params else None)

    def next_cursor(
        self,
        request: http_pagination.PageRequest,
        response: Any,
        body: Any,
        items: list[Any],
    ) -> dict[str, Any] | None:
        """Return None: there is no next page."""
        return None


# --- Checking endpoint mappings ---------------------------------------------


def parse_endpoints(
    raw: Any, *, reserved_params: Mapping[str, str] | None = None
) -> tuple[list[Endpoint], list[str]]:
    """Return the endpoints described by ``raw`` and every problem found.

    Each problem names the path at fault, such as
    ``endpoints[1].fields: missing 'external_id'``. ``reserved_params``
    maps query parameters the provider sets itself (pagination, query auth)
    to the setting that controls them.
    """
    reserved = {name.lower(): owner for name, owner in (reserved_params or {}).items()}
    if not isinstance(raw, list):
        return [], [
            f"endpoints: expected a list of endpoint mappings, got {_kind(raw)}"
        ]
    if not raw:
        return [], ["endpoints: add at least one endpoint mapping"]

    endpoints: list[Endpoint] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    types: dict[str, int] = {}
    for index, entry in enumerate(raw):
        where = f"endpoints[{index}]"
        endpoint, problems = _parse_endpoint(entry, where, reserved)
        errors.extend(problems)
        if endpoint is None:
            continue
        if endpoint.stream in seen:
            errors.append(
                f"{where}.stream: {endpoint.stream!r} is already the stream of "
                f"endpoints[{seen[endpoint.stream]}]; stream names must be unique"
            )
            continue
        if endpoint.record_type in types:
            # Deletions are marked per record type: two endpoints of one type
            # would mark each other's rows deleted on every pass.
            errors.append(
                f"{where}.record_type: endpoints[{types[endpoint.record_type]}] already "
                f"provides {endpoint.record_type!r} records; use one endpoint per record type"
            )
            continue
        seen[endpoint.stream] = index
        types[endpoint.record_type] = index
        endpoints.append(endpoint)

    # Judged on what was declared, so a course endpoint with a typo does not
    # also produce this error.
    declared = [entry.get("record_type") for entry in raw if isinstance(entry, dict)]
    dependents = [e for e in endpoints if e.record_type != "course"]
    if dependents and "course" not in declared:
        names = ", ".join(repr(e.stream) for e in dependents)
        errors.append(
            f"endpoints: {names} refer to courses, but no endpoint has record_type 'course'"
        )
    return endpoints, errors


def _parse_endpoint(
    entry: Any, where: str, reserved: Mapping[str, str]
) -> tuple[Endpoint | None, list[str]]:
    if not isinstance(entry, dict):
        return None, [f"{where}: expected a mapping, got {_kind(entry)}"]

    errors = [
        f"{where}.{key}: unknown key; known keys: {', '.join(ENDPOINT_KEYS)}"
        for key in entry
        if key not in ENDPOINT_KEYS
    ]
    stream = entry.get("stream")
    if not isinstance(stream, str) or not STREAM_NAME.match(stream):
        errors.append(
            f"{where}.stream: expected a name of 1 to 50 characters a-z, 0-9 or _, "
            f"got {_describe(stream)}"
        )
    path = entry.get("path")
    path_problem = check_path(path)
    if path_problem:
        errors.append(f"{where}.path: {path_problem}")
    record_type = entry.get("record_type")
    if record_type not in REST_RECORD_TYPES:
        errors.append(
            f"{where}.record_type: expected one of {', '.join(REST_RECORD_TYPES)}, "
            f"got {_describe(record_type)}"
        )
        record_type = None
    items_path = entry.get("items_path")
    if items_path is not None and not is_dotted_path(items_path):
        errors.append(
            f"{where}.items_path: expected a dotted path such as 'data.items'"
        )
    params = entry.get("params")
    if params is not None:
        errors.extend(_check_params(params, f"{where}.params", reserved))
    fields = entry.get("fields")
    if record_type is not None:
        errors.extend(_check_fields(fields, record_type, f"{where}.fields"))
        errors.extend(_check_value_map(entry, "state_map", record_type, where))
        errors.extend(_check_value_map(entry, "role_map", record_type, where))

    if errors:
        return None, errors
    endpoint = Endpoint(
        stream=stream,
        path=path,
        record_type=record_type,
        fields={
            name: tuple(value) if isinstance(value, list) else value
            for name, value in fields.items()
        },
        items_path=items_path,
        params=dict(params or {}),
        state_map=dict(entry.get("state_map") or {}),
        role_map=dict(entry.get("role_map") or {}),
    )
    return endpoint, []


def check_path(path: Any) -> str:
    """Return what is wrong with an endpoint path, or an empty string."""
    if not isinstance(path, str) or not path:
        return f"expected a path such as '/api/courses', got {_describe(path)}"
    if path.startswith("//") or "://" in path:
        return "expected a path on the base URL, not a full URL"
    if not path.startswith("/"):
        return f"expected a path starting with '/', such as '/{path}'"
    if "?" in path or "#" in path:
        return "put query parameters in 'params', not in the path"
    if any(char.isspace() for char in path):
        return "a path cannot contain spaces"
    return ""


def is_dotted_path(value: Any) -> bool:
    """Return whether ``value`` is a dotted path such as ``user.id``."""
    return isinstance(value, str) and bool(value) and all(value.split("."))


def _check_params(params: Any, where: str, reserved: Mapping[str, str]) -> list[str]:
    if not isinstance(params, dict):
        return [f"{where}: expected a mapping of query parameters, got {_kind(params)}"]

    errors = []
    for name, value in params.items():
        owner = reserved.get(str(name).lower())
        if owner:
            errors.append(
                f"{where}.{name}: this parameter is set by {owner}; remove it here"
            )
            continue
        if is_sensitive_name(str(name)):
            errors.append(
                f"{where}.{name}: looks like a secret; settings are stored in plain "
                "text, so use auth 'query' with the credential 'token' instead"
            )
            continue
        values = value if isinstance(value, list) else [value]
        if not values or not all(_is_scalar(item) for item in values):
            errors.append(
                f"{where}.{name}: expected a string, number, boolean or a list of them"
            )
    return errors


def _check_fields(fields: Any, record_type: str, where: str) -> list[str]:
    if not isinstance(fields, dict):
        return [
            f"{where}: expected a mapping of record fields to item paths, got {_kind(fields)}"
        ]

    known = RECORD_FIELDS[record_type]
    errors = []
    for name, path in fields.items():
        if name not in known:
            errors.append(
                f"{where}.{name}: {record_type} records have no field {name!r}; "
                f"fields: {', '.join(known)}"
            )
        elif name == "external_id" and isinstance(path, list):
            if not path or not all(is_dotted_path(part) for part in path):
                errors.append(
                    f"{where}.{name}: expected a dotted path or a list of them"
                )
        elif not is_dotted_path(path):
            errors.append(f"{where}.{name}: expected a dotted path such as 'user.id'")
    for name, spec in known.items():
        if spec.required and name not in fields:
            errors.append(f"{where}: missing {name!r}")
    return errors


def _check_value_map(entry: dict, key: str, record_type: str, where: str) -> list[str]:
    mapping = entry.get(key)
    if mapping is None:
        return []

    field_name = "state" if key == "state_map" else "role"
    fields = entry.get("fields")
    if field_name not in RECORD_FIELDS[record_type]:
        return [f"{where}.{key}: {record_type} records have no {field_name}"]
    if not isinstance(fields, dict):
        return []  # the fields error already says what is wrong
    if field_name not in fields:
        return [f"{where}.{key}: set but fields has no {field_name!r} to map"]
    if not isinstance(mapping, dict):
        return [f"{where}.{key}: expected a mapping of remote values to portal values"]
    allowed = (
        ENROLLMENT_ROLES if key == "role_map" else STATES_BY_RECORD_TYPE[record_type]
    )
    return [
        f"{where}.{key}.{remote}: {value!r} is not a {record_type} {field_name}; "
        f"expected one of {', '.join(allowed)}"
        for remote, value in mapping.items()
        if value not in allowed
    ]


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "a boolean"}
    if value is None:
        return "nothing"
    return names.get(type(value), type(value).__name__)


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _kind(value)


# --- Mapping items to records -----------------------------------------------

_MISSING: Any = object()


def lookup(item: Any, path: str) -> Any:
    """Return the value at dotted ``path`` in ``item``, or ``_MISSING``.

    A segment of digits indexes a list, so ``tags.0`` is the first tag.
    """
    value = item
    for segment in path.split("."):
        if isinstance(value, dict):
            value = value.get(segment, _MISSING)
        elif (
            isinstance(value, list) and segment.isdigit() and int(segment) < len(value)
        ):
            value = value[int(segment)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


class RecordMapper:
    """Turn the items of one endpoint into normalized records."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.specs = RECORD_FIELDS[endpoint.record_type]

    def map_items(self, items: list[Any]) -> tuple[list[Record], list[dict[str, Any]]]:
        """Return the records made from ``items`` and a failure for each bad item."""
        records: list[Record] = []
        failures: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            external_id = None
            try:
                if not isinstance(item, dict):
                    raise ItemError(f"item {position} of the page is not a JSON object")
                external_id = self.external_id(item)
                records.append(self.map_item(item, external_id))
            except ItemError as error:
                failures.append({"external_id": external_id, "reason": error.reason})
        return records, failures

    def external_id(self, item: dict[str, Any]) -> str:
        """Return the item's id as a string; a list of paths joins with ':'."""
        paths = self.endpoint.fields["external_id"]
        if isinstance(paths, str):
            return _read_id(item, "external_id", paths)
        return ":".join(_read_id(item, "external_id", path) for path in paths)

    def map_item(self, item: dict[str, Any], external_id: str) -> Record:
        """Return the record for one item or raise ItemError saying why not."""
        record: dict[str, Any] = {
            "type": self.endpoint.record_type,
            "external_id": external_id,
        }
        for name, path in self.endpoint.fields.items():
            if name == "external_id":
                continue
            spec = self.specs[name]
            value = lookup(item, path)
            if value is _MISSING or value is None:
                if spec.required:
                    raise ItemError(f"{name}: the item has no value at {path!r}")
                empty = self._empty(spec)
                if empty is not _MISSING:
                    _place(record, spec.target, empty)
                continue
            _place(record, spec.target, self._convert(name, spec, path, value))

        return record  # type: ignore[return-value]

    def _empty(self, spec: FieldSpec) -> Any:
        # A value that went away must clear the stored one, so dates and
        # texts become None and ""; states, roles and percent have no empty
        # value and are left out, keeping the portal's default.
        if spec.kind in ("datetime", "decimal"):
            return None
        if spec.kind == "text":
            return ""
        return _MISSING

    def _convert(self, name: str, spec: FieldSpec, path: str, value: Any) -> Any:
        if spec.kind == "id":
            return _as_id(name, path, value)
        if spec.kind == "text":
            return _as_text(name, path, value)
        if spec.kind == "datetime":
            return _as_datetime(name, path, value)
        if spec.kind == "decimal":
            return _as_decimal(name, path, value, maximum=MAX_POINTS)
        if spec.kind == "percent":
            percent = _as_decimal(name, path, value, maximum=None)
            if not Decimal(0) <= percent <= Decimal(100):
                raise ItemError(f"percent: {percent} is outside 0 to 100")
            return percent
        if spec.kind == "state":
            allowed = STATES_BY_RECORD_TYPE[self.endpoint.record_type]
            return self._translate(
                name, value, self.endpoint.state_map, allowed, "state_map"
            )
        return self._translate(
            name, value, self.endpoint.role_map, ENROLLMENT_ROLES, "role_map"
        )

    def _translate(
        self,
        name: str,
        value: Any,
        mapping: Mapping[str, str] | None,
        allowed: tuple[str, ...],
        map_key: str,
    ) -> str:
        if isinstance(value, bool):
            remote = "true" if value else "false"
        elif isinstance(value, str | int | float):
            remote = str(value)
        else:
            raise ItemError(f"{name}: expected text, got {_kind(value)}")
        portal_value = (mapping or {}).get(remote, remote)
        if portal_value not in allowed:
            raise ItemError(
                f"{name}: {remote!r} is not a {self.endpoint.record_type} {name} "
                f"({', '.join(allowed)}); map it in {map_key}"
            )
        return portal_value


def _place(record: dict[str, Any], target: str, value: Any) -> None:
    if "." in target:
        parent, key = target.split(".", 1)
        record.setdefault(parent, {})[key] = value
    else:
        record[target] = value


def _read_id(item: dict[str, Any], name: str, path: str) -> str:
    value = lookup(item, path)
    if value is _MISSING or value is None:
        raise ItemError(f"{name}: the item has no value at {path!r}")
    return _as_id(name, path, value)


def _as_id(name: str, path: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ItemError(
        f"{name}: the value at {path!r} is not a usable id ({_kind(value)})"
    )


def _as_text(name: str, path: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ItemError(f"{name}: expected text at {path!r}, got {_kind(value)}")


def _as_datetime(name: str, path: str, value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Unix seconds, as some APIs send timestamps.
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise ItemError(
                f"{name}: {value} at {path!r} is not a Unix time"
            ) from error
    if not isinstance(value, str):
        raise ItemError(
            f"{name}: expected an ISO 8601 date at {path!r}, got {_kind(value)}"
        )

    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            parsed = datetime.combine(day, time.min) if day else None
    except ValueError as error:
        raise ItemError(f"{name}: the value at {path!r} is not a valid date") from error
    if parsed is None:
        raise ItemError(f"{name}: the value at {path!r} is not an ISO 8601 date")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _as_decimal(
    name: str, path: str, value: Any, *, maximum: Decimal | None
) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ItemError(f"{name}: expected a number at {path!r}, got {_kind(value)}")

    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise ItemError(f"{name}: the value at {path!r} is not a number") from error
    if not number.is_finite():
        raise ItemError(f"{name}: the value at {path!r} is not a finite number")
    number = number.quantize(CENT, rounding=ROUND_HALF_UP)
    if maximum is not None and abs(number) > maximum:
        raise ItemError(f"{name}: {number} is too large")
    return number


# --- Streams ----------------------------------------------------------------


class RestStream(Stream):
    """One endpoint of a JSON API, read page by page into normalized records."""

    prefetch = True

    def __init__(
        self, endpoint: Endpoint, paging: Paging, depends_on: tuple[str, ...] = ()
    ) -> None:
        self.name = endpoint.stream
        self.record_type = endpoint.record_type
        self.depends_on = depends_on
        self.endpoint = endpoint
        self.paging = paging
        self.mapper = RecordMapper(endpoint)

    def __repr__(self) -> str:
        return f"<RestStream {self.name} ({self.record_type}) {self.endpoint.path}>"

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of records from ``cursor`` (None: the first page)."""
        size = self.paging.page_size
        if context.page_limit:
            size = max(1, min(size, context.page_limit))
        params = {**query_params(self.endpoint.params), **self.paging.size_params(size)}

        fetched_pages = context.client.paginate(
            self.endpoint.path,
            params=params,
            pagination=self.paging.pagination(size),
            cursor=cursor,
            items_path=self.endpoint.items_path,
        )
        for fetched in fetched_pages:
            records, failures = self.mapper.map_items(fetched.items)
            if failures:
                logger.warning(
                    "rest.sync.items_failed",
                    extra={
                        "integration": context.integration.name,
                        "stream": self.name,
                        "failed": len(failures),
                        "fetched": len(fetched.items),
                    },
                )
            yield Page(
                records=records,
                next_cursor=fetched.next_cursor,
                fetched=len(fetched.items),
                failures=failures,
            )


def query_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return an endpoint's params as query values: booleans become true/false."""

    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    return {
        name: [convert(item) for item in value]
        if isinstance(value, list)
        else convert(value)
        for name, value in (params or {}).items()
    }


def build_streams(endpoints: list[Endpoint], paging: Paging) -> list[RestStream]:
    """Return one stream per endpoint, course streams first.

    Every other stream refers to courses by id, so it depends on all the
    course streams and the engine syncs them after.
    """
    course_streams = tuple(e.stream for e in endpoints if e.record_type == "course")
    streams = [RestStream(e, paging) for e in endpoints if e.record_type == "course"]
    streams += [
        RestStream(e, paging, depends_on=course_streams)
        for e in endpoints
        if e.record_type != "course"
    ]
    return streams
