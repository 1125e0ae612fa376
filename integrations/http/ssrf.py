"""Guard against server-side request forgery (SSRF).

Admins type base URLs; a URL that points at the portal's own network (a
database, an admin console, a cloud metadata service) would let anyone who
can configure an integration read from it. The guard runs twice:

- ``check_url(url, resolve=False)`` when a base URL is saved: scheme, host
  and IP literals are checked, names are not resolved (the host may be down);
- ``GuardedHTTPAdapter`` on every new connection: the host is resolved, every
  address is checked, and the socket connects only to an address that was
  checked. DNS rebinding (a name that resolved to a public address at save
  time and to a private one now) and redirects to private hosts are caught
  there, because each redirect opens its connection through the same adapter.

Loopback, private, link-local, unspecified, multicast, reserved and other
non-public addresses are refused unless ``settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS``
allows them (host names, IP addresses or CIDR ranges; ``"*"`` allows all).
Cloud metadata addresses are refused always, whatever that setting says.

What the HTTP client catches: ``GuardedHTTPAdapter.send`` raises
``UnsafeConnection``, a ``requests.exceptions.ConnectionError`` subclass whose
``error`` attribute is the ``UnsafeURLError`` to re-raise. It must be caught
before ``requests.exceptions.ConnectionError`` (which is retryable).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import socket
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import connection as urllib3_connection

from integrations.errors import UnsafeURLError

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SETTING = "INTEGRATIONS_ALLOW_PRIVATE_HOSTS"
ALLOWED_SCHEMES = ("http", "https")

#: Addresses that hand out cloud credentials or instance data. Refused even
#: when INTEGRATIONS_ALLOW_PRIVATE_HOSTS is "*" or lists them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle instance metadata
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS pod identity agent
        "fd00:ec2::23",  # AWS EKS pod identity agent over IPv6
        "100.100.100.200",  # Alibaba Cloud instance metadata
        "168.63.129.16",  # Azure wire server
    )
)

METADATA = "cloud metadata"

# Hosts such as "2130706433", "0x7f.1" or "127.1" are IPv4 addresses to the
# C resolver although ipaddress rejects them.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeConnection(requests.exceptions.ConnectionError):
    """Report a connection the SSRF guard refused; ``error`` is the UnsafeURLError."""

    def __init__(self, error: UnsafeURLError, *, request: Any = None) -> None:
        super().__init__(error.message, request=request)
        self.error = error


def check_url(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeURLError unless ``url`` is an http(s) URL to an allowed host."""
    _check_url(url, resolve=resolve, require_resolution=False)


def check_address(ip: str, host: str = "") -> None:
    """Raise UnsafeURLError if the portal may not connect to address ``ip``."""
    address = _parse_address(ip)
    shown = f"{host!r} at {address}" if host and host != str(address) else str(address)

    refusal = _refusal_reason(address)
    if refusal is None:
        return
    reason, culprit = refusal
    what = "it is" if culprit == address else f"it embeds {culprit}, which is"
    if reason == METADATA:
        raise UnsafeURLError(
            f"Refused to connect to {shown}: {what} a cloud metadata address, which "
            f"integrations may never reach ({ALLOW_SETTING} cannot allow it). Point "
            "the integration at the service's own host name.",
            details={"address": str(address), "host": host, "reason": reason},
        )
    if _allow_list().allows(address, host):
        return

    raise UnsafeURLError(
        f"Refused to connect to {shown}: {what} a {reason} address, which integrations "
        f"may not reach unless allowed. If the service really runs there, add the host "
        f"name or address to {ALLOW_SETTING}.",
        details={"address": str(address), "host": host, "reason": reason},
    )


class GuardedHTTPConnection(HTTPConnection):
    """Resolve, check every address, then connect only to a checked address."""

    _guard_scheme = "http"

    def _new_conn(self) -> socket.socket:
        # A connection to an operator-configured proxy is trusted; the target
        # behind it was checked in GuardedHTTPAdapter.send.
        if self.proxy is not None:
            return super()._new_conn()

        try:
            infos = socket.getaddrinfo(
                self._dns_host,
                self.port,
                urllib3_connection.allowed_gai_family(),
                socket.SOCK_STREAM,
            )
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            try:
                check_address(address, host=self.host)
            except UnsafeURLError as error:
                logger.warning(
                    "http.ssrf.connection_refused",
                    extra={"host": self.host, "address": address},
                )
                shown = f"[{self.host}]" if ":" in self.host else self.host
                error.url = f"{self._guard_scheme}://{shown}:{self.port}"
                raise

        last_error: OSError | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as error:
                last_error = error
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock

        if isinstance(last_error, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out (timeout={self.timeout})."
            ) from last_error
        raise NewConnectionError(
            self, f"Failed to establish a new connection: {last_error}"
        ) from last_error


class GuardedHTTPSConnection(GuardedHTTPConnection, HTTPSConnection):
    """Open HTTPS connections only to addresses the guard allows."""

    _guard_scheme = "https"


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    """Pool guarded HTTP connections."""

    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    """Pool guarded HTTPS connections."""

    ConnectionCls = GuardedHTTPSConnection


_GUARDED_POOLS = {
    "http": GuardedHTTPConnectionPool,
    "https": GuardedHTTPSConnectionPool,
}


