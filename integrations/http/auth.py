"""Credentials an HttpClient attaches to its requests.

Each kind registers its secret with the redaction registry when it is made,
so the secret is masked in every log line and error from then on; its repr
never shows the secret; ``fingerprint()`` identifies the credential (for
cache keys) without revealing it. The client applies an auth only to
requests for the integration's own host.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from integrations import redaction
from integrations.errors import ConfigurationError

# RFC 9110 token characters: what a header field name may consist of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _require_secret(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{kind} needs a non-empty string for {field!r}.")
    if "\r" in value or "\n" in value:
        # A line break would let the value inject extra request headers.
        raise ConfigurationError(f"{kind}: {field!r} must not contain line breaks.")
    return value


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class HttpAuth:
    """Base of every credential kind; subclasses override ``apply``."""

    __slots__ = ("_fingerprint",)

    #: Whether ``apply`` adds the same headers and parameters to every request,
    #: so the client may apply it once per session. A credential that changes
    #: between requests (a refreshed token, a signature) sets this to False.
    static: ClassVar[bool] = True

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Add the credential to one request's headers or query parameters."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest that identifies the secret, never the secret."""
        return self._fingerprint

    def scrub_url(self, url: str) -> str:
        """Return ``url`` without this credential in it (identity unless in the query)."""
        return url


class BearerToken(HttpAuth):
    """Send ``Authorization: Bearer <token>`` (OAuth 2 and most API tokens)."""

    __slots__ = ("_headers",)

    def __init__(self, token: str) -> None:
        token = _require_secret("BearerToken", "token", token)
        redaction.register_secret(token)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._fingerprint = _sha256(token)

    def __repr__(self) -> str:
        return "BearerToken(token='***')"

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Add the Authorization header."""
        headers.update(self._headers)


class HeaderApiKey(HttpAuth):
    """Send an API key in a header of the service's choosing, e.g. ``X-Api-Key``."""

    __slots__ = ("header", "_headers")

    def __init__(self, header: str, value: str) -> None:
        if not isinstance(header, str) or not _HEADER_NAME.match(header):
            raise ConfigurationError(
                f"HeaderApiKey needs a valid header name, not {header!r}: letters, digits "
                "and -_.!#$%&'*+^`|~ only."
            )
        value = _require_secret("HeaderApiKey", "value", value)
        redaction.register_secret(value)
        self.header = header
        self._headers = {header: value}
        self._fingerprint = _sha256(value)

    def __repr__(self) -> str:
        return f"HeaderApiKey(header={self.header!r}, value='***')"

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Add the key header."""
        headers.update(self._headers)


class QueryApiKey(HttpAuth):
    """Send an API key as a query parameter (Moodle's ``wstoken``).

    The key then sits in every request URL, which is why the client redacts
    URLs in errors and logs and strips the key from links it hands back.
    """

    __slots__ = ("param", "_value")

    def __init__(self, param: str, value: str) -> None:
        if (
            not isinstance(param, str)
            or not param.strip()
            or any(c in param for c in "&=#?")
        ):
            raise ConfigurationError(
                f"QueryApiKey needs a plain query parameter name, not {param!r}."
            )
        value = _require_secret("QueryApiKey", "value", value)
        redaction.register_secret(value)
        self.param = param
        self._value = value
        self._fingerprint = _sha256(value)

    def __repr__(self) -> str:
        return f"QueryApiKey(param={self.param!r}, value='***')"

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Set the key parameter, replacing any value the caller put there."""
        params[self.param] = self._value

    def scrub_url(self, url: str) -> str:
        """Return ``url`` with every occurrence of the key parameter removed."""
        base, question, rest = url.partition("?")
        if not question:
            return url
        query, hash_mark, fragment = rest.partition("#")

        # Drop only the key's segments; the others stay byte for byte as the
        # service wrote them, so a followed link is exactly the one given.
        kept = [
            segment
            for segment in query.split("&")
            if unquote_plus(segment.partition("=")[0]) != self.param
        ]
        query = "&".join(segment for segment in kept if segment)
        url = f"{base}?{query}" if query else base
        return f"{url}{hash_mark}{fragment}"


class BasicAuth(HttpAuth):
    """Send HTTP Basic credentials (RFC 7617)."""

    __slots__ = ("username", "_headers")

    def __init__(self, username: str, password: str) -> None:
        if not isinstance(username, str) or not username or ":" in username:
            raise ConfigurationError(
                "BasicAuth needs a non-empty username without ':' (RFC 7617)."
            )
        password = _require_secret("BasicAuth", "password", password)
        pair = f"{username}:{password}"
        encoded = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        # The encoded pair is as good as the password to whoever reads it.
        redaction.register_secret(password)
        redaction.register_secret(encoded)
        self.username = username
        self._headers = {"Authorization": f"Basic {encoded}"}
        self._fingerprint = _sha256(pair)

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='***')"

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Add the Authorization header."""
        headers.update(self._headers)
