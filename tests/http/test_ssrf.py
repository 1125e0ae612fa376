"""Tests of the SSRF guard: URL checks, address checks and the connect-time adapter."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from integrations.errors import ConfigurationError, UnsafeURLError
from integrations.http.ssrf import (
    GuardedHTTPAdapter,
    UnsafeConnection,
    check_address,
    check_url,
)


@pytest.fixture
def deny_private(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = []
    return settings


class _Handler(BaseHTTPRequestHandler):
    """Answer "ok", or redirect to the URL given after /redirect?to=."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, family=socket.AF_INET, tls=None):
        self.address_family = family
        super().__init__(address, _Handler)
        self.paths: list[str] = []
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)


def _serve(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def http_server() -> Iterator[_Server]:
    yield from _serve(_Server(("127.0.0.1", 0)))


@pytest.fixture
def https_server(tmp_path) -> Iterator[tuple[_Server, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    for server in _serve(_Server(("127.0.0.1", 0), tls=context)):
        yield server, str(cert_path)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedHTTPAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    yield session
    session.close()


# --- check_url ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://lms.example.edu/", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("lms.example.edu/api", "has no scheme"),
        ("https://", "has no host name"),
        ("http:///courses", "has no host name"),
        ("http://[::1/", "not valid"),
        ("http://lms.example.edu:99999/", "not valid"),
    ],
)
def test_check_url_refuses_malformed_urls_with_a_fix(deny_private, url, fragment):
    with pytest.raises(UnsafeURLError, match=fragment):
        check_url(url, resolve=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("https://192.168.0.10/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://169.254.10.10/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.64.0.1/", "non-public"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fc00::5]/", "private"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[64:ff9b::a00:1]/", "private"),
        ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),
        ("http://[::]/", "unspecified"),
    ],
)
def test_check_url_refuses_non_public_ip_literals(deny_private, url, reason):
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url, resolve=False)

    assert caught.value.details["reason"] == reason
    assert "INTEGRATIONS_ALLOW_PRIVATE_HOSTS" in caught.value.message
    assert isinstance(caught.value, ConfigurationError)


def test_check_url_error_names_the_origin_without_path_or_credentials(deny_private):
    with pytest.raises(UnsafeURLError) as caught:
        check_url("http://user:secret@10.0.0.1:8080/api?token=abc", resolve=False)

    assert caught.value.url == "http://10.0.0.1:8080"
    assert "secret" not in str(caught.value)
    assert "abc" not in str(caught.value)
    assert caught.value.as_dict()["code"] == "unsafe_url"


@pytest.mark.parametrize(
    "url",
    ["https://8.8.8.8/", "http://1.1.1.1:8080/x", "https://[2606:4700:4700::1111]/"],
)
def test_check_url_accepts_public_ip_literals(deny_private, url):
    check_url(url)


def test_check_url_resolves_names_to_loopback(deny_private):
    with pytest.raises(UnsafeURLError, match="'localhost' at") as caught:
        check_url("http://localhost:8000/api")

    assert caught.value.details["reason"] == "loopback"


def test_check_url_without_resolving_accepts_names(deny_private):
    check_url("http://localhost:8000/api", resolve=False)


def test_check_url_allows_listed_host_name(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["LocalHost."]

    check_url("http://localhost:8000/api")


# --- check_address -----------------------------------------------------------


def test_check_address_allows_addresses_inside_listed_cidr(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["10.20.0.0/16", "fd12:3456::/32"]

    check_address("10.20.1.2")
    check_address("fd12:3456::9")
    check_address("::ffff:10.20.0.1")
    with pytest.raises(UnsafeURLError, match="private"):
        check_address("10.21.0.1")
    with pytest.raises(UnsafeURLError, match="private"):
        check_address("192.168.1.1")


def test_check_address_allows_listed_single_addresses(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = "127.0.0.1, ::1"

    check_address("127.0.0.1")
    check_address("::1")
    with pytest.raises(UnsafeURLError):
        check_address("127.0.0.2")


def test_check_address_allows_by_host_name_only_for_that_host(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["lms.internal"]

    check_address("10.0.0.7", host="lms.internal")
    check_address("10.0.0.7", host="LMS.Internal.")
    with pytest.raises(UnsafeURLError, match="'other.internal' at 10.0.0.7"):
        check_address("10.0.0.7", host="other.internal")


def test_check_address_star_allows_every_private_address(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]

    for address in ("127.0.0.1", "10.0.0.1", "::1", "fe80::1%eth0", "169.254.1.1"):
        check_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "100.100.100.200",
        "169.254.170.2",
        "::ffff:169.254.169.254",
        "2002:a9fe:a9fe::",
    ],
)
@pytest.mark.parametrize(
    "allowed",
    [
        ["*"],
        ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"],
        ["0.0.0.0/0", "::/0"],
        ["metadata.internal"],
    ],
)
def test_check_address_refuses_cloud_metadata_always(settings, address, allowed):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = allowed

    with pytest.raises(UnsafeURLError, match="cloud metadata") as caught:
        check_address(address, host="metadata.internal")

    assert caught.value.details["reason"] == "cloud metadata"


def test_check_url_refuses_metadata_url_even_with_star(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]

    with pytest.raises(UnsafeURLError, match="never reach"):
        check_url("http://169.254.169.254/latest/meta-data/", resolve=False)


def test_check_address_accepts_public_addresses(deny_private):
    check_address("93.184.216.34")
    check_address("2606:4700:4700::1111")
    check_address("2002:808:808::")


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("10.0.0.0/33", "not a valid address range"),
        ("http://lms:8000", "not a host name"),
    ],
)
def test_bad_allow_list_entries_are_named(settings, entry, fragment):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = [entry]

    with pytest.raises(UnsafeURLError, match=fragment) as caught:
        check_address("10.0.0.1")

    assert repr(entry) in caught.value.message


