"""Which private places a download may reach: exactly the account's Chatwoot origin and the
configured storage hosts (``TRANSCRIBER_STORAGE_HOSTS``), on every hop; nothing else private.

A "Chatwoot" and a "canary" are real servers on two ports of 127.0.0.1; the allowed set is
built as the job builds it (``private_origins``, with the real resolver). The canary must
never be reached: directly, through a redirect from Chatwoot's own origin, or by any other way
of writing its address.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from adapter.errors import ConfigError, UnsafeURL
from adapter.helpdesk import Origin, download, host_refusal, private_origins, storage_origins
from tests.helpdesk.downloading import RawServer, headers, leftovers

AUDIO = b"OggS" + bytes(range(256)) * 4
LIMIT = 1_000_000


def serve_audio(w: BinaryIO, release: threading.Event) -> None:
    w.write(headers("200 OK", "Content-Type: audio/ogg", f"Content-Length: {len(AUDIO)}") + AUDIO)


def redirect(location: str) -> object:
    def route(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("302 Found", f"Location: {location}", "Content-Length: 0"))

    return route


@pytest.fixture
def chatwoot() -> Iterator[RawServer]:
    """The account's self-hosted Chatwoot, on a loopback port."""
    with RawServer() as server:
        server.routes["/a.ogg"] = serve_audio
        yield server


@pytest.fixture
def canary() -> Iterator[RawServer]:
    """Something else on the same machine, on another port: it must never be asked."""
    with RawServer() as server:
        server.routes["/secret"] = serve_audio
        yield server


@pytest.fixture
def storage() -> Iterator[RawServer]:
    """A MinIO on the private network, where Chatwoot's signed URLs redirect."""
    with RawServer() as server:
        server.routes["/bucket/a.ogg"] = serve_audio
        yield server


def test_chatwoot_origin_itself_is_allowed(chatwoot: RawServer, dest: Path) -> None:
    allowed = private_origins(chatwoot.origin(), None)
    assert allowed == {Origin("http", "127.0.0.1", chatwoot.port)}
    result = download(chatwoot.url("/a.ogg"), dest, max_bytes=LIMIT, private_origins=allowed)
    assert (result.size, dest.read_bytes()) == (len(AUDIO), AUDIO)


def test_chatwoot_redirecting_to_itself_is_allowed(chatwoot: RawServer, dest: Path) -> None:
    chatwoot.routes["/rails/x"] = redirect("/a.ogg")
    allowed = private_origins(chatwoot.origin() + "/", None)
    assert download(chatwoot.url("/rails/x"), dest, max_bytes=LIMIT, private_origins=allowed)
    assert chatwoot.hits == ["/rails/x", "/a.ogg"]


def test_canary_on_another_port_is_refused(
    chatwoot: RawServer, canary: RawServer, dest: Path
) -> None:
    allowed = private_origins(chatwoot.origin(), None)
    with pytest.raises(UnsafeURL, match="loopback") as caught:
        download(canary.url("/secret"), dest, max_bytes=LIMIT, private_origins=allowed)
    assert "TRANSCRIBER_STORAGE_HOSTS" in str(caught.value)
    assert canary.hits == []
    assert leftovers(dest) == []


def test_canary_through_a_redirect_from_chatwoot_is_refused(
    chatwoot: RawServer, canary: RawServer, dest: Path
) -> None:
    chatwoot.routes["/rails/x"] = redirect(canary.url("/secret"))
    allowed = private_origins(chatwoot.origin(), None)
    with pytest.raises(UnsafeURL, match="loopback"):
        download(chatwoot.url("/rails/x"), dest, max_bytes=LIMIT, private_origins=allowed)
    assert chatwoot.hits == ["/rails/x"]
    assert canary.hits == []
    assert leftovers(dest) == []


def test_a_configured_storage_host_is_allowed(
    chatwoot: RawServer, storage: RawServer, dest: Path
) -> None:
    chatwoot.routes["/rails/x"] = redirect(storage.url("/bucket/a.ogg?X-Amz-Signature=1"))
    allowed = private_origins(chatwoot.origin(), f"https://s3.example.test, {storage.origin()}")
    result = download(chatwoot.url("/rails/x"), dest, max_bytes=LIMIT, private_origins=allowed)
    assert result.size == len(AUDIO)
    assert storage.hits == ["/bucket/a.ogg?X-Amz-Signature=1"]


