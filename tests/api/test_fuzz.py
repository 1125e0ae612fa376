"""Schema-driven fuzzing (schemathesis) of the whole API through the WSGI app.

Every operation of /api/v1/schema/ gets generated requests, valid and
invalid, as a learner or as staff (with a bearer token). No answer may
be a server error, and every answer must match the schema: a documented
status, its content type, its headers and its body shape. Schemathesis'
coverage phase sends each operation's boundary cases (huge ids, NUL bytes,
wrong types, undeclared methods); its fuzzing phase is bounded to a few
examples per operation so the suite stays quick.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.api.models import ApiToken

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def test_transaction_kept():
    """Keep the test's database connection open across WSGI requests.

    Django closes connections at the start and end of each request; in a
    test that would drop the transaction holding the test's rows (on
    PostgreSQL). django.test.Client disconnects the same handlers; this does
    it for schemathesis' WSGI client.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(world, settings, test_transaction_kept):
    """Load the schema from the WSGI app, with the throttles off."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "anon": None,
            "user": None,
            "token": None,
            "write": None,
        },
    }
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION,
        deterministic=True,
    )
    return schema


@pytest.fixture
def bearer(world):
    """Return an endless alternation of a learner's and staff's auth headers."""
    headers = []
    for who in ("learner_a", "staff"):
        _, token = ApiToken.objects.issue(getattr(world, who), f"fuzz {who}")
        headers.append({"Authorization": f"Bearer {token}"})
    return itertools.cycle(headers)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_makes_a_server_error_or_breaks_the_schema(case, bearer):
    # Each generated request is sent once, as the learner or as staff in
    # turn, so every operation is fuzzed as both in half the time.
    headers = next(bearer)

    response = case.call(headers=headers)

    case.validate_response(response, checks=CHECKS, headers=headers)
