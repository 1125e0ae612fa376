"""The fake Canvas behaves as Canvas is documented to (checked with plain HTTP)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.canvas import (
    INVALID_TOKEN,
    LEGACY_THROTTLE_BODY,
    NOT_FOUND,
    UNAUTHORIZED,
    CanvasFake,
    bookmark,
)

TOKEN = "fake-canvas-check-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> Iterator[CanvasFake]:
    server = CanvasFake(token=TOKEN)
    for number in range(1, 151):
        server.add_course(id=number, name=f"Course {number}")
    with server:
        yield server


def get(fake: CanvasFake, path_or_url: str, **kwargs) -> requests.Response:
    url = path_or_url if path_or_url.startswith("http") else fake.url + path_or_url
    kwargs.setdefault("headers", AUTH)
    return requests.get(url, timeout=5, **kwargs)


def test_page_size_defaults_to_10_and_is_capped_at_100(fake):
    assert len(get(fake, "/api/v1/accounts/1/courses").json()) == 10
    big = get(fake, "/api/v1/accounts/1/courses", params={"per_page": 500})
    assert len(big.json()) == 100


def test_link_header_has_absolute_opaque_links_and_no_next_on_the_last_page(fake):
    seen: list[int] = []
    url = fake.url + "/api/v1/accounts/1/courses?per_page=40&include[]=term"
    pages = 0
    while url:
        response = get(fake, url)
        pages += 1
        seen.extend(course["id"] for course in response.json())
        links = response.links
        assert {"current", "first", "last"} <= set(links)
        for link in links.values():
            assert link["url"].startswith(fake.url + "/api/v1/accounts/1/courses?")
            assert "include%5B%5D=term" in link["url"]
        url = links.get("next", {}).get("url")
        if url:
            token = re.search(r"page=([^&]+)", url).group(1)
            assert token.startswith("bookmark%3A")
    assert pages == 4
    assert seen == list(range(1, 151))


def test_bookmarks_encode_the_last_id_of_the_page_before(fake):
    response = get(fake, "/api/v1/accounts/1/courses", params={"per_page": 10})

    assert bookmark([10]) == "bookmark:WzEwXQ"
    assert "bookmark%3AWzEwXQ" in response.links["next"]["url"]
    decoded = base64.urlsafe_b64decode("WzEwXQ==").decode()
    assert json.loads(decoded) == [10]


def test_a_garbled_page_token_is_a_bad_request(fake):
    response = get(fake, "/api/v1/accounts/1/courses", params={"page": "3"})

    assert response.status_code == 400
    assert response.json() == {"error": "invalid page parameter"}


def test_every_answer_carries_the_throttle_headers(fake):
    answers = [
        get(fake, "/api/v1/users/self"),
        get(fake, "/api/v1/users/self", headers={}),
        get(fake, "/api/v1/courses/9999/assignments"),
    ]

    assert [answer.status_code for answer in answers] == [200, 401, 404]
    for answer in answers:
        assert float(answer.headers["X-Request-Cost"]) > 0
        assert float(answer.headers["X-Rate-Limit-Remaining"]) <= 700


def test_invalid_token_and_unauthorized_action_have_canvas_shapes(fake):
    invalid = get(fake, "/api/v1/users/self", headers={"Authorization": "Bearer no"})
    fake.unauthorized.append(re.compile("/api/v1/accounts/1/courses"))
    refused = get(fake, "/api/v1/accounts/1/courses")

    assert invalid.status_code == 401
    assert invalid.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    assert invalid.json() == INVALID_TOKEN
    assert refused.status_code == 401
    assert "WWW-Authenticate" not in refused.headers
    assert refused.json() == UNAUTHORIZED


def test_throttling_answers_429_or_the_legacy_403(fake):
    fake.throttle_next(1, retry_after=2)
    fake.throttle_next(1, status=403)

    current = get(fake, "/api/v1/users/self")
    legacy = get(fake, "/api/v1/users/self")

    assert (current.status_code, current.headers["Retry-After"]) == (429, "2")
    assert legacy.status_code == 403
    assert legacy.text == LEGACY_THROTTLE_BODY
    assert "Retry-After" not in legacy.headers
    assert get(fake, "/api/v1/users/self").status_code == 200


def test_the_leaky_bucket_throttles_when_the_quota_is_spent(fake):
    fake.quota, fake.request_cost, fake.outflow = 3.0, 1.0, 0.0

    statuses = [get(fake, "/api/v1/users/self").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_account_courses_hide_deleted_ones_unless_asked(fake):
    fake.update_course(3, workflow_state="deleted")

    default = get(fake, "/api/v1/accounts/1/courses", params={"per_page": 100})
    every = get(
        fake, "/api/v1/accounts/1/courses", params={"per_page": 100, "state[]": "all"}
    )

    assert 3 not in [course["id"] for course in default.json()]
    assert 3 in [course["id"] for course in every.json()]
    assert get(fake, "/api/v1/accounts/999/courses").json() == NOT_FOUND


def test_enrollments_filter_by_type_and_state_and_email_is_opt_in():
    with CanvasFake.school(token=TOKEN) as fake:
        default = get(fake, "/api/v1/courses/101/enrollments")
        students = get(
            fake,
            "/api/v1/courses/101/enrollments",
            params={"type[]": "StudentEnrollment", "include[]": "email"},
        )

    assert [e["id"] for e in default.json()] == [3001, 3002, 3003, 3004]
    assert all("email" not in e["user"] for e in default.json())
    assert [e["id"] for e in students.json()] == [3001, 3002, 3003]
    assert students.json()[0]["user"]["email"] == "ada@example.edu"


def test_grading_returns_the_submission_or_canvas_errors():
    with CanvasFake.school(token=TOKEN) as fake:
        fake.add_assignment(101, id=77, grading_type="percent", points_possible=50.0)
        url = fake.url + "/api/v1/courses/101/assignments/77/submissions/501"

        graded = requests.put(
            url, data={"submission[posted_grade]": "85%"}, headers=AUTH, timeout=5
        )
        as_json = requests.put(
            url, json={"submission": {"posted_grade": "40"}}, headers=AUTH, timeout=5
        )
        missing = requests.put(url, data={}, headers=AUTH, timeout=5)
        garbage = requests.put(
            url, data={"submission[posted_grade]": "lots"}, headers=AUTH, timeout=5
        )
        stranger = requests.put(
            url.replace("/501", "/999"),
            data={"submission[posted_grade]": "1"},
            headers=AUTH,
            timeout=5,
        )

    assert graded.status_code == 200
    body = graded.json()
    assert (body["grade"], body["score"], body["workflow_state"]) == (
        "85%",
        42.5,
        "graded",
    )
    assert body["all_submissions"][0]["id"] == body["id"]
    assert as_json.json()["score"] == 40.0
    assert missing.status_code == garbage.status_code == 400
    assert missing.json() == {"error": "submission[posted_grade] is required"}
    assert garbage.json() == {"error": "Invalid posted_grade 'lots'"}
    assert stranger.status_code == 404