def test_the_same_storage_host_unconfigured_is_refused(
    chatwoot: RawServer, storage: RawServer, dest: Path
) -> None:
    chatwoot.routes["/rails/x"] = redirect(storage.url("/bucket/a.ogg"))
    with pytest.raises(UnsafeURL):
        download(
            chatwoot.url("/rails/x"),
            dest,
            max_bytes=LIMIT,
            private_origins=private_origins(chatwoot.origin(), None),
        )
    assert storage.hits == []


def test_a_storage_host_allows_only_itself(
    storage: RawServer, canary: RawServer, dest: Path
) -> None:
    """A storage host is not a key to the private network: its redirects are vetted too."""
    storage.routes["/bucket/a.ogg"] = redirect(canary.url("/secret"))
    allowed = private_origins("https://chat.example.test", storage.origin())
    with pytest.raises(UnsafeURL):
        download(storage.url("/bucket/a.ogg"), dest, max_bytes=LIMIT, private_origins=allowed)
    assert canary.hits == []


def test_public_chatwoot_allows_nothing_private(chatwoot: RawServer, dest: Path) -> None:
    """Chatwoot on the internet: its origin is not added (a name of it that resolves to a
    private address later is DNS rebinding, not a self-hosted Chatwoot)."""
    allowed = private_origins(
        f"http://chat.example.test:{chatwoot.port}", None, resolver=lambda h, p: ["93.184.216.34"]
    )
    assert allowed == frozenset()
    with pytest.raises(UnsafeURL):
        download(
            f"http://chat.example.test:{chatwoot.port}/a.ogg",
            dest,
            max_bytes=LIMIT,
            private_origins=allowed,
            resolver=lambda h, p: ["127.0.0.1"],
        )
    assert chatwoot.hits == []


#: other ways of writing a loopback address: each is another origin than the allowed one, or
#: no URL at all, so each is refused (and never reaches the port)
HOSTILE = [
    "http://[::ffff:127.0.0.1]:{port}/secret",
    "http://[::ffff:7f00:1]:{port}/secret",
    "http://[::127.0.0.1]:{port}/secret",
    "http://2130706433:{port}/secret",
    "http://0x7f000001:{port}/secret",
    "http://0177.0.0.1:{port}/secret",
    "http://127.1:{port}/secret",
    "http://127.0.0.1.:{port}/secret",
    "http://localhost:{port}/secret",
    "http://LOCALHOST.:{port}/secret",
    "http://127.0.0.2:{port}/secret",
    "http://[::1]:{port}/secret",
    "http://0.0.0.0:{port}/secret",
    "http://[::]:{port}/secret",
    "http://0:{port}/secret",
    "http://127.0.0.1:{chatwoot}@127.0.0.1:{port}/secret",
    "http://user:pw@127.0.0.1:{port}/secret",
    "https://127.0.0.1:{port}/secret",
]


@pytest.mark.parametrize("form", HOSTILE)
@pytest.mark.parametrize("target", ["canary", "chatwoot"])
def test_other_forms_of_a_loopback_address_are_refused(
    chatwoot: RawServer, canary: RawServer, dest: Path, form: str, target: str
) -> None:
    """Directly: whether they would reach the canary, or Chatwoot's own port written another
    way (Chatwoot's origin is allowed only as written)."""
    server = canary if target == "canary" else chatwoot
    url = form.format(port=server.port, chatwoot=chatwoot.port)
    allowed = private_origins(chatwoot.origin(), None)
    with pytest.raises(UnsafeURL):
        download(url, dest, max_bytes=LIMIT, private_origins=allowed)
    assert canary.hits == [] and chatwoot.hits == []
    assert leftovers(dest) == []


@pytest.mark.parametrize("form", HOSTILE)
def test_other_forms_of_a_loopback_address_are_refused_as_a_redirect(
    chatwoot: RawServer, canary: RawServer, dest: Path, form: str
) -> None:
    chatwoot.routes["/rails/x"] = redirect(form.format(port=canary.port, chatwoot=chatwoot.port))
    allowed = private_origins(chatwoot.origin(), None)
    with pytest.raises(UnsafeURL):
        download(chatwoot.url("/rails/x"), dest, max_bytes=LIMIT, private_origins=allowed)
    assert chatwoot.hits == ["/rails/x"]
    assert canary.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fe80::1]/",
    ],
)
def test_metadata_is_refused_even_as_an_allowed_origin(url: str, dest: Path) -> None:
    """An allowed origin never lifts the always-refused rules (a hand-built set could hold
    one: ``storage_origins`` refuses to)."""
    allowed = frozenset({Origin.of(httpx.URL(url))})
    with pytest.raises(UnsafeURL):
        download(url, dest, max_bytes=LIMIT, private_origins=allowed)


