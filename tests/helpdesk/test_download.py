"""The attachment downloader: real HTTP servers on 127.0.0.1, plus MockTransport unit cases."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest

from adapter.errors import (
    AudioTooLarge,
    HelpdeskRejected,
    HelpdeskUnavailable,
    TranscriberError,
    UnsafeURL,
)
from adapter.helpdesk import DownloadResult, download
from tests.helpdesk.downloading import RawServer, at, headers, leftovers
from tests.standins.chatwoot_server import ChatwootStandIn

AUDIO = bytes(range(256)) * 400  # 102,400 bytes
LIMIT = 1_000_000


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn() as server:
        yield server


def no_sleep(seconds: float) -> None:
    pass


# --- the normal path: ActiveStorage redirect → storage -------------------------------------


def test_redirect_to_storage_then_bytes(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("voice nóte.ogg", AUDIO, content_type="audio/opus")
    result = download(url, dest, max_bytes=LIMIT, private_origins=at(url))
    assert result == DownloadResult(dest, len(AUDIO), "audio/opus", "voice nóte.ogg")
    assert dest.read_bytes() == AUDIO
    assert leftovers(dest) == ["audio.bin"]
    assert [r.path.split("/")[1:3] for r in chatwoot.requests] == [
        ["rails", "active_storage"],
        ["storage", chatwoot.requests[1].path.split("/")[2]],
    ]
    assert all("api_access_token" not in r.headers for r in chatwoot.requests)


def test_existing_dest_is_replaced_only_on_success(chatwoot: ChatwootStandIn, dest: Path) -> None:
    dest.write_bytes(b"old")
    url = chatwoot.add_blob("a.ogg", AUDIO)
    chatwoot.fail(500, path="/storage/")
    with pytest.raises(HelpdeskUnavailable):
        download(url, dest, max_bytes=LIMIT, private_origins=at(url))
    assert dest.read_bytes() == b"old"
    download(url, dest, max_bytes=LIMIT, private_origins=at(url))
    assert dest.read_bytes() == AUDIO
    assert leftovers(dest) == ["audio.bin"]


def test_a_chain_of_redirects(raw: RawServer, dest: Path) -> None:
    for hop in range(1, 5):
        target = raw.url(f"/hop{hop + 1}" if hop < 4 else "/final")
        raw.routes[f"/hop{hop}"] = lambda w, _, t=target: w.write(
            headers("302 Found", f"Location: {t}", "Content-Length: 0")
        )
    raw.routes["/final"] = lambda w, _: w.write(
        headers("200 OK", "Content-Type: audio/mpeg", f"Content-Length: {len(AUDIO)}") + AUDIO
    )
    result = download(raw.url("/hop1"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/")))
    assert (result.size, result.content_type, result.filename) == (len(AUDIO), "audio/mpeg", "hop1")
    assert raw.hits == ["/hop1", "/hop2", "/hop3", "/hop4", "/final"]


def test_relative_redirect(raw: RawServer, dest: Path) -> None:
    raw.routes["/a"] = lambda w, _: w.write(
        headers("307 Temporary Redirect", "Location: /b?sig=1", "Content-Length: 0")
    )
    raw.routes["/b"] = lambda w, _: w.write(headers("200 OK", "Content-Length: 3") + b"abc")
    assert (
        download(raw.url("/a"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/"))).size == 3
    )


def test_too_many_redirects(raw: RawServer, dest: Path) -> None:
    raw.routes["/loop"] = lambda w, _: w.write(
        headers("302 Found", f"Location: {raw.url('/loop')}", "Content-Length: 0")
    )
    with pytest.raises(HelpdeskRejected, match="redirected more than 5"):
        download(raw.url("/loop"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/")))
    assert len(raw.hits) == 6
    assert leftovers(dest) == []


def test_redirect_without_location(raw: RawServer, dest: Path) -> None:
    raw.routes["/a"] = lambda w, _: w.write(headers("302 Found", "Content-Length: 0"))
    with pytest.raises(HelpdeskRejected, match="without a Location"):
        download(raw.url("/a"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/")))


# --- Chatwoot's upload race ----------------------------------------------------------------


def test_404_then_200(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    chatwoot.fail(404, times=2, path="/rails/")
    pauses: list[float] = []
    result = download(url, dest, max_bytes=LIMIT, private_origins=at(url), sleep=pauses.append)
    assert result.size == len(AUDIO)
    assert pauses == [0.5, 1.0]


def test_404_for_good(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    chatwoot.fail(404, times=10, path="/rails/")
    with pytest.raises(HelpdeskRejected) as caught:
        download(
            url, dest, max_bytes=LIMIT, private_origins=at(url), sleep=no_sleep, not_found_retries=3
        )
    assert "not found (404)" in str(caught.value)
    assert "after 4 attempts" in str(caught.value)
    assert len(chatwoot.requests) == 4
    assert leftovers(dest) == []


def test_storage_403_after_redirect_starts_over(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    chatwoot.fail(403, path="/storage/")  # an expired signature
    result = download(url, dest, max_bytes=LIMIT, private_origins=at(url), sleep=no_sleep)
    assert result.size == len(AUDIO)
    assert [r.status for r in chatwoot.requests] == [302, 403, 302, 200]


def test_403_from_chatwoot_itself_is_rejected(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    chatwoot.fail(403, path="/rails/")
    with pytest.raises(HelpdeskRejected, match=r"refused the attachment URL \(403\)"):
        download(url, dest, max_bytes=LIMIT, private_origins=at(url), sleep=no_sleep)
    assert len(chatwoot.requests) == 1


# --- size caps -----------------------------------------------------------------------------


def test_too_large_by_content_length(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    with pytest.raises(AudioTooLarge, match=f"{len(AUDIO)} bytes"):
        download(url, dest, max_bytes=len(AUDIO) - 1, private_origins=at(url))
    assert leftovers(dest) == []


def test_exactly_the_limit_is_fine(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    assert download(url, dest, max_bytes=len(AUDIO), private_origins=at(url)).size == len(AUDIO)


def test_too_large_by_stream_without_length(raw: RawServer, dest: Path) -> None:
    def endless(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Content-Type: audio/ogg", "Transfer-Encoding: chunked"))
        chunk = b"x" * 65536
        for _ in range(64):  # 4 MiB, far over the limit
            w.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        w.write(b"0\r\n\r\n")

    raw.routes["/big"] = endless
    with pytest.raises(AudioTooLarge, match="more arrived"):
        download(raw.url("/big"), dest, max_bytes=200_000, private_origins=at(raw.url("/")))
    assert leftovers(dest) == []


def test_content_length_understating_the_body(raw: RawServer, dest: Path) -> None:
    raw.routes["/liar"] = lambda w, _: w.write(
        headers("200 OK", "Content-Length: 10") + b"y" * 500_000
    )
    result = download(raw.url("/liar"), dest, max_bytes=1000, private_origins=at(raw.url("/")))
    assert result.size == 10  # never more than the declared, under-the-limit length


def test_close_delimited_body_over_the_limit(raw: RawServer, dest: Path) -> None:
    def close_delimited(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Connection: close") + b"z" * 300_000)

    raw.routes["/close"] = close_delimited
    with pytest.raises(AudioTooLarge):
        download(raw.url("/close"), dest, max_bytes=100_000, private_origins=at(raw.url("/")))
    assert leftovers(dest) == []


# --- broken and slow servers ---------------------------------------------------------------


def test_body_cut_short_removes_the_partial_file(raw: RawServer, dest: Path) -> None:
    raw.routes["/cut"] = lambda w, _: w.write(
        headers("200 OK", "Content-Length: 100000") + b"a" * 70_000
    )
    with pytest.raises(HelpdeskUnavailable, match="broke off"):
        download(raw.url("/cut"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/")))
    assert leftovers(dest) == []


def test_slow_server_times_out(raw: RawServer, dest: Path) -> None:
    raw.routes["/slow"] = lambda w, release: release.wait(30)
    with pytest.raises(HelpdeskUnavailable, match="timed out"):
        download(
            raw.url("/slow"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/")), timeout=0.3
        )
    assert leftovers(dest) == []


def test_stall_in_the_middle_times_out(raw: RawServer, dest: Path) -> None:
    def stall(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Content-Length: 100000") + b"a" * 1000)
        w.flush()
        release.wait(30)

    raw.routes["/stall"] = stall
    with pytest.raises(HelpdeskUnavailable, match="timed out reading"):
        download(
            raw.url("/stall"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/")), timeout=0.3
        )
    assert leftovers(dest) == []


def test_connection_refused(dest: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HelpdeskUnavailable, match="could not connect"):
        download(
            f"http://127.0.0.1:{port}/a.ogg",
            dest,
            max_bytes=LIMIT,
            private_origins=at(f"http://127.0.0.1:{port}"),
        )
    assert leftovers(dest) == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, HelpdeskUnavailable),
        (502, HelpdeskUnavailable),
        (408, HelpdeskUnavailable),
        (401, HelpdeskRejected),
        (410, HelpdeskRejected),
        (400, HelpdeskRejected),
    ],
)
def test_status_mapping(
    chatwoot: ChatwootStandIn, dest: Path, status: int, error: type[TranscriberError]
) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    chatwoot.fail(status, path="/rails/")
    with pytest.raises(error):
        download(url, dest, max_bytes=LIMIT, private_origins=at(url))
    assert leftovers(dest) == []


def test_429_carries_retry_after(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    chatwoot.fail(429, path="/storage/", retry_after=12)
    with pytest.raises(HelpdeskUnavailable) as caught:
        download(url, dest, max_bytes=LIMIT, private_origins=at(url))
    assert caught.value.retry_after == 12


def test_deadline(dest: Path) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 4.0  # every look at the clock is four seconds later
        return now[0]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"a" * 65536] * 12))

    with pytest.raises(HelpdeskUnavailable, match="deadline"):
        download(
            "https://files.example.test/a.ogg",
            dest,
            max_bytes=LIMIT,
            deadline=30,
            clock=clock,
            transport=httpx.MockTransport(handler),
            resolver=lambda h, p: ["93.184.216.34"],
        )
    assert leftovers(dest) == []


# --- SSRF ----------------------------------------------------------------------------------


def test_loopback_refused_when_no_origin_is_allowed(chatwoot: ChatwootStandIn, dest: Path) -> None:
    url = chatwoot.add_blob("a.ogg", AUDIO)
    with pytest.raises(UnsafeURL, match="loopback"):
        download(url, dest, max_bytes=LIMIT)
    assert chatwoot.requests == []
    assert leftovers(dest) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "http://169.254.10.10/",
        "http://[fe80::1]/",
        "http://0.0.0.0:8080/",
        "http://[::]/",
        "http://224.0.0.1/",
    ],
)
def test_always_refused_even_at_an_allowed_origin(url: str, dest: Path) -> None:
    with pytest.raises(UnsafeURL):
        download(url, dest, max_bytes=LIMIT, private_origins=at(url))
    assert leftovers(dest) == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://files.example.test/a.ogg",
        "gopher://127.0.0.1:6379/_INFO",
        "data:audio/ogg;base64,T2dnUw==",
        "/relative/a.ogg",
        "https://user:pw@files.example.test/a.ogg",
        "http://[::1/a.ogg",
        "",
        "https:///a.ogg",
    ],
)
def test_refused_urls(url: str, dest: Path) -> None:
    with pytest.raises(UnsafeURL):
        download(url, dest, max_bytes=LIMIT)
    assert leftovers(dest) == []


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
        "file:///etc/passwd",
        "http://[fe80::1]/x",
        "javascript:alert(1)",
    ],
)
def test_redirect_to_a_refused_place(raw: RawServer, dest: Path, location: str) -> None:
    raw.routes["/go"] = lambda w, _: w.write(
        headers("302 Found", f"Location: {location}", "Content-Length: 0")
    )
    with pytest.raises(UnsafeURL):
        download(raw.url("/go"), dest, max_bytes=LIMIT, private_origins=at(raw.url("/")))
    assert raw.hits == ["/go"]
    assert leftovers(dest) == []


def test_redirect_to_loopback_refused_for_a_public_start(dest: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://127.0.0.1:6379/"})

    with pytest.raises(UnsafeURL, match="loopback"):
        download(
            "https://chatwoot.example.test/rails/x/a.ogg",
            dest,
            max_bytes=LIMIT,
            transport=httpx.MockTransport(handler),
            resolver=lambda h, p: ["93.184.216.34"] if h != "127.0.0.1" else [h],
        )


@pytest.mark.parametrize(
    "addresses",
    [
        ["93.184.216.34", "10.0.0.5"],
        ["192.168.1.10"],
        ["100.64.1.1"],
        ["::1"],
        ["fc00::5"],
        ["64:ff9b::a9fe:a9fe"],
        ["2002:a9fe:a9fe::1"],
        ["::127.0.0.1"],
    ],
)
def test_a_name_resolving_to_a_private_address_is_refused(addresses: list[str], dest: Path) -> None:
    with pytest.raises(UnsafeURL):
        download(
            "https://files.example.test/a.ogg",
            dest,
            max_bytes=LIMIT,
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
            resolver=lambda h, p: addresses,
        )


def test_dns_failure_is_transient(dest: Path) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(HelpdeskUnavailable, match=r"could not resolve files\.example\.test"):
        download(
            "https://files.example.test/a.ogg",
            dest,
            max_bytes=LIMIT,
            resolver=resolver,
        )


def test_connects_to_the_vetted_address_with_the_name_in_host_and_sni(dest: Path) -> None:
    seen: list[httpx.Request] = []
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(f"{host}:{port}")
        return ["93.184.216.34"]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.startswith("/rails/"):
            return httpx.Response(
                302,
                headers={
                    "location": "https://storage.example.test:8443/bucket/key?X-Amz-Signature=abc"
                },
            )
        return httpx.Response(
            200,
            content=b"OggS",
            headers={
                "content-type": "audio/ogg",
                "content-disposition": 'attachment; filename="v.ogg"',
            },
        )

    result = download(
        "https://chatwoot.example.test/rails/blob/voice.ogg?disposition=inline",
        dest,
        max_bytes=LIMIT,
        transport=httpx.MockTransport(handler),
        resolver=resolver,
    )
    assert result.filename == "v.ogg"
    assert resolved == ["chatwoot.example.test:443", "storage.example.test:8443"]
    first, second = seen
    assert str(first.url) == "https://93.184.216.34/rails/blob/voice.ogg?disposition=inline"
    assert first.headers["host"] == "chatwoot.example.test"
    assert first.extensions["sni_hostname"] == "chatwoot.example.test"
    assert str(second.url) == "https://93.184.216.34:8443/bucket/key?X-Amz-Signature=abc"
    assert second.headers["host"] == "storage.example.test:8443"
    assert second.extensions["sni_hostname"] == "storage.example.test"
    assert first.headers["accept-encoding"] == "identity"


# --- no signed URL in any message ----------------------------------------------------------


SECRET_PATH = "/rails/active_storage/blobs/redirect/SIGNEDID--deadbeef/secret-name.ogg"


@pytest.mark.parametrize(
    "handler",
    [
        lambda r: httpx.Response(404),
        lambda r: httpx.Response(500),
        lambda r: httpx.Response(401),
        lambda r: httpx.Response(302, headers={"location": "http://169.254.169.254/?X-Sig=1"}),
        lambda r: httpx.Response(302, headers={"location": "ftp://x/?X-Sig=1"}),
        lambda r: httpx.Response(200, headers={"content-length": "999999999"}),
    ],
)
def test_messages_never_show_the_signed_url(handler: Any, dest: Path) -> None:
    url = "https://chatwoot.example.test" + SECRET_PATH + "?token=SIG123"
    with pytest.raises(TranscriberError) as caught:
        download(
            url,
            dest,
            max_bytes=LIMIT,
            sleep=no_sleep,
            transport=httpx.MockTransport(handler),
            resolver=lambda h, p: ["93.184.216.34"],
        )
    text = str(caught.value) + repr(caught.value)
    for secret in ("SIGNEDID", "secret-name", "SIG123", "X-Sig", "rails"):
        assert secret not in text
    assert caught.value.__cause__ is None


def test_max_bytes_must_be_positive(dest: Path) -> None:
    with pytest.raises(ValueError):
        download("https://x.example.test/a", dest, max_bytes=0)


# --- TLS: pinned address, certificate checked against the name -----------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 with a certificate for files.example.test only."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "files.example.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("files.example.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/ogg")
            self.send_header("Content-Length", str(len(AUDIO)))
            self.end_headers()
            self.wfile.write(AUDIO)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    client_context = ssl.create_default_context(cadata=cert_pem.decode())
    yield server.server_address[1], client_context
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_https_to_the_pinned_address_checks_the_name(
    tls_server: tuple[int, ssl.SSLContext], dest: Path
) -> None:
    port, context = tls_server
    result = download(
        f"https://files.example.test:{port}/a.ogg",
        dest,
        max_bytes=LIMIT,
        private_origins=at(f"https://files.example.test:{port}"),
        ssl_context=context,
        resolver=lambda host, p: ["127.0.0.1"],
    )
    assert result.size == len(AUDIO)


def test_https_certificate_for_another_name_fails(
    tls_server: tuple[int, ssl.SSLContext], dest: Path
) -> None:
    port, context = tls_server
    with pytest.raises(HelpdeskUnavailable, match="TLS handshake failed"):
        download(
            f"https://other.example.test:{port}/a.ogg",
            dest,
            max_bytes=LIMIT,
            private_origins=at(f"https://other.example.test:{port}"),
            ssl_context=context,
            resolver=lambda host, p: ["127.0.0.1"],
        )
    assert leftovers(dest) == []
