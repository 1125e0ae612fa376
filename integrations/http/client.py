"""The one HTTP client every provider talks through.

It owns a pooled session per integration and, on every call: sets connect
and read timeouts, applies the credential (only on the integration's own
host), waits for a rate-limit slot, follows redirects itself through the
SSRF guard, retries what is safe to retry with jittered backoff inside a
time budget, answers from or revalidates the response cache, turns every
failure into a typed error from :mod:`integrations.errors`, and counts the
call in the metrics. No provider imports ``requests``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlencode, urljoin, urlsplit

import requests

import portal
from integrations import redaction
from integrations.errors import (
    AuthenticationFailed,
    ConfigurationError,
    IntegrationError,
    InvalidResponse,
    NotFound,
    PermanentError,
    PermissionDenied,
    RateLimited,
    RateLimitWaitTooLong,
    TransientError,
    UnsafeURLError,
)
from integrations.http import metrics
from integrations.http.auth import HttpAuth
from integrations.http.cache import ResponseCache
from integrations.http.pagination import FetchedPage, Pagination, extract_items
from integrations.http.ratelimit import RateLimit, RateLimiter
from integrations.http.response import HttpResponse
from integrations.http.retry import (
    RateLimitSignal,
    backoff_delay,
    is_idempotent,
    parse_retry_after,
)
from integrations.http.ssrf import GuardedHTTPAdapter, check_url

__all__ = [
    "USER_AGENT",
    "FetchedPage",
    "HttpClient",
    "HttpPolicy",
    "HttpResponse",
    "RateLimitSignal",
]

logger = logging.getLogger(__name__)

USER_AGENT = f"ORCATech-Portal/{portal.__version__}"
MAX_REDIRECTS = 5

_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Bound on the URLs remembered as having validators, so a long sync cannot
# grow the set without limit; losing it only costs a full fetch.
_MAX_REVALIDATABLE = 4096

ErrorMapper = Callable[[HttpResponse], IntegrationError | None]
RateLimitSignals = Callable[[HttpResponse], RateLimitSignal | None]


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retry limits of a client; ``backoff_*`` are in seconds."""

    connect_timeout: float
    read_timeout: float
    retry_budget: float
    max_retries: int
    backoff_base: float = 1.0
    backoff_cap: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout"):
            if not _is_seconds(getattr(self, name), allow_zero=False):
                raise ConfigurationError(
                    f"HttpPolicy.{name} must be a number of seconds above 0, "
                    f"not {getattr(self, name)!r}."
                )
        for name in ("retry_budget", "backoff_base", "backoff_cap"):
            if not _is_seconds(getattr(self, name), allow_zero=True):
                raise ConfigurationError(
                    f"HttpPolicy.{name} must be a number of seconds, 0 or more, "
                    f"not {getattr(self, name)!r}."
                )
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(
                f"HttpPolicy.max_retries must be an integer, 0 or more, not {retries!r}."
            )


def _is_seconds(value: Any, *, allow_zero: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0


@dataclass
class _Call:
    """What one ``request()`` needs across its attempts."""

    method: str
    url: str
    same_origin: bool
    params: dict[str, Any] | None
    json: Any
    data: Any
    headers: dict[str, str]
    retry_safe: bool
    accepted: frozenset[int] | None
    conditional: dict[str, str] = field(default_factory=dict)
    cached: Any = None

    @property
    def full_url(self) -> str:
        """Return the URL with the caller's parameters (never the credential's)."""
        if not self.params:
            return self.url
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}{urlencode(self.params, doseq=True)}"

    @property
    def public_url(self) -> str:
        """Return the full URL with secrets redacted."""
        return redaction.redact_url(self.full_url)