def test_check_address_rejects_text_that_is_not_an_address(deny_private):
    with pytest.raises(UnsafeURLError, match="'lms.example.edu' is not an IP address"):
        check_address("lms.example.edu")


# --- GuardedHTTPAdapter ------------------------------------------------------


def test_adapter_refuses_loopback_connection_when_not_allowed(
    deny_private, session, http_server
):
    port = http_server.server_address[1]

    with pytest.raises(UnsafeConnection) as caught:
        session.get(f"http://127.0.0.1:{port}/", timeout=5)

    assert isinstance(caught.value, requests.exceptions.ConnectionError)
    assert isinstance(caught.value.error, UnsafeURLError)
    assert caught.value.error.details["reason"] == "loopback"
    assert http_server.paths == []


def test_adapter_checks_resolved_address_of_names(deny_private, session, http_server):
    port = http_server.server_address[1]

    with pytest.raises(UnsafeConnection) as caught:
        session.get(f"http://localhost:{port}/", timeout=5)

    assert caught.value.error.details["host"] == "localhost"
    assert http_server.paths == []


def test_adapter_connects_when_address_is_listed(settings, session, http_server):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["127.0.0.1"]
    port = http_server.server_address[1]

    response = session.get(f"http://127.0.0.1:{port}/", timeout=5)

    assert response.status_code == 200
    assert response.text == "ok"


def test_adapter_connects_to_a_listed_host_name(settings, session, http_server):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["localhost"]
    port = http_server.server_address[1]

    response = session.get(f"http://localhost:{port}/", timeout=5)

    assert response.text == "ok"


def test_adapter_reads_settings_for_every_new_connection(
    settings, session, http_server
):
    # The fake server speaks HTTP/1.0, so every request opens a new connection.
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["127.0.0.0/8"]
    url = f"http://127.0.0.1:{http_server.server_address[1]}/"
    assert session.get(url, timeout=5).status_code == 200

    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = []

    with pytest.raises(UnsafeConnection):
        session.get(url, timeout=5)
    assert http_server.paths == ["/"]


def test_adapter_checks_every_redirect_target(settings, session, http_server):
    # Allowed by host name, the server redirects to an address that is not.
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["localhost"]
    port = http_server.server_address[1]
    target = f"http://127.0.0.1:{port}/secret"

    with pytest.raises(UnsafeConnection) as caught:
        session.get(f"http://localhost:{port}/redirect?to={target}", timeout=5)

    assert caught.value.error.details["address"] == "127.0.0.1"
    assert http_server.paths == [f"/redirect?to={target}"]


def test_adapter_refuses_redirect_to_metadata_address(settings, session, http_server):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["*"]
    port = http_server.server_address[1]
    target = "http://169.254.169.254/latest/meta-data/iam/"

    with pytest.raises(UnsafeConnection, match="cloud metadata"):
        session.get(f"http://127.0.0.1:{port}/redirect?to={target}", timeout=5)


def test_adapter_guards_https_connections(settings, session, https_server):
    server, cert_path = https_server
    url = f"https://127.0.0.1:{server.server_address[1]}/"
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = []

    with pytest.raises(UnsafeConnection):
        session.get(url, timeout=5, verify=cert_path)
    assert server.paths == []

    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["127.0.0.1"]
    response = session.get(url, timeout=5, verify=cert_path)

    assert response.text == "ok"
    assert server.paths == ["/"]


def test_adapter_guards_ipv6_connections(settings, session):
    try:
        server = _Server(("::1", 0), family=socket.AF_INET6)
    except OSError as error:
        pytest.skip(f"IPv6 loopback unavailable: {error}")
    for running in _serve(server):
        url = f"http://[::1]:{running.server_address[1]}/"
        settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["127.0.0.1"]

        with pytest.raises(UnsafeConnection, match="loopback"):
            session.get(url, timeout=5)

        settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["::1"]
        assert session.get(url, timeout=5).text == "ok"


def test_adapter_reports_ordinary_connection_errors_unchanged(settings, session):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["127.0.0.1"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()

    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        session.get(f"http://127.0.0.1:{port}/", timeout=5)

    assert not isinstance(caught.value, UnsafeConnection)


def test_adapter_checks_target_before_using_a_proxy(settings, session, http_server):
    # The proxy (the fake server) is the operator's; the target behind it is
    # resolved and checked before anything is sent to the proxy.
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = ["localhost"]
    proxy = f"http://127.0.0.1:{http_server.server_address[1]}"

    with pytest.raises(UnsafeConnection, match="'127.0.0.2'|127.0.0.2"):
        session.get("http://127.0.0.2/", proxies={"http": proxy}, timeout=5)
    assert http_server.paths == []

    response = session.get("http://localhost/page", proxies={"http": proxy}, timeout=5)

    assert response.text == "ok"
    assert http_server.paths == ["http://localhost/page"]


def test_check_address_judges_nat64_addresses_by_their_ipv4(deny_private):
    check_address("64:ff9b::808:808")


def test_refused_connection_names_its_origin(settings, session):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = []

    with pytest.raises(UnsafeConnection) as caught:
        session.get("http://[::1]:1/path?token=secret", timeout=5)

    assert caught.value.error.url == "http://[::1]:1"
    assert "secret" not in str(caught.value)