# --- the origins themselves (pure) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://MinIO.Internal:9000/x?y", Origin("http", "minio.internal", 9000)),
        ("https://s3.example.test", Origin("https", "s3.example.test", 443)),
        ("http://10.0.0.5", Origin("http", "10.0.0.5", 80)),
        ("http://[0:0::1]:3000/", Origin("http", "::1", 3000)),
        ("http://[::FFFF:127.0.0.1]:3000/", Origin("http", "::ffff:7f00:1", 3000)),
        ("http://127.0.0.1.:3000/", Origin("http", "127.0.0.1.", 3000)),
        ("http://bücher.example/", Origin("http", "xn--bcher-kva.example", 80)),
    ],
)
def test_origin_of(url: str, origin: Origin) -> None:
    assert Origin.of(httpx.URL(url)) == origin


def test_origin_shows_as_a_url() -> None:
    assert str(Origin("http", "::1", 3000)) == "http://[::1]:3000"
    assert str(Origin("https", "s3.example.test", 443)) == "https://s3.example.test:443"


def test_storage_origins() -> None:
    assert storage_origins(None) == frozenset()
    assert storage_origins(" , ") == frozenset()
    assert storage_origins("http://minio.internal:9000, https://10.0.0.7/") == {
        Origin("http", "minio.internal", 9000),
        Origin("https", "10.0.0.7", 443),
    }


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("minio.internal:9000", "not an origin"),
        ("ftp://minio.internal", "not an origin"),
        ("http://", "not an origin"),
        ("http://[::1", "not an origin"),
        ("http://minio.internal:9000/bucket", "without a path"),
        ("http://minio.internal:9000/?x=1", "without a path"),
        ("http://169.254.169.254", "cloud metadata"),
        ("http://ok.internal, http://metadata.google.internal", "entry 2"),
        ("http://[fe80::1]:9000", "link-local"),
        ("http://0.0.0.0:9000", "unspecified"),
    ],
)
def test_bad_storage_hosts_are_a_config_error(value: str, says: str) -> None:
    with pytest.raises(ConfigError, match="TRANSCRIBER_STORAGE_HOSTS") as caught:
        storage_origins(value)
    assert says in str(caught.value)


def test_a_storage_host_with_credentials_is_not_echoed() -> None:
    with pytest.raises(ConfigError, match="credentials") as caught:
        storage_origins("http://admin:hunter2@minio.internal:9000")
    assert "hunter2" not in str(caught.value)
    assert "entry 1" in str(caught.value)


def test_a_malformed_storage_host_fails_the_download_step(chatwoot: RawServer) -> None:
    with pytest.raises(ConfigError):
        private_origins(chatwoot.origin(), "not an origin")


# --- a host judged alone, without DNS (the accounts' URLs) ---------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "169.254.169.254.",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "169.254.170.2",
        "169.254.0.1",
        "[fe80::1]",
        "[fe80::1%eth0]",
        "2852039166",  # 169.254.169.254 in decimal
        "0xa9fea9fe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "[64:ff9b::a9fe:a9fe]",
        "[2002:a9fe:a9fe::1]",
        "metadata.google.internal",
        "METADATA.GOOGLE.INTERNAL.",
        "metadata.goog",
        "metadata",
        "instance-data",
        "0.0.0.0",
        "0",
        "[::]",
        "224.0.0.1",
    ],
)
def test_host_refusal_refuses(host: str) -> None:
    assert host_refusal(host) is not None


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "10.0.0.5",
        "[::1]",
        "chatwoot.internal",
        "api.openai.com",
        "93.184.216.34",
        "cafe.face",
        "169.254.169.254.nip.io",  # resolves there: the downloader's DNS check catches it
    ],
)
def test_host_refusal_allows(host: str) -> None:
    assert host_refusal(host) is None
