"""The response every HttpClient call returns, detached from the transport."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping
from typing import Any

from requests.structures import CaseInsensitiveDict
from requests.utils import parse_header_links

from integrations import redaction
from integrations.errors import InvalidResponse

_UNSET: Any = object()


class HttpResponse:
    """Return what the service answered: status, headers, body and context.

    ``url`` is redacted; ``links`` holds the parsed ``Link`` header by rel,
    with the client's own query credential removed from each URL so a link
    can be stored as a cursor. ``elapsed`` is the seconds the whole call took,
    retries and waits included.
    """

    __slots__ = (
        "status",
        "headers",
        "content",
        "from_cache",
        "elapsed",
        "retries",
        "integration",
        "method",
        "_raw_url",
        "_url",
        "_encoding",
        "_json",
        "_links",
        "_scrub_url",
    )

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str],
        url: str,
        content: bytes,
        integration: str = "",
        method: str = "GET",
        encoding: str | None = None,
        from_cache: bool = False,
        elapsed: float = 0.0,
        retries: int = 0,
        scrub_url: Callable[[str], str] | None = None,
    ) -> None:
        self.status = status
        self.headers: CaseInsensitiveDict[str] = (
            headers
            if isinstance(headers, CaseInsensitiveDict)
            else CaseInsensitiveDict(headers)
        )
        self.content = content
        self.from_cache = from_cache
        self.elapsed = elapsed
        self.retries = retries
        self.integration = integration
        self.method = method
        self._raw_url = url
        self._url: str | None = None
        self._encoding = encoding
        self._json: Any = _UNSET
        self._links: dict[str, dict[str, str]] | None = None
        self._scrub_url = scrub_url

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.method} {self.url}>"

    @property
    def url(self) -> str:
        """Return the URL that answered, with secrets redacted."""
        # Redacting costs a scan for every registered secret, so it is done
        # only when someone looks (errors, logs), not on every call.
        if self._url is None:
            self._url = redaction.redact_url(self._raw_url)
        return self._url

    @property
    def ok(self) -> bool:
        """Return whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """Return the body decoded with the declared charset (UTF-8 if none)."""
        encoding = self._encoding or "utf-8"
        try:
            return self.content.decode(encoding, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Return the parsed JSON body or raise InvalidResponse."""
        if self._json is not _UNSET:
            return self._json

        if not self.content.strip():
            raise self.invalid(
                "The service answered an empty body where JSON was expected"
            )
        try:
            value = jsonlib.loads(self.content)
        except (ValueError, UnicodeDecodeError) as error:
            raise self.invalid(
                "The service answered a body that is not valid JSON (malformed or truncated)"
            ) from error

        self._json = value
        return value

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """Return the ``Link`` header parsed by rel: ``{"next": {"url": ...}}``."""
        if self._links is not None:
            return self._links

        links: dict[str, dict[str, str]] = {}
        header = self.headers.get("Link")
        if header:
            for link in parse_header_links(header):
                url = link.get("url", "")
                if self._scrub_url is not None and url:
                    url = self._scrub_url(url)
                for rel in link.get("rel", "").split():
                    links.setdefault(
                        rel.lower(), {**link, "url": url, "rel": rel.lower()}
                    )

        self._links = links
        return links

    def invalid(self, message: str) -> InvalidResponse:
        """Return an InvalidResponse about this response, carrying its context."""
        return InvalidResponse(
            message,
            integration=self.integration,
            method=self.method,
            url=self.url,
            status=self.status,
        )
