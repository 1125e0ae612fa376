"""API tokens: created once, listed without secret, revoked; bearer and session."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from portal.api.models import LAST_USED_RESOLUTION, ApiToken


@pytest.mark.allow_secret_leak("creating a token shows it, once, on purpose")
def test_creating_a_token_shows_it_once_and_stores_only_a_hash(world, client_for):
    client = client_for(world.learner_a)

    created = client.post("/api/v1/tokens/", {"name": "mobile app"}, format="json")

    assert created.status_code == 201
    body = created.json()
    token = body["token"]
    assert token.startswith(body["prefix"] + "_")
    assert set(body) == {
        "id",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "token",
    }
    row = ApiToken.objects.get(pk=body["id"])
    assert row.user == world.learner_a
    assert row.token_hash == hashlib.sha256(f"{row.salt}:{token}".encode()).hexdigest()
    stored = " ".join(str(value) for value in ApiToken.objects.values_list().get())
    assert token not in stored
    listing = client.get("/api/v1/tokens/").content.decode()
    assert token not in listing
    assert body["prefix"] in listing


def test_a_bearer_token_authenticates_its_user(world, token_client):
    client, row = token_client(world.learner_a)

    courses = client.get("/api/v1/courses/")

    assert courses.status_code == 200
    ids = {course["id"] for course in courses.json()["results"]}
    assert ids == {world.course_a.pk, world.shared.pk}
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(
    world, token_client, django_assert_num_queries
):
    client, row = token_client(world.learner_a)
    client.get("/api/v1/integrations/")
    row.refresh_from_db()
    first_use = row.last_used_at

    # token+user, integrations, their latest runs: no UPDATE of last_used_at.
    with django_assert_num_queries(3):
        client.get("/api/v1/integrations/")

    ApiToken.objects.filter(pk=row.pk).update(
        last_used_at=first_use - LAST_USED_RESOLUTION
    )
    client.get("/api/v1/integrations/")
    row.refresh_from_db()
    assert row.last_used_at > first_use - LAST_USED_RESOLUTION


def test_listing_shows_only_own_tokens_without_secrets(world, token_client):
    client, mine = token_client(world.learner_a, "mine")
    token_client(world.learner_b, "theirs")

    rows = client.get("/api/v1/tokens/").json()["results"]

    assert [(row["id"], row["name"]) for row in rows] == [(mine.pk, "mine")]
    assert set(rows[0]) == {
        "id",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
    }


def test_a_revoked_token_stops_working_at_once(world, token_client, client_for):
    client, row = token_client(world.learner_a)

    revoked = client_for(world.learner_a).delete(f"/api/v1/tokens/{row.pk}/")
    after = client.get("/api/v1/courses/")

    assert revoked.status_code == 204
    assert after.status_code == 401
    assert after.json()["code"] == "authentication_failed"
    assert not ApiToken.objects.filter(pk=row.pk).exists()


def test_a_token_may_revoke_itself(world, token_client):
    client, row = token_client(world.learner_a)

    response = client.delete(f"/api/v1/tokens/{row.pk}/")

    assert response.status_code == 204
    assert client.get("/api/v1/courses/").status_code == 401


def test_an_expired_token_is_refused(world, token_client):
    client, row = token_client(world.learner_a)
    ApiToken.objects.filter(pk=row.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = client.get("/api/v1/courses/")

    assert response.status_code == 401


@pytest.mark.allow_secret_leak("the created token is in the creation response")
def test_an_expiry_can_be_set_but_not_in_the_past(world, client_for):
    client = client_for(world.learner_a)
    future = timezone.now() + timedelta(days=30)

    ok = client.post(
        "/api/v1/tokens/",
        {"name": "ci", "expires_at": future.isoformat()},
        format="json",
    )
    past = client.post(
        "/api/v1/tokens/",
        {"name": "ci", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )

    assert ok.status_code == 201
    assert ApiToken.objects.get(pk=ok.json()["id"]).expires_at == future
    assert past.status_code == 400
    assert past.json()["details"] == {"expires_at": ["Must be in the future."]}


def test_a_token_of_an_inactive_user_is_refused(world, token_client):
    client, _ = token_client(world.learner_a)
    world.learner_a.is_active = False
    world.learner_a.save()

    assert client.get("/api/v1/courses/").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer one two",
        "Bearer opt_0123456789ab_wrong",
        "Bearer not-a-portal-token",
        "bearer opt_",
    ],
)
def test_malformed_or_unknown_tokens_are_401(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/courses/")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_guessed_secret_with_a_real_prefix_is_refused(world, token_client):
    _, row = token_client(world.learner_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {row.prefix}_{'x' * 43}")

    assert client.get("/api/v1/courses/").status_code == 401


def test_no_credentials_is_401_with_a_bearer_challenge(world):
    response = APIClient().get("/api/v1/courses/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_signed_in_session_works_and_writes_need_csrf(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.learner_a)

    read = client.get("/api/v1/courses/")
    write = client.post(
        "/api/v1/tokens/", {"name": "x"}, content_type="application/json"
    )

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["code"] == "permission_denied"
    assert "CSRF" in write.json()["message"]


@pytest.mark.allow_secret_leak("the created token is in the creation response")
def test_a_session_with_its_csrf_token_can_create_tokens(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.learner_a)
    client.get("/admin/login/")
    csrf = client.cookies["csrftoken"].value

    response = client.post(
        "/api/v1/tokens/",
        {"name": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )

    assert response.status_code == 201


def test_token_names_are_validated(world, client_for):
    client = client_for(world.learner_a)

    blank = client.post("/api/v1/tokens/", {"name": ""}, format="json")
    long = client.post("/api/v1/tokens/", {"name": "x" * 101}, format="json")

    assert blank.status_code == 400
    assert list(blank.json()["details"]) == ["name"]
    assert long.status_code == 400


def test_a_user_may_hold_a_bounded_number_of_tokens(world, client_for, settings):
    from portal.api.serializers import MAX_TOKENS_PER_USER

    for number in range(MAX_TOKENS_PER_USER):
        ApiToken.objects.issue(world.learner_a, f"t{number}")

    response = client_for(world.learner_a).post(
        "/api/v1/tokens/", {"name": "one more"}, format="json"
    )

    assert response.status_code == 400
    assert "non_field_errors" in response.json()["details"]


def test_the_admin_lists_tokens_without_their_secret(world, token_client, admin_client):
    _, row = token_client(world.learner_a, "kiosk")

    listing = admin_client.get("/admin/api/apitoken/")
    change = admin_client.get(f"/admin/api/apitoken/{row.pk}/change/")

    assert listing.status_code == 200
    assert "kiosk" in listing.content.decode()
    assert change.status_code == 200
    assert row.token_hash not in change.content.decode()
    assert row.salt not in change.content.decode()