class HttpClient:
    """Make HTTP calls to one integration's service, resiliently and safely.

    ``allowed_hosts`` names other hosts the provider trusts for absolute URLs
    and redirects (a file CDN, say); the credential is never sent to them.
    """

    def __init__(
        self,
        *,
        integration: str,
        base_url: str,
        policy: HttpPolicy,
        auth: HttpAuth | None = None,
        rate_limit: RateLimit | None = None,
        max_rate_limit_wait: float = 30.0,
        default_headers: Mapping[str, str] | None = None,
        error_mapper: ErrorMapper | None = None,
        rate_limit_signals: RateLimitSignals | None = None,
        response_cache: bool = True,
        allowed_hosts: Collection[str] = (),
    ) -> None:
        if not isinstance(integration, str) or not integration:
            raise ConfigurationError("HttpClient needs the integration's name.")
        if not isinstance(policy, HttpPolicy):
            raise ConfigurationError(
                f"HttpClient policy must be an HttpPolicy, not {type(policy).__name__}.",
                integration=integration,
            )
        if not _is_seconds(max_rate_limit_wait, allow_zero=True):
            raise ConfigurationError(
                f"max_rate_limit_wait must be 0 or more seconds, not {max_rate_limit_wait!r}.",
                integration=integration,
            )
        if isinstance(allowed_hosts, str):
            raise ConfigurationError(
                "allowed_hosts must be a list of host names, not one string.",
                integration=integration,
            )

        self.integration = integration
        self.policy = policy
        self.auth = auth
        self.max_rate_limit_wait = float(max_rate_limit_wait)
        self.base_url, self._origin = _parse_base_url(base_url, integration)
        self._allowed_hosts = frozenset(host.lower().strip() for host in allowed_hosts)
        self._error_mapper = error_mapper
        self._rate_limit_signals = rate_limit_signals
        self._timeout = (policy.connect_timeout, policy.read_timeout)
        self._session = _build_session(default_headers, integration)
        # A static credential (the same on every request) is applied once: its
        # headers live on the session, its parameters are added per request.
        self._auth_headers: dict[str, str] = {}
        self._auth_params: dict[str, Any] = {}
        self._per_request_auth = None
        if auth is not None and auth.static:
            auth.apply(self._auth_headers, self._auth_params)
            self._session.headers.update(self._auth_headers)
        elif auth is not None:
            self._per_request_auth = auth
        self._limiter = RateLimiter(integration, rate_limit) if rate_limit else None
        self._cache = ResponseCache(integration) if response_cache else None
        # The credential is fixed for the client's life: compute once.
        self._fingerprint = auth.fingerprint() if auth is not None else ""
        self._scrub_url = auth.scrub_url if auth is not None else None
        self._revalidatable: dict[tuple[str, tuple[tuple[str, str], ...]], None] = {}

    def __repr__(self) -> str:
        return f"<HttpClient {self.integration} {self.base_url}>"

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    # --- public calls -------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        cache_ttl: float | None = None,
        expected_status: int | Collection[int] | None = None,
    ) -> HttpResponse:
        """Send one request (retrying what is safe) and return its response.

        ``idempotent`` overrides the method's own idempotency, e.g. True for a
        POST carrying an idempotency key. ``cache_ttl`` caches a GET for that
        many seconds. ``expected_status`` lists the statuses to return as
        they are (default: any 2xx); others raise a typed error.
        """
        started = time.monotonic()
        call = self._prepare(
            method,
            path_or_url,
            params,
            json,
            data,
            headers,
            idempotent,
            expected_status,
        )

        cache_label = None
        cacheable = self._cache is not None and call.method == "GET"
        # The shared cache is consulted only when it can hold something for
        # this call, so plain GETs cost no cache round trip.
        if cacheable and (cache_ttl is not None or self._may_revalidate(call)):
            hit = self._lookup_cache(call, started)
            if hit is not None:
                return hit
            # A stale entry being revalidated is a miss unless the 304 comes.
            cache_label = "miss"

        retries = 0
        renewed = False
        while True:
            response, error, server_wait = self._attempt(call)
            if error is None:
                break
            if not renewed and self._renewed_after(error, call):
                # A refused token was replaced (a refreshed OAuth token):
                # send once more with it, outside the retry budget.
                renewed = True
                continue
            delay = self._retry_delay(call, error, server_wait, retries, started)
            if delay is None:
                self._give_up(call, error, server_wait, retries, started, cache_label)
            self._log_retry(call, error, retries, delay)
            time.sleep(delay)
            retries += 1

        if call.cached is not None and response.status == 304:
            response = self._revalidated(call, cache_ttl)
            cache_label = "revalidated"
        elif cacheable and response.status == 200:
            self._maybe_store(call, response, cache_ttl)
        response.retries = retries
        response.elapsed = time.monotonic() - started
        metrics.record_call(
            self.integration,
            call.method,
            response.status,
            response.elapsed,
            retries,
            "success",
            cache=cache_label,
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "http.request.completed", extra=self._context(call, response.status)
            )
        return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET ``path`` and return its parsed JSON body."""
        return self.request("GET", path, **kwargs).json()

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        pagination: Pagination,
        cursor: dict[str, Any] | None = None,
        items_path: str | None = None,
    ) -> Iterator[FetchedPage]:
        """Yield the pages of a listing from ``cursor`` (None: the first page).

        Each page carries the cursor of the next one, None on the last.
        """
        if not isinstance(pagination, Pagination):
            raise TypeError(
                f"paginate() needs a Pagination style, not {type(pagination).__name__}."
            )

        page_request = pagination.request_for(path, params, cursor)
        while True:
            response = self.request("GET", page_request.url, params=page_request.params)
            body = response.json()
            items = extract_items(response, body, items_path)
            next_cursor = pagination.next_cursor(page_request, response, body, items)
            next_request = None
            if next_cursor is not None:
                next_request = pagination.request_for(path, params, next_cursor)
                if next_request == page_request:
                    # A service that points "next" at the same page would
                    # otherwise keep a sync fetching forever.
                    raise response.invalid(
                        "The next-page cursor points at the same page again"
                    )

            yield FetchedPage(items=items, response=response, next_cursor=next_cursor)

            if next_request is None:
                return
            page_request = next_request

    # --- one call -----------------------------------------------------------

    def _prepare(
        self,
        method: str,
        path_or_url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        expected_status: int | Collection[int] | None,
    ) -> _Call:
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise ValueError(
                f"Unsupported HTTP method {method!r}; use one of {', '.join(sorted(_METHODS))}."
            )
        method = method.upper()
        if json is not None and data is not None:
            raise ValueError("Pass either json= or data= to request(), not both.")
        if params is not None and not isinstance(params, dict | Mapping):
            raise ValueError(f"params must be a mapping, not {type(params).__name__}.")

        url, same_origin = self._resolve(path_or_url)
        if isinstance(expected_status, int):
            accepted: frozenset[int] | None = frozenset((expected_status,))
        elif expected_status is not None:
            accepted = frozenset(expected_status)
        else:
            accepted = None
        return _Call(
            method=method,
            url=url,
            same_origin=same_origin,
            params=dict(params) if params else None,
            json=json,
            data=data,
            headers=dict(headers) if headers else {},
            retry_safe=is_idempotent(method, idempotent),
            accepted=accepted,
        )

    def _resolve(self, path_or_url: str) -> tuple[str, bool]:
        """Return the absolute URL and whether it is on the base URL's origin."""
        if not isinstance(path_or_url, str) or not path_or_url:
            raise ValueError(f"request() needs a path or URL, not {path_or_url!r}.")
        if _ABSOLUTE_URL.match(path_or_url):
            return path_or_url, self._check_host(path_or_url)
        if path_or_url.startswith("//"):
            raise UnsafeURLError(
                "Scheme-relative URLs ('//host/...') are refused: pass a path on the "
                "integration's base URL or a full http(s) URL.",
                integration=self.integration,
            )
        return f"{self.base_url}/{path_or_url.lstrip('/')}", True

    def _check_host(self, url: str) -> bool:
        """Return True for the base origin, False for an allowed host; else refuse."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        refusal = None
        if scheme not in _DEFAULT_PORTS:
            refusal = f"Only http and https URLs may be requested, not {scheme!r}."
        elif parts.username is not None or parts.password is not None:
            refusal = (
                "URLs with credentials in them are refused; use the integration's auth."
            )
        else:
            try:
                port = parts.port or _DEFAULT_PORTS[scheme]
            except ValueError:
                refusal = "The URL has an invalid port."
            else:
                host = (parts.hostname or "").lower()
                if (scheme, host, port) == self._origin:
                    return True
                if host in self._allowed_hosts:
                    return False
                refusal = (
                    f"Refusing to request host {host!r}: it is not the integration's host "
                    f"{self._origin[1]!r} (scheme and port included) and the provider does "
                    "not allow it, so its credentials must not go there."
                )
        raise UnsafeURLError(
            refusal, integration=self.integration, url=redaction.redact_url(url)
        )

    def _attempt(
        self, call: _Call
    ) -> tuple[HttpResponse | None, IntegrationError | None, float | None]:
        """Send the call once; return the response, the error, the server's wait."""
        try:
            raw = self._send(call)
            content = raw.content
        except IntegrationError as error:
            self._fill(error, call)
            return None, error, None
        except requests.RequestException as exc:
            unsafe = _find_cause(exc, UnsafeURLError)
            if unsafe is not None:
                self._fill(unsafe, call)
                return None, unsafe, None
            error = self._transport_error(exc, call)
            error.__cause__ = exc
            return None, error, None

        response = HttpResponse(
            status=raw.status_code,
            headers=raw.headers,
            url=raw.url,
            content=content,
            integration=self.integration,
            method=call.method,
            encoding=raw.encoding,
            scrub_url=self._scrub_url,
        )
        error, server_wait = self._classify(call, response)
        return response, error, server_wait

    def _renewed_after(self, error: IntegrationError, call: _Call) -> bool:
        """Ask a renewable credential for a new token after a 401."""
        renew = getattr(self._per_request_auth, "renew", None)
        if renew is None or not call.same_origin:
            return False
        if not isinstance(error, AuthenticationFailed):
            return False
        return bool(renew())

    def _send(self, call: _Call) -> requests.Response:
        """Send the call, following up to MAX_REDIRECTS redirects through the guard."""
        method, url, same_origin = call.method, call.url, call.same_origin
        params, json_body, data = call.params, call.json, call.data

        for hop in range(MAX_REDIRECTS + 1):
            headers = call.headers
            request_params = params
            if same_origin:
                if call.conditional:
                    headers = {**headers, **call.conditional}
                if self._auth_params:
                    request_params = {**(params or {}), **self._auth_params}
                if self._per_request_auth is not None:
                    headers = dict(headers)
                    request_params = dict(request_params or {})
                    self._per_request_auth.apply(headers, request_params)
                if self._limiter is not None:
                    self._limiter.acquire(self.max_rate_limit_wait)
            elif self._auth_headers:
                # None removes the session's credential headers for this hop.
                headers = {**headers, **dict.fromkeys(self._auth_headers)}
            response = self._session.request(
                method,
                url,
                params=request_params or None,
                json=json_body,
                data=data,
                # requests merges per-request headers into the session's at a
                # real cost, so none are passed when there are none.
                headers=headers or None,
                timeout=self._timeout,
                allow_redirects=False,
            )
            if response.status_code not in _REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location")
            if not location:
                return response

            response.close()
            if hop == MAX_REDIRECTS:
                break
            url = urljoin(response.url, location)
            if self._scrub_url is not None:
                # The credential is applied again below if the hop stays home.
                url = self._scrub_url(url)
            same_origin = self._check_host(url)
            check_url(url, resolve=True)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "http.request.redirect",
                    extra={**self._context(call, response.status_code), "hop": hop + 1},
                )
            params = None
            status = response.status_code
            if (status == 303 and method != "HEAD") or (
                status in (301, 302) and method == "POST"
            ):
                method, json_body, data = "GET", None, None

        raise InvalidResponse(
            f"The service redirected more than {MAX_REDIRECTS} times",
            status=response.status_code,
        )

    def _classify(
        self, call: _Call, response: HttpResponse
    ) -> tuple[IntegrationError | None, float | None]:
        """Return the error a response means (None if fine) and the server's wait."""
        status = response.status
        signal = None
        if self._rate_limit_signals is not None:
            signal = self._rate_limit_signals(response)
            if signal is not None and signal.has_quota and self._limiter is not None:
                self._limiter.observe(signal.remaining, signal.limit, signal.reset_at)

        if status == 429 or (signal is not None and signal.limited):
            wait = _server_wait(response, signal)
            retry_at = None
            if wait is not None:
                # Milliseconds are plenty, and keep an HTTP date's instant exact.
                until = round(time.time() + wait, 3)
                retry_at = datetime.fromtimestamp(until, tz=UTC)
                if self._limiter is not None:
                    # Every process of this integration holds off, not just this one.
                    self._limiter.pause_until(until)
            error = RateLimited(
                "The service is rate limiting requests; the call can be retried later",
                retry_at=retry_at,
            )
            self._fill(error, call, response)
            return error, wait

        mapped = self._map_error(response)
        if mapped is not None:
            self._fill(mapped, call, response)
            wait = (
                _server_wait(response, None)
                if isinstance(mapped, TransientError)
                else None
            )
            return mapped, wait

        if status == 304 and call.cached is not None:
            return None, None
        if call.accepted is not None:
            if status in call.accepted:
                return None, None
        elif 200 <= status < 300:
            return None, None

        error = _error_for_status(status)
        self._fill(error, call, response)
        wait = _server_wait(response, None) if status >= 500 else None
        return error, wait

    def _map_error(self, response: HttpResponse) -> IntegrationError | None:
        if self._error_mapper is None:
            return None
        try:
            return self._error_mapper(response)
        except InvalidResponse:
            # A mapper that cannot read an error page (a proxy's HTML 502) should
            # not hide the status: the status decides then.
            if response.status >= 400:
                return None
            raise
        except IntegrationError as error:
            return error

    def _transport_error(
        self, exc: requests.RequestException, call: _Call
    ) -> IntegrationError:
        """Return the typed error for a failure below HTTP."""
        fields = {
            "integration": self.integration,
            "method": call.method,
            "url": call.public_url,
        }
        if isinstance(exc, requests.ConnectTimeout):
            timeout = self.policy.connect_timeout
            message = f"Connecting to the service timed out after {timeout:g} s"
            return TransientError(message, **fields)
        if isinstance(exc, requests.Timeout):
            message = (
                f"The service did not answer within the read timeout of "
                f"{self.policy.read_timeout:g} s"
            )
            return TransientError(message, **fields)
        if isinstance(exc, requests.exceptions.SSLError):
            message = "The TLS connection failed: check the service's certificate and base URL"
            return TransientError(message, **fields)
        if isinstance(
            exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError
        ):
            return TransientError(
                "The connection to the service failed or was reset", **fields
            )
        if isinstance(exc, requests.exceptions.ContentDecodingError):
            return InvalidResponse(
                "The response body could not be decompressed", **fields
            )
        if isinstance(
            exc,
            requests.exceptions.InvalidURL
            | requests.exceptions.InvalidSchema
            | requests.exceptions.MissingSchema
            | requests.exceptions.InvalidHeader
            | requests.exceptions.InvalidJSONError,
        ):
            return ConfigurationError(
                f"The request could not be built ({type(exc).__name__}): check the URL, "
                "headers and body",
                **fields,
            )
        return TransientError(f"The request failed ({type(exc).__name__})", **fields)

    def _fill(
        self, error: IntegrationError, call: _Call, response: HttpResponse | None = None
    ) -> None:
        """Give an error the call's context where it has none of its own."""
        if not error.integration:
            error.integration = self.integration
        if not error.method:
            error.method = call.method
        if not error.url:
            error.url = response.url if response is not None else call.public_url
        if error.status is None and response is not None:
            error.status = response.status

    # --- retries ------------------------------------------------------------

    def _retry_delay(
        self,
        call: _Call,
        error: IntegrationError,
        server_wait: float | None,
        retries: int,
        started: float,
    ) -> float | None:
        """Return how long to wait before retrying, or None to give up now."""
        if not isinstance(error, TransientError) or isinstance(
            error, RateLimitWaitTooLong
        ):
            return None
        if not call.retry_safe or retries >= self.policy.max_retries:
            return None

        if server_wait is not None:
            delay = server_wait
        else:
            delay = backoff_delay(
                retries, base=self.policy.backoff_base, cap=self.policy.backoff_cap
            )
        if time.monotonic() - started + delay > self.policy.retry_budget:
            return None
        return delay

    def _give_up(
        self,
        call: _Call,
        error: IntegrationError,
        server_wait: float | None,
        retries: int,
        started: float,
        cache_label: str | None,
    ) -> NoReturn:
        """Record, log and raise the call's final error."""
        if (
            isinstance(error, RateLimited)
            and error.retry_at is None
            and not isinstance(error, RateLimitWaitTooLong)
        ):
            wait = server_wait
            if wait is None:
                wait = backoff_delay(
                    retries, base=self.policy.backoff_base, cap=self.policy.backoff_cap
                )
            error.retry_at = datetime.fromtimestamp(
                round(time.time() + wait, 3), tz=UTC
            )
            error.details["retry_at"] = error.retry_at.isoformat()

        outcome = "halted" if isinstance(error, RateLimited) else "failure"
        metrics.record_call(
            self.integration,
            call.method,
            error.status,
            time.monotonic() - started,
            retries,
            outcome,
            cache=cache_label,
        )
        # The level follows the status class: a server or transport failure is
        # an error, a refusal or a rate limit a warning.
        server_side = error.status is None or error.status >= 500
        level = (
            logging.ERROR if server_side and outcome == "failure" else logging.WARNING
        )
        logger.log(
            level,
            "http.request.failed",
            extra={
                **self._context(call, error.status),
                "attempt": retries + 1,
                "error_code": error.code,
                "outcome": outcome,
            },
        )
        raise error from error.__cause__

    def _log_retry(
        self, call: _Call, error: IntegrationError, retries: int, delay: float
    ) -> None:
        logger.info(
            "http.request.retry",
            extra={
                **self._context(call, error.status),
                "attempt": retries + 1,
                "delay": round(delay, 3),
                "error_code": error.code,
            },
        )

    def _context(self, call: _Call, status: int | None) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "method": call.method,
            "url": call.public_url,
            "status": status,
        }

    # --- response cache -----------------------------------------------------

    def _may_revalidate(self, call: _Call) -> bool:
        """Tell whether this process stored a response with validators for the call."""
        return bool(self._revalidatable) and _cache_key(call) in self._revalidatable

    def _lookup_cache(self, call: _Call, started: float) -> HttpResponse | None:
        """Return a fresh cached response, or remember a stale one to revalidate."""
        entry = self._cache.lookup("GET", call.url, call.params, self._fingerprint)
        if entry is None:
            return None
        if entry.fresh:
            response = self._from_entry(call, entry)
            response.elapsed = time.monotonic() - started
            metrics.record_call(
                self.integration,
                "GET",
                entry.status,
                response.elapsed,
                0,
                "success",
                cache="hit",
            )
            return response
        if entry.etag or entry.last_modified:
            call.cached = entry
            call.conditional = dict(self._cache.conditional_headers(entry))
        return None

    def _revalidated(self, call: _Call, cache_ttl: float | None) -> HttpResponse:
        self._cache.revalidated(call.cached, cache_ttl or 0)
        return self._from_entry(call, call.cached)

    def _maybe_store(
        self, call: _Call, response: HttpResponse, cache_ttl: float | None
    ) -> None:
        has_validators = (
            "ETag" in response.headers or "Last-Modified" in response.headers
        )
        if cache_ttl is None and not has_validators:
            return
        self._cache.store(
            "GET",
            call.url,
            call.params,
            self._fingerprint,
            response.status,
            dict(response.headers),
            response.content,
            cache_ttl or 0,
        )
        if has_validators:
            if len(self._revalidatable) >= _MAX_REVALIDATABLE:
                self._revalidatable.clear()
            self._revalidatable[_cache_key(call)] = None

    def _from_entry(self, call: _Call, entry: Any) -> HttpResponse:
        return HttpResponse(
            status=entry.status,
            headers=entry.headers,
            url=call.full_url,
            content=entry.content,
            integration=self.integration,
            method=call.method,
            from_cache=True,
            scrub_url=self._scrub_url,
        )