class GuardedHTTPAdapter(HTTPAdapter):
    """Check every new connection's address at connect time (mount for http/https).

    ``send`` raises ``UnsafeConnection`` (a requests ConnectionError carrying the
    UnsafeURLError in ``error``) when the URL or an address is refused.
    Connections kept alive in the pool are reused without a new check; each
    new connection, including one opened for a redirect, is checked.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_GUARDED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # SOCKS managers bring their own connection classes; the target is
        # still checked in send() for them.
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_GUARDED_POOLS)
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        try:
            # Behind a proxy the portal never sees the address the proxy
            # connects to, so the target is resolved and checked here; a DNS
            # change between this check and the proxy's lookup is not caught.
            through_proxy = (
                bool(proxies) and select_proxy(request.url, proxies) is not None
            )
            _check_url(
                request.url, resolve=through_proxy, require_resolution=through_proxy
            )
            return super().send(
                request,
                stream=stream,
                timeout=timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        except UnsafeURLError as error:
            raise UnsafeConnection(error, request=request) from error


def _check_url(url: str, *, resolve: bool, require_resolution: bool) -> None:
    if not isinstance(url, str):
        raise UnsafeURLError(f"The URL must be text, not {type(url).__name__}.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeURLError(
            f"The URL is not valid ({error}); enter a full URL such as "
            "https://lms.example.edu."
        ) from error
    scheme = parts.scheme.lower()
    if not scheme:
        raise UnsafeURLError(
            "The URL has no scheme; start it with https:// (or http://), such as "
            "https://lms.example.edu."
        )
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURLError(
            f"The URL scheme {scheme!r} is not allowed; integrations use http:// or "
            "https:// URLs such as https://lms.example.edu."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURLError(
            "The URL has no host name; enter a full URL such as https://lms.example.edu."
        )
    origin = f"{scheme}://{parts.netloc.rpartition('@')[2]}"

    try:
        literal = _host_literal(host)
        if literal is not None:
            check_address(str(literal), host=host)
        elif resolve:
            for address in _resolve(host, port, required=require_resolution):
                check_address(address, host=host)
    except UnsafeURLError as error:
        error.url = error.url or origin
        raise


def _host_literal(host: str) -> IPAddress | None:
    try:
        return _parse_address(host)
    except UnsafeURLError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _resolve(host: str, port: int | None, *, required: bool) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as error:
        raise UnsafeURLError(
            f"The host name {host!r} is not valid ({error})."
        ) from error
    except OSError as error:
        if not required:
            # An unresolvable name is unreachable, not unsafe; the connection
            # attempt reports it, and the connect-time check runs anyway.
            return []
        raise UnsafeURLError(
            f"The host name {host!r} does not resolve here, so its address cannot be "
            "checked before a proxy connects to it. Check the host name.",
            details={"host": host},
        ) from error
    return list(dict.fromkeys(info[4][0] for info in infos))


def _parse_address(ip: str) -> IPAddress:
    text = str(ip).strip().strip("[]")
    # Scope ids ("fe80::1%eth0") do not change what the address is.
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError as error:
        raise UnsafeURLError(f"{ip!r} is not an IP address.") from error
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _judged_addresses(address: IPAddress) -> list[IPAddress]:
    """Return the address and the IPv4 addresses it leads to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    if address in _NAT64:
        # DNS64 hands out these for every IPv4-only host on IPv6-only
        # networks; what counts is the IPv4 address the gateway reaches.
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    candidates: list[IPAddress] = [address]
    if address.sixtofour is not None:
        candidates.append(address.sixtofour)
    if address.teredo is not None:
        candidates.extend(address.teredo)
    return candidates


def _refusal_reason(address: IPAddress) -> tuple[str, IPAddress] | None:
    candidates = _judged_addresses(address)
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            return METADATA, candidate
    for candidate in candidates:
        reason = _classify(candidate)
        if reason is not None:
            return reason, candidate
    return None


def _classify(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if not address.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class _AllowList:
    allow_all: bool
    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def allows(self, address: IPAddress, host: str) -> bool:
        if self.allow_all:
            return True
        if host and host.lower().rstrip(".") in self.names:
            return True
        return any(address in network for network in self.networks)


def _allow_list() -> _AllowList:
    # Read at call time: settings change in tests and between deployments.
    value = getattr(settings, ALLOW_SETTING, None) or ()
    entries = value.split(",") if isinstance(value, str) else value
    return _parse_allow_list(tuple(str(entry).strip() for entry in entries))


@functools.lru_cache(maxsize=16)
def _parse_allow_list(entries: tuple[str, ...]) -> _AllowList:
    allow_all = False
    names: set[str] = set()
    networks = []
    for entry in entries:
        if not entry:
            continue
        if entry == "*":
            allow_all = True
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError as error:
            if "/" in entry and "://" not in entry:
                raise UnsafeURLError(
                    f"{ALLOW_SETTING} entry {entry!r} is not a valid address range "
                    f"({error}); fix it, for example 10.0.0.0/8."
                ) from error
        name = entry.lower().rstrip(".")
        if not _HOST_NAME.match(name):
            raise UnsafeURLError(
                f"{ALLOW_SETTING} entry {entry!r} is not a host name, IP address or "
                "CIDR range; list bare names such as lms.internal, without scheme or port."
            )
        names.add(name)
    return _AllowList(allow_all, frozenset(names), tuple(networks))
