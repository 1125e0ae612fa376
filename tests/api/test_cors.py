"""CORS: configured origins may call the API from a browser; nothing else."""

from __future__ import annotations

import pytest
from django.test import Client

APP = "https://app.example.edu"


@pytest.fixture
def cors(settings):
    """Allow one front-end origin."""
    settings.CORS_ALLOWED_ORIGINS = [APP]


def preflight(client: Client, path: str, origin: str):
    """Send a browser's preflight for a GET with a bearer token."""
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_an_allowed_origin_passes_the_preflight(db, cors):
    response = preflight(Client(), "/api/v1/courses/", APP)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "authorization" in response["Access-Control-Allow-Headers"].lower()
    assert response["Access-Control-Max-Age"] == "3600"
    assert "Access-Control-Allow-Credentials" not in response


def test_an_allowed_origin_reads_with_a_token(world, cors, token_client):
    client, _ = token_client(world.learner_a)

    response = client.get("/api/v1/courses/", HTTP_ORIGIN=APP)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP


def test_another_origin_gets_no_cors_headers(db, cors):
    response = preflight(Client(), "/api/v1/courses/", "https://evil.example.com")

    assert "Access-Control-Allow-Origin" not in response


def test_pages_outside_the_api_never_answer_cross_origin(db, cors):
    response = preflight(Client(), "/admin/login/", APP)

    assert "Access-Control-Allow-Origin" not in response


def test_no_origin_is_allowed_by_default(db):
    response = preflight(Client(), "/api/v1/courses/", APP)

    assert "Access-Control-Allow-Origin" not in response