def _parse_base_url(
    base_url: Any, integration: str
) -> tuple[str, tuple[str, str, int]]:
    """Return the normalized base URL and its (scheme, host, port) origin."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError(
            "The integration needs a base URL such as https://lms.example.edu.",
            integration=integration,
        )
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    problem = None
    if scheme not in _DEFAULT_PORTS:
        problem = "must start with http:// or https://"
    elif not parts.hostname:
        problem = "has no host name"
    elif parts.username is not None or parts.password is not None:
        problem = (
            "must not carry credentials; store them as the integration's credentials"
        )
    elif parts.query or parts.fragment:
        problem = "must not have a query string or fragment"
    if problem is None:
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            problem = "has an invalid port"
    if problem is not None:
        raise ConfigurationError(
            f"The base URL {redaction.redact_url(base_url)!r} {problem}.",
            integration=integration,
            details={"field": "base_url"},
        )

    normalized = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return normalized, (scheme, parts.hostname.lower(), port)


def guarded_session(integration: str) -> requests.Session:
    """Return a requests session with the layer's host guard and User-Agent.

    For a library that insists on a session of its own (allauth's token
    exchange): its calls still pass the SSRF guard, ignore proxies and
    ~/.netrc, and name the portal.
    """
    return _build_session(None, integration)


def _build_session(
    default_headers: Mapping[str, str] | None, integration: str
) -> requests.Session:
    session = requests.Session()
    # Environment proxies would make the SSRF guard see only the proxy, and
    # ~/.netrc would attach someone's credentials to the integration's host.
    session.trust_env = False
    adapter = GuardedHTTPAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)

    session.headers["User-Agent"] = USER_AGENT
    for name, value in (default_headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(
                f"default_headers must map names to strings; {name!r} does not.",
                integration=integration,
            )
        if name.lower() == "user-agent":
            # The portal always names itself; a provider may add to it.
            value = f"{USER_AGENT} {value}"
        session.headers[name] = value
    return session


def _cache_key(call: _Call) -> tuple[str, tuple[tuple[str, str], ...]]:
    if not call.params:
        return call.url, ()
    params = tuple(
        sorted((str(key), repr(value)) for key, value in call.params.items())
    )
    return call.url, params


def _server_wait(
    response: HttpResponse, signal: RateLimitSignal | None
) -> float | None:
    """Return the seconds the service asked to wait, if it said."""
    wait = parse_retry_after(response.headers.get("Retry-After"))
    if wait is not None:
        return wait
    if signal is not None:
        if signal.retry_after is not None:
            return max(0.0, signal.retry_after)
        if signal.reset_at is not None:
            return max(0.0, signal.reset_at - time.time())
    return None


def _error_for_status(status: int) -> IntegrationError:
    """Return the typed error for an HTTP status the caller did not accept."""
    if status == 401:
        return AuthenticationFailed(
            "The service rejected the credentials: check that the token is right and "
            "has not expired or been revoked"
        )
    if status == 403:
        return PermissionDenied(
            "The credentials are not allowed to do this: grant the account or token the "
            "needed role or scope"
        )
    if status == 404:
        return NotFound("The service has no such resource")
    if status >= 500:
        return TransientError("The service failed with a server error")
    if 400 <= status < 500:
        return PermanentError("The service refused the request")
    return InvalidResponse("The service answered with an unexpected HTTP status")


def _find_cause(
    exc: BaseException, kind: type[IntegrationError]
) -> IntegrationError | None:
    """Return the first ``kind`` among the exceptions an exception wraps."""
    # requests and urllib3 wrap the real cause as an argument or ``reason``
    # as often as they chain it.
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        pending.extend(
            (current.__cause__, current.__context__, getattr(current, "reason", None))
        )
        pending.extend(current.args)
    return None
