"""Keyset pagination with whitelisted ordering: page 400 costs what page 1 does.

A page is ``WHERE (sort key) > (the last row's key) ORDER BY sort key LIMIT
n+1``, never an OFFSET, so its cost does not grow with the page number. The
sort key is the chosen field plus ``id`` as a tie-breaker, which makes it
unique, so no row is skipped or repeated between pages even when many rows
share a value. NULLs sort last in both directions on every database.

The cursor is opaque to clients (base64 of JSON with the ordering, the
direction and the key of the row to continue from); it carries no ids the
user could not see anyway, since every query starts from a scoped queryset.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import reduce
from operator import and_, or_
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Model, Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
_MAX_CURSOR_LENGTH = 2000
_INT64 = 2**63


@dataclass(frozen=True)
class SortField:
    """One field of the sort key: its column (attname), direction, nullability."""

    attname: str
    descending: bool
    nullable: bool

    def forward(self) -> Any:
        """Return the ORDER BY expression of the forward direction."""
        if not self.nullable:
            return f"-{self.attname}" if self.descending else self.attname
        expression = F(self.attname)
        if self.descending:
            return expression.desc(nulls_last=True)
        return expression.asc(nulls_last=True)

    def backward(self) -> Any:
        """Return the ORDER BY expression that walks the forward order back."""
        if not self.nullable:
            return self.attname if self.descending else f"-{self.attname}"
        expression = F(self.attname)
        if self.descending:
            return expression.asc(nulls_first=True)
        return expression.desc(nulls_first=True)

    def equal(self, value: Any) -> Q:
        """Return the condition "same value as ``value``"."""
        if value is None:
            return Q(**{f"{self.attname}__isnull": True})
        return Q(**{self.attname: value})

    def after(self, value: Any) -> Q | None:
        """Return the condition "strictly after ``value``" (NULLs last)."""
        if value is None:
            return None
        lookup = "lt" if self.descending else "gt"
        condition = Q(**{f"{self.attname}__{lookup}": value})
        if self.nullable:
            condition |= Q(**{f"{self.attname}__isnull": True})
        return condition

    def before(self, value: Any) -> Q | None:
        """Return the condition "strictly before ``value``" (NULLs last)."""
        if value is None:
            return Q(**{f"{self.attname}__isnull": False})
        lookup = "gt" if self.descending else "lt"
        return Q(**{f"{self.attname}__{lookup}": value})


def _seek(sort_key: list[SortField], values: list[Any], *, forward: bool) -> Q:
    """Return the rows strictly after (or before) ``values`` in the sort key."""
    terms = []
    for index, field in enumerate(sort_key):
        step = field.after(values[index]) if forward else field.before(values[index])
        if step is None:
            continue
        prefix = [sort_key[i].equal(values[i]) for i in range(index)]
        terms.append(reduce(and_, [*prefix, step]))
    if not terms:
        return Q(pk__in=[])
    return reduce(or_, terms)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class KeysetPagination(BasePagination):
    """Paginate by keyset on the view's whitelisted ordering.

    The view declares ``ordering_fields`` (public name to model field name)
    and ``default_ordering`` (e.g. "id" or "-created_at"). Query parameters:
    ``ordering`` (a public name, "-" for descending), ``page_size`` and
    ``cursor`` (from a ``next``/``previous`` link).
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_param = "ordering"
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Model]:
        """Return the rows of the requested page and remember its links."""
        self.request = request
        self.base_url = request.build_absolute_uri()
        model = queryset.model
        ordering = self._ordering(request, view)
        sort_key = self._sort_key(model, view, ordering)
        size = self._page_size(request)
        cursor = self._cursor(request, ordering, sort_key, model)

        forward = cursor is None or cursor[0] == "n"
        expressions = [f.forward() if forward else f.backward() for f in sort_key]
        queryset = queryset.order_by(*expressions)
        if cursor is not None:
            queryset = queryset.filter(_seek(sort_key, cursor[1], forward=forward))
        rows = list(queryset[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if not forward:
            rows.reverse()

        self._ordering_key = ordering
        self._next = self._previous = None
        if rows:
            first = [_encode_value(getattr(rows[0], f.attname)) for f in sort_key]
            last = [_encode_value(getattr(rows[-1], f.attname)) for f in sort_key]
            if forward:
                self._next = last if more else None
                self._previous = first if cursor is not None else None
            else:
                self._next = last
                self._previous = first if more else None
        return rows

    def get_paginated_response(self, data: list[Any]) -> Response:
        """Wrap a page's serialized rows with the links to its neighbours."""
        return Response(
            OrderedDict(
                [
                    ("next", self._link("n", self._next)),
                    ("previous", self._link("p", self._previous)),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        """Describe the paginated response in OpenAPI."""
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next page; null on the last."},
                "previous": {
                    **link,
                    "description": "The previous page; null on the first.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        """Describe ``cursor``, ``page_size`` and ``ordering`` in OpenAPI."""
        names = sorted(getattr(view, "ordering_fields", {}) or {"id": "id"})
        choices = [value for name in names for value in (name, f"-{name}")]
        default = getattr(view, "default_ordering", "id")
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque page position, from a next or previous link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.page_size}).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                },
            },
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": (
                    f"Sort field, '-' for descending (default {default}); ties "
                    "are broken by id."
                ),
                "schema": {"type": "string", "enum": choices},
            },
        ]

    def _ordering(self, request: Request, view: Any) -> str:
        fields = getattr(view, "ordering_fields", {}) or {"id": "id"}
        default = getattr(view, "default_ordering", "id")
        value = request.query_params.get(self.ordering_param, "").strip() or default
        if value.removeprefix("-") not in fields:
            allowed = ", ".join(sorted(fields))
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {value!r}; choose one of: {allowed} "
                        "(prefix '-' for descending)."
                    ]
                }
            )
        return value

    def _sort_key(
        self, model: type[Model], view: Any, ordering: str
    ) -> list[SortField]:
        fields = getattr(view, "ordering_fields", {}) or {"id": "id"}
        descending = ordering.startswith("-")
        names = [fields[ordering.removeprefix("-")]]
        if names[0] != "id":
            names.append("id")
        sort_key = []
        for name in names:
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                raise LookupError(f"{model.__name__} has no field {name!r}") from None
            sort_key.append(SortField(field.attname, descending, bool(field.null)))
        return sort_key

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return size

    def _cursor(
        self,
        request: Request,
        ordering: str,
        sort_key: list[SortField],
        model: type[Model],
    ) -> tuple[str, list[Any]] | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            if len(encoded) > _MAX_CURSOR_LENGTH:
                raise ValueError("too long")
            padded = encoded + "=" * (-len(encoded) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(data, dict) or data.get("o") != ordering:
                raise ValueError("made for another ordering")
            direction, raw_values = data["d"], data["p"]
            if direction not in ("n", "p") or not isinstance(raw_values, list):
                raise ValueError("malformed")
            if len(raw_values) != len(sort_key):
                raise ValueError("malformed")
            values = [
                self._parse_value(model, field, value)
                for field, value in zip(sort_key, raw_values, strict=True)
            ]
        except (
            ValueError,
            KeyError,
            TypeError,
            UnicodeError,
            binascii.Error,
            DjangoValidationError,
        ):
            raise ValidationError(
                {
                    self.cursor_query_param: [
                        "Invalid cursor: use the next or previous link of a page "
                        "unchanged, with the same ordering."
                    ]
                }
            ) from None
        return direction, values

    def _parse_value(self, model: type[Model], field: SortField, value: Any) -> Any:
        if value is None:
            if not field.nullable:
                raise ValueError("null in a non-null field")
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("unexpected value type")
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            raise ValueError("integer out of range")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("NUL character")
        model_field = next(
            f for f in model._meta.concrete_fields if f.attname == field.attname
        )
        parsed = model_field.to_python(value)
        if isinstance(parsed, datetime) and parsed.tzinfo is None:
            raise ValueError("naive datetime")
        return parsed

    def _link(self, direction: str, values: list[Any] | None) -> str | None:
        if values is None:
            return None
        payload = {"o": self._ordering_key, "d": direction, "p": values}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        url = remove_query_param(self.base_url, self.cursor_query_param)
        return replace_query_param(url, self.cursor_query_param, encoded)
