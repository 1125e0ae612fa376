"""OpenAPI details drf-spectacular cannot infer: bearer auth and error answers.

Every operation lists the errors it can answer, each with the portal's error
shape, so generated clients and the schema-driven fuzzer know them: 401,
403 and 429 everywhere, 400 where a body or query parameters are read, 404
on paths with an id, 415 where a body is read; 409 is declared where it
happens (progress creation).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from portal.api.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (code invalid or parse_error); details names the fields.",
    "401": (
        "Not signed in (not_authenticated), or the bearer token is invalid, "
        "expired or revoked (authentication_failed)."
    ),
    "403": "Signed in but not allowed (permission_denied), e.g. a failed CSRF check.",
    "404": "No such object, or not one you may see (not_found).",
    "409": "Conflicts with an existing object (conflict).",
    "415": "The body is not JSON (unsupported_media_type).",
    "429": "Too many requests (throttled); retry after Retry-After seconds.",
}
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describe ``Authorization: Bearer <token>`` (API tokens) in OpenAPI."""

    target_class = "portal.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        """Return the security scheme object."""
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API token from POST /api/v1/tokens/, sent as "
                "'Authorization: Bearer <token>'."
            ),
        }


class PortalAutoSchema(AutoSchema):
    """AutoSchema that adds the portal's error responses to every operation."""

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code in responses:
                continue
            response = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]),
                code,
                direction=direction,
            )
            if code == "429":
                response["headers"] = RETRY_AFTER_HEADER
            responses[code] = response
        return dict(sorted(responses.items()))

    def _error_codes(self) -> list[str]:
        codes = ["401", "403", "429"]
        has_body = self.method in ("POST", "PUT", "PATCH")
        reads_query = self._is_list_view() or bool(
            getattr(self.view, "filterset_class", None)
        )
        if has_body or reads_query:
            codes.append("400")
        if has_body:
            codes.append("415")
        if "{" in self.path:
            codes.append("404")
        return codes
