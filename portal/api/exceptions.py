"""Every API error as one JSON shape: ``{"code", "message", "details"}``.

``code`` is stable and machine-readable, ``message`` a sentence for a person,
``details`` an object: field errors for ``invalid``, ``retry_after`` for
``throttled``, the existing row for ``conflict``, otherwise empty.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

#: The code of each DRF exception class; others fall back to DRF's own code.
CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}
MESSAGES: dict[str, str] = {
    "invalid": "The request has invalid values; see details for each field.",
    "not_found": "Not found.",
    "permission_denied": "You do not have permission to do this.",
}


class Conflict(exceptions.APIException):
    """The request clashes with an existing row (HTTP 409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with an existing object."
    default_code = "conflict"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    """Return the portal's JSON error shape."""
    return {"code": code, "message": message, "details": details or {}}


def _code_of(exc: exceptions.APIException) -> str:
    for exception_class in type(exc).__mro__:
        if exception_class in CODES:
            return CODES[exception_class]
    return getattr(exc, "default_code", "error")


def _message_of(code: str, exc: exceptions.APIException) -> str:
    if isinstance(exc.detail, str):
        return str(exc.detail)
    return MESSAGES.get(code, str(exc.default_detail))


def _details_of(code: str, exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, Conflict):
        return exc.details
    if isinstance(exc, exceptions.Throttled):
        return {"retry_after": math.ceil(exc.wait) if exc.wait is not None else None}
    if code == "invalid":
        if isinstance(exc.detail, dict):
            return exc.detail
        # A serializer-wide error (no field), e.g. from validate().
        return {"non_field_errors": exc.detail}
    return {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Render ``exc`` in the error shape; unexpected errors become a 500."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.error(
            "api.unhandled_error",
            exc_info=exc,
            extra={"view": type(view).__name__ if view else ""},
        )
        return Response(
            error_body("server_error", "The server failed to answer this request."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    code = _code_of(exc)
    response.data = error_body(code, _message_of(code, exc), _details_of(code, exc))
    return response


@csrf_exempt
def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Answer a path under /api/v1/ that no endpoint serves.

    Exempt from CSRF checks: it changes nothing, and a POST to a wrong path
    should learn that the path is wrong, not that a cookie is missing.
    """
    return JsonResponse(
        error_body(
            "not_found",
            "No API endpoint at this path; /api/v1/docs/ lists them.",
        ),
        status=status.HTTP_404_NOT_FOUND,
    )
