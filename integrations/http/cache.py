"""Response cache with a TTL and conditional requests (ETag / Last-Modified).

Only ``GET`` responses with status 200 are stored. Keys are a sha256 over the
namespace, method, URL, sorted parameters and the credential fingerprint:
two users' tokens on one URL never share a response (requests-cache keys by
URL only; docs/http-layer.md, "Every call", step 6). Authorization and cookie
headers are never stored, and a response marked ``Cache-Control: no-store``
is not stored.

Freshness: an entry is fresh for ``ttl`` seconds after it was stored or
revalidated. A stale entry with a validator (ETag or Last-Modified) is kept
for ``keep_stale_for`` more seconds (a day by default) so the client can send
a conditional request and, on 304, call ``revalidated``; a stale entry
without a validator is useless and is not returned.

Counting: ``hits`` counts fresh entries returned by ``lookup``; ``misses``
counts lookups that returned nothing or a stale entry (which costs a
request, if a cheap one); ``revalidations`` counts 304s recorded.

If the cache cannot be reached, lookups miss and stores are skipped, with
``http.cache.unavailable`` logged: a cache outage must not stop syncs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Headers never written to the cache: they carry credentials or sessions.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "set-cookie2"}
)

_FORMAT = 1

Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


@dataclass
class CachedEntry:
    """One cached response and whether it is still fresh."""

    status: int
    headers: dict[str, str]
    content: bytes
    fresh: bool
    etag: str | None
    last_modified: str | None
    stored_at: float
    #: When the entry stops being fresh (epoch seconds).
    expires_at: float = 0.0
    #: The cache key, so ``revalidated`` can update the stored entry.
    key: str = ""

    @property
    def has_validator(self) -> bool:
        """Return whether a conditional request can revalidate this entry."""
        return bool(self.etag or self.last_modified)


class ResponseCache:
    """Cache GET responses per namespace, URL, parameters and credential."""

    def __init__(
        self,
        namespace: str,
        cache: Any = None,
        *,
        clock: Callable[[], float] = time.time,
        keep_stale_for: float = 86400.0,
        max_entry_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        if not namespace or not isinstance(namespace, str):
            raise ValueError(f"ResponseCache needs a namespace, not {namespace!r}.")
        if cache is None:
            from django.core.cache import cache as default_cache

            cache = default_cache
        self.namespace = namespace
        self.cache = cache
        self.clock = clock
        self.keep_stale_for = keep_stale_for
        self.max_entry_bytes = max_entry_bytes
        self.hits = 0
        self.misses = 0
        self.revalidations = 0
        self.stores = 0
        self._lock = threading.Lock()

    def key(
        self, method: str, url: str, params: Params, credential_fingerprint: str | None
    ) -> str:
        """Return the cache key of a request."""
        material = json.dumps(
            [
                self.namespace,
                method.upper(),
                url,
                _normalize_params(params),
                credential_fingerprint or "",
            ],
            separators=(",", ":"),
        )
        return "httpcache:" + hashlib.sha256(material.encode()).hexdigest()

    def lookup(
        self, method: str, url: str, params: Params, credential_fingerprint: str | None
    ) -> CachedEntry | None:
        """Return the stored entry (fresh or revalidatable), or None."""
        if method.upper() != "GET":
            return None
        key = self.key(method, url, params, credential_fingerprint)
        try:
            stored = self.cache.get(key)
        except Exception as error:
            self._unavailable("lookup", error)
            stored = None

        entry = _entry_from(stored, key, self.clock())
        if entry is not None and not entry.fresh and not entry.has_validator:
            entry = None
        self._count("hits" if entry is not None and entry.fresh else "misses")
        return entry

    def store(
        self,
        method: str,
        url: str,
        params: Params,
        credential_fingerprint: str | None,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        ttl: float,
    ) -> None:
        """Store a GET 200 response for ``ttl`` seconds (longer if it has validators)."""
        if ttl is None or not ttl >= 0:
            raise ValueError(f"ttl must be a number of seconds >= 0, not {ttl!r}.")
        if method.upper() != "GET" or status != 200:
            return
        directives = _cache_control(headers)
        if "no-store" in directives:
            return
        if "no-cache" in directives:
            # The service wants every use revalidated.
            ttl = 0
        if len(content) > self.max_entry_bytes:
            return
        kept = {
            str(name): str(value)
            for name, value in headers.items()
            if str(name).lower() not in SENSITIVE_HEADERS
        }
        etag = _header(kept, "etag")
        last_modified = _header(kept, "last-modified")
        if ttl == 0 and not (etag or last_modified):
            return

        now = self.clock()
        value = {
            "format": _FORMAT,
            "status": status,
            "headers": kept,
            "content": bytes(content),
            "etag": etag,
            "last_modified": last_modified,
            "stored_at": now,
            "expires_at": now + ttl,
        }
        key = self.key(method, url, params, credential_fingerprint)
        self._write(key, value, bool(etag or last_modified), ttl)
        self._count("stores")

    def revalidated(self, entry: CachedEntry, ttl: float) -> None:
        """Mark ``entry`` fresh for ``ttl`` more seconds after a 304 Not Modified."""
        if not entry.key:
            raise ValueError("revalidated() needs an entry returned by lookup().")
        if ttl is None or not ttl >= 0:
            raise ValueError(f"ttl must be a number of seconds >= 0, not {ttl!r}.")
        now = self.clock()
        entry.stored_at = now
        entry.expires_at = now + ttl
        entry.fresh = ttl > 0

        value = {
            "format": _FORMAT,
            "status": entry.status,
            "headers": dict(entry.headers),
            "content": entry.content,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "stored_at": now,
            "expires_at": now + ttl,
        }
        self._write(entry.key, value, entry.has_validator, ttl)
        self._count("revalidations")

    def conditional_headers(self, entry: CachedEntry) -> dict[str, str]:
        """Return the If-None-Match / If-Modified-Since headers for ``entry``."""
        headers = {}
        if entry.etag:
            headers["If-None-Match"] = entry.etag
        if entry.last_modified:
            headers["If-Modified-Since"] = entry.last_modified
        return headers

    def stats(self) -> dict[str, Any]:
        """Return this instance's counters and hit ratio."""
        with self._lock:
            lookups = self.hits + self.misses
            return {
                "namespace": self.namespace,
                "hits": self.hits,
                "misses": self.misses,
                "revalidations": self.revalidations,
                "stores": self.stores,
                "hit_ratio": self.hits / lookups if lookups else None,
            }

    def _write(
        self, key: str, value: dict[str, Any], revalidatable: bool, ttl: float
    ) -> None:
        timeout = ttl + self.keep_stale_for if revalidatable else ttl
        try:
            self.cache.set(key, value, max(math.ceil(timeout), 1))
        except Exception as error:
            self._unavailable("store", error)

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def _unavailable(self, operation: str, error: Exception) -> None:
        # Only the error's type: a cache error's text can carry its URL.
        logger.warning(
            "http.cache.unavailable",
            extra={
                "namespace": self.namespace,
                "operation": operation,
                "error": type(error).__name__,
            },
        )


def _normalize_params(params: Params) -> list[list[str]]:
    if not params:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    pairs = []
    for name, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        # requests drops parameters whose value is None.
        pairs.extend([str(name), _text(item)] for item in values if item is not None)
    return sorted(pairs)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


def _cache_control(headers: Mapping[str, str]) -> set[str]:
    value = _header(headers, "cache-control") or ""
    return {part.strip().split("=", 1)[0].lower() for part in value.split(",")}


def _entry_from(stored: Any, key: str, now: float) -> CachedEntry | None:
    if not isinstance(stored, dict) or stored.get("format") != _FORMAT:
        return None
    return CachedEntry(
        status=stored["status"],
        headers=dict(stored["headers"]),
        content=stored["content"],
        fresh=now < stored["expires_at"],
        etag=stored["etag"],
        last_modified=stored["last_modified"],
        stored_at=stored["stored_at"],
        expires_at=stored["expires_at"],
        key=key,
    )
