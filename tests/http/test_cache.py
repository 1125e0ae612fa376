"""Tests of the response cache: TTL, credential separation and revalidation."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from requests.structures import CaseInsensitiveDict

from integrations.http.cache import CachedEntry, ResponseCache
from tests.conftest import require_service

REDIS_URL = "redis://127.0.0.1:6379/15"
URL = "https://canvas.example.edu/api/v1/courses"
ETAG = '"v1-abc"'
LAST_MODIFIED = "Wed, 21 Oct 2025 07:28:00 GMT"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def responses(clock) -> ResponseCache:
    return ResponseCache("canvas-main", clock=clock)


def store(
    cache: ResponseCache, *, fingerprint="token-a", headers=None, ttl=60.0, **kwargs
):
    arguments = {
        "method": "GET",
        "url": URL,
        "params": {"per_page": 100},
        "credential_fingerprint": fingerprint,
        "status": 200,
        "headers": {"Content-Type": "application/json"} if headers is None else headers,
        "content": b'[{"id": 1}]',
        "ttl": ttl,
    }
    arguments.update(kwargs)
    cache.store(**arguments)


def lookup(cache: ResponseCache, *, fingerprint="token-a", params=None, method="GET"):
    params = {"per_page": 100} if params is None else params
    return cache.lookup(method, URL, params, fingerprint)


def test_lookup_misses_then_hits_after_store(responses, clock):
    assert lookup(responses) is None

    store(responses)
    entry = lookup(responses)

    assert isinstance(entry, CachedEntry)
    assert entry.fresh is True
    assert entry.status == 200
    assert entry.content == b'[{"id": 1}]'
    assert entry.headers == {"Content-Type": "application/json"}
    assert entry.stored_at == clock.now
    assert (responses.hits, responses.misses) == (1, 1)


def test_entries_expire_after_their_ttl(responses, clock):
    store(responses, ttl=60)

    clock.now += 59.9
    assert lookup(responses).fresh is True
    clock.now += 0.2

    assert lookup(responses) is None
    assert (responses.hits, responses.misses) == (1, 1)


def test_two_credentials_on_one_url_never_share_a_response(responses):
    store(responses, fingerprint="token-a", content=b"alice's courses")
    store(responses, fingerprint="token-b", content=b"bob's courses")

    assert lookup(responses, fingerprint="token-a").content == b"alice's courses"
    assert lookup(responses, fingerprint="token-b").content == b"bob's courses"
    assert lookup(responses, fingerprint="token-c") is None
    assert lookup(responses, fingerprint=None) is None


def test_keys_depend_on_namespace_method_url_and_params(clock):
    canvas = ResponseCache("canvas-main", clock=clock)
    other = ResponseCache("canvas-other", clock=clock)
    key = canvas.key("GET", URL, {"a": 1, "b": [2, 3]}, "token-a")

    assert key == canvas.key("get", URL, [("b", 2), ("b", 3), ("a", "1")], "token-a")
    assert key == canvas.key("GET", URL, {"b": [2, 3], "a": 1, "c": None}, "token-a")
    assert key != canvas.key("GET", URL, {"a": 1, "b": [3, 2, 4]}, "token-a")
    assert key != canvas.key("GET", URL + "/1", {"a": 1, "b": [2, 3]}, "token-a")
    assert key != canvas.key("GET", URL, {"a": 1, "b": [2, 3]}, "token-b")
    assert key != other.key("GET", URL, {"a": 1, "b": [2, 3]}, "token-a")
    assert key.startswith("httpcache:") and len(key) == len("httpcache:") + 64
    assert "token-a" not in key


def test_different_params_are_different_entries(responses):
    store(responses, params={"page": 1}, content=b"page one")

    assert lookup(responses, params={"page": 1}).content == b"page one"
    assert lookup(responses, params={"page": 2}) is None


@pytest.mark.parametrize(
    ("method", "status"), [("POST", 200), ("PUT", 200), ("GET", 201), ("GET", 404)]
)
def test_only_get_200_is_stored(responses, method, status):
    store(responses, method=method, status=status)

    assert lookup(responses) is None


def test_lookup_of_other_methods_never_hits(responses):
    store(responses)

    assert lookup(responses, method="POST") is None


def test_credential_headers_are_never_stored(responses):
    headers = CaseInsensitiveDict(
        {
            "Content-Type": "application/json",
            "Set-Cookie": "session=secret",
            "authorization": "Bearer secret",
            "Proxy-Authorization": "Basic secret",
            "ETag": ETAG,
        }
    )

    store(responses, headers=headers)

    entry = lookup(responses)
    assert entry.headers == {"Content-Type": "application/json", "ETag": ETAG}
    assert "secret" not in repr(default_cache.get(entry.key))


def test_no_store_responses_are_not_stored(responses):
    store(responses, headers={"Cache-Control": "private, no-store", "ETag": ETAG})

    assert lookup(responses) is None


def test_no_cache_responses_are_kept_only_for_revalidation(responses):
    store(responses, headers={"Cache-Control": "no-cache", "ETag": ETAG}, ttl=300)

    entry = lookup(responses)

    assert entry.fresh is False
    assert entry.etag == ETAG


def test_validators_are_kept_and_turned_into_conditional_headers(responses):
    store(responses, headers={"etag": ETAG, "Last-Modified": LAST_MODIFIED})

    entry = lookup(responses)

    assert entry.etag == ETAG
    assert entry.last_modified == LAST_MODIFIED
    assert responses.conditional_headers(entry) == {
        "If-None-Match": ETAG,
        "If-Modified-Since": LAST_MODIFIED,
    }


def test_conditional_headers_only_name_present_validators(responses):
    store(responses, headers={"Last-Modified": LAST_MODIFIED})

    assert responses.conditional_headers(lookup(responses)) == {
        "If-Modified-Since": LAST_MODIFIED
    }


def test_stale_entries_with_a_validator_are_returned_for_revalidation(responses, clock):
    store(responses, headers={"ETag": ETAG}, ttl=60)
    clock.now += 3600

    entry = lookup(responses)

    assert entry.fresh is False
    assert entry.content == b'[{"id": 1}]'
    assert (responses.hits, responses.misses) == (0, 1)


def test_stale_entries_without_a_validator_are_not_returned(responses, clock):
    store(responses, headers={}, ttl=60)
    clock.now += 61

    assert lookup(responses) is None


def test_ttl_zero_keeps_only_revalidatable_entries(responses):
    store(responses, headers={}, ttl=0)
    assert lookup(responses) is None

    store(responses, headers={"ETag": ETAG}, ttl=0)
    entry = lookup(responses)

    assert entry.fresh is False
    assert entry.etag == ETAG


def test_revalidated_refreshes_freshness(responses, clock):
    store(responses, headers={"ETag": ETAG}, ttl=60)
    clock.now += 120
    stale = lookup(responses)

    responses.revalidated(stale, ttl=30)

    assert stale.fresh is True
    assert stale.stored_at == clock.now
    fresh = lookup(responses)
    assert fresh.fresh is True
    assert fresh.content == b'[{"id": 1}]'
    assert fresh.stored_at == clock.now
    clock.now += 31
    assert lookup(responses).fresh is False
    assert responses.stats() == {
        "namespace": "canvas-main",
        "hits": 1,
        "misses": 2,
        "revalidations": 1,
        "stores": 1,
        "hit_ratio": pytest.approx(1 / 3),
    }


def test_revalidated_needs_an_entry_from_lookup(responses):
    entry = CachedEntry(200, {}, b"", False, ETAG, None, 0.0)

    with pytest.raises(ValueError, match="entry returned by lookup"):
        responses.revalidated(entry, ttl=10)


@pytest.mark.parametrize("ttl", [-1, None, float("nan")])
def test_store_rejects_bad_ttl(responses, ttl):
    with pytest.raises(ValueError, match="ttl must be"):
        store(responses, ttl=ttl)


def test_large_bodies_are_not_stored(clock):
    small = ResponseCache("canvas-main", clock=clock, max_entry_bytes=10)

    store(small, content=b"x" * 11)

    assert lookup(small) is None


def test_stats_before_any_lookup(responses):
    assert responses.stats()["hit_ratio"] is None


def test_an_unreachable_cache_misses_and_skips_stores(clock, caplog):
    unreachable = ResponseCache(
        "canvas-main", cache=RedisCache("redis://127.0.0.1:1/0", {}), clock=clock
    )

    with caplog.at_level(logging.WARNING, logger="integrations.http.cache"):
        store(unreachable)
        assert lookup(unreachable) is None

    assert [record.msg for record in caplog.records] == ["http.cache.unavailable"] * 2
    assert unreachable.misses == 1


@pytest.mark.services
def test_backend_keeps_revalidatable_entries_for_a_day(clock):
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    prefix = f"test-cache-{uuid.uuid4().hex}"
    backend = RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})
    responses = ResponseCache("canvas-main", cache=backend, clock=clock)

    try:
        store(responses, headers={"ETag": ETAG}, ttl=0)
        store(responses, fingerprint="token-b", headers={}, ttl=60)

        revalidatable = backend.make_key(
            responses.key("GET", URL, {"per_page": 100}, "token-a")
        )
        plain = backend.make_key(
            responses.key("GET", URL, {"per_page": 100}, "token-b")
        )
        assert 86000 < client.ttl(revalidatable) <= 86400
        assert 0 < client.ttl(plain) <= 60
        assert lookup(responses).etag == ETAG
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
