"""The JSON API fake behaves as the APIs it stands for: auth, paging, faults."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.fakes.faulty import server_error
from tests.fakes.json_api import JsonApiFake, demo_collections

ROOT = Path(__file__).resolve().parents[3]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, object]:
    """GET ``url``; return status, headers and the parsed body (None if not JSON)."""
    response = requests.get(url, headers=headers or {}, timeout=5)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, response.headers, body


def test_missing_and_wrong_bearer_tokens_get_401_with_a_challenge():
    with JsonApiFake(collections=demo_collections(), token="right") as fake:
        status, headers, body = get(fake.collection_url("courses"))
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Bearer realm="json-api"'
        assert body["error"] == "unauthorized"

        status, headers, _ = get(
            fake.collection_url("courses"), {"Authorization": "Bearer wrong"}
        )
        assert status == 401
        assert headers["WWW-Authenticate"].endswith('error="invalid_token"')


def test_basic_credentials_are_checked():
    with JsonApiFake(
        collections=demo_collections(), auth="basic", password="pw"
    ) as fake:
        good = base64.b64encode(b"portal:pw").decode()
        bad = base64.b64encode(b"portal:nope").decode()

        assert (
            get(fake.collection_url("courses"), {"Authorization": f"Basic {good}"})[0]
            == 200
        )
        status, headers, _ = get(
            fake.collection_url("courses"), {"Authorization": f"Basic {bad}"}
        )
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic ")


def test_link_header_has_absolute_urls_without_the_query_key():
    fake = JsonApiFake(
        collections=demo_collections(), auth="query", token="k", page_size=2
    )
    with fake:
        status, headers, body = get(fake.collection_url("courses") + "?api_key=k&x=1")

        assert status == 200
        assert len(body) == 2
        link = headers["Link"]
        assert f'<{fake.url}/api/courses?x=1&page=2>; rel="next"' in link
        assert "api_key" not in link


def test_header_page_is_empty_on_the_last_page():
    fake = JsonApiFake(
        collections=demo_collections(),
        auth="none",
        pagination="header_page",
        page_size=2,
    )
    with fake:
        _, first, _ = get(fake.collection_url("courses"))
        _, last, body = get(fake.collection_url("courses") + "?page=2")

        assert first["X-Next-Page"] == "2"
        assert last["X-Next-Page"] == ""
        assert [item["id"] for item in body] == [103]


def test_bad_cursor_and_bad_page_are_400():
    with JsonApiFake(
        collections=demo_collections(), auth="none", pagination="cursor"
    ) as fake:
        assert get(fake.collection_url("courses") + "?cursor=%%%")[0] == 400
        fake.pagination = "page"
        assert get(fake.collection_url("courses") + "?page=zero")[0] == 400


def test_unknown_collection_is_404():
    with JsonApiFake(collections=demo_collections(), auth="none") as fake:
        assert get(fake.collection_url("lessons"))[0] == 404


def test_scripted_failures_pass_and_requests_are_counted():
    with JsonApiFake(collections=demo_collections(), auth="none") as fake:
        fake.fail_next(503, times=2, path="/api/courses")

        statuses = [get(fake.collection_url("courses"))[0] for _ in range(3)]

        assert statuses == [503, 503, 200]
        assert fake.request_count("/api/courses") == 3
        assert get(fake.collection_url("assignments"))[0] == 200
        assert fake.request_count() == 4


def test_faulty_replies_can_be_put_in_front_of_a_collection():
    with JsonApiFake(collections=demo_collections(), auth="none") as fake:
        fake.reply("GET", "/api/courses", server_error(502))

        assert get(fake.collection_url("courses"))[0] == 502
        assert get(fake.collection_url("progress"))[0] == 200


def test_changes_between_requests_are_served():
    with JsonApiFake(collections={"courses": [{"id": 1}]}, auth="none") as fake:
        fake.add("courses", {"id": 2})
        fake.update("courses", 1, name="renamed")
        fake.delete("courses", 2)

        assert get(fake.collection_url("courses"))[2] == [{"id": 1, "name": "renamed"}]
        with pytest.raises(KeyError):
            fake.delete("courses", 99)


def test_runs_as_a_script_serving_the_demo_data():
    script = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.json_api", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = script.stdout.readline()
        origin = banner.split(" on ")[1].split(" ")[0]

        status, _, body = get(
            f"{origin}/api/courses", {"Authorization": "Bearer demo-token"}
        )
        assert status == 200
        assert [course["id"] for course in body] == [101, 102]
    finally:
        script.send_signal(signal.SIGINT)
        script.communicate()

    assert script.returncode == 0
