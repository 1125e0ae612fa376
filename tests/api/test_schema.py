"""The OpenAPI schema: valid, complete, served with local docs, and fuzzed."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema(db) -> dict:
    """Return the schema as served at /api/v1/schema/."""
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_validates_without_a_single_warning(tmp_path):
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    assert yaml.safe_load(out.read_text())["openapi"].startswith("3.")


def test_the_schema_covers_every_resource(schema):
    paths = set(schema["paths"])

    for resource in (
        "courses",
        "assignments",
        "enrollments",
        "progress",
        "repositories",
        "playlists",
        "videos",
        "integrations",
        "sync-runs",
        "tokens",
    ):
        assert f"/api/v1/{resource}/" in paths
    assert "/api/v1/progress/{id}/" in paths
    assert "/api/v1/repositories/{id}/" in paths
    detail = schema["paths"]["/api/v1/repositories/{id}/"]["get"]["responses"]["200"]
    ref = detail["content"]["application/json"]["schema"]["$ref"]
    assert (
        "readme" in schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    )
    assert "/api/v1/integrations/{name}/" in paths
    assert set(schema["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}


def test_every_operation_lists_its_errors_in_the_error_shape(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"401", "403", "429"}
            if "{" in path:
                expected.add("404")
            if method in ("post", "patch"):
                expected |= {"400", "415"}
            if method == "get" and "{" not in path:
                expected.add("400")
            assert expected <= set(responses), (method, path, sorted(responses))
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == ERROR_REF, (method, path, code)
            if "429" in responses:
                assert "Retry-After" in responses["429"]["headers"]
    assert "409" in schema["paths"]["/api/v1/progress/"]["post"]["responses"]


def test_every_field_is_typed(schema):
    untyped = []

    def visit(node, where):
        if isinstance(node, dict):
            if "properties" in node:
                for name, prop in node["properties"].items():
                    typed = {"type", "$ref", "allOf", "oneOf", "anyOf"} & set(prop)
                    if not typed:
                        untyped.append(f"{where}.{name}")
            for key, value in node.items():
                visit(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, f"{where}[{index}]")

    visit(schema, "schema")
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert parameter["schema"].get("type"), parameter
    assert untyped == []


def test_the_error_component_has_the_three_keys(schema):
    error = schema["components"]["schemas"]["Error"]

    assert set(error["required"]) == {"code", "message", "details"}
    assert error["properties"]["details"]["type"] == "object"


def test_the_docs_page_loads_nothing_from_a_cdn(db):
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    )
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", html)
    assert external == []
    assert "cdn" not in html.lower()


def test_the_sidecar_assets_are_served(db, client):
    response = client.get(
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"
    )

    assert response.status_code == 200


def test_the_schema_command_writes_the_same_paths_as_the_endpoint(schema):
    out = io.StringIO()

    call_command("spectacular", "--format", "openapi-json", stdout=out)

    assert set(yaml.safe_load(out.getvalue())["paths"]) == set(schema["paths"])
