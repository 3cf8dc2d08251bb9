"""The address rules of the downloader's SSRF guard (pure, no network)."""

from __future__ import annotations

import ipaddress

import pytest

from adapter.errors import HelpdeskUnavailable, UnsafeURL
from adapter.helpdesk._ssrf import refusal, url_is_private, vet

ALWAYS = [
    "169.254.169.254",
    "169.254.170.2",
    "169.254.0.1",
    "fe80::1",
    "fd00:ec2::254",
    "100.100.100.200",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "224.0.0.251",
    "ff02::1",
    "0.0.0.0",
    "0.1.2.3",
    "::",
]
PRIVATE = [
    "127.0.0.1",
    "127.5.5.5",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.0.10",
    "fc00::1",
    "fd12:3456::1",
    "100.64.0.1",
    "192.0.2.10",
    "198.18.0.1",
    "240.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"]


@pytest.mark.parametrize("address", ALWAYS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_always_refused(address: str, allow_private: bool) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=allow_private) is not None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_refused_unless_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, allow_private=False) is not None
    assert refusal(ip, allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_metadata_reason_is_named() -> None:
    reason = refusal(ipaddress.ip_address("169.254.169.254"), allow_private=True)
    assert reason == "a cloud metadata address"


def test_vet_checks_every_address_and_keeps_order() -> None:
    target = vet(
        "files.example.test",
        443,
        allow_private=False,
        resolver=lambda h, p: ["8.8.8.8", "1.1.1.1", "8.8.8.8"],
    )
    assert [str(a) for a in target.addresses] == ["8.8.8.8", "1.1.1.1"]
    assert (target.host, target.port) == ("files.example.test", 443)
    with pytest.raises(UnsafeURL, match="private"):
        vet(
            "files.example.test",
            443,
            allow_private=False,
            resolver=lambda h, p: ["8.8.8.8", "10.0.0.1"],
        )


@pytest.mark.parametrize(
    "host",
    [
        "metadata.google.internal",
        "Metadata.Google.Internal.",
        "metadata.goog",
        "metadata",
        "instance-data",
    ],
)
def test_metadata_names_are_refused_without_resolving(host: str) -> None:
    def resolver(h: str, p: int) -> list[str]:
        raise AssertionError("must not resolve")

    with pytest.raises(UnsafeURL, match="metadata"):
        vet(host, 80, allow_private=True, resolver=resolver)


def test_resolver_oddities() -> None:
    with pytest.raises(HelpdeskUnavailable, match="no addresses"):
        vet("x.example.test", 80, allow_private=False, resolver=lambda h, p: [])
    with pytest.raises(UnsafeURL, match="not an address"):
        vet("x.example.test", 80, allow_private=False, resolver=lambda h, p: ["banana"])
    target = vet("x.example.test", 80, allow_private=True, resolver=lambda h, p: ["fd00::1%eth0"])
    assert str(target.addresses[0]) == "fd00::1"


@pytest.mark.parametrize(
    ("url", "addresses", "private"),
    [
        ("http://127.0.0.1:3000", ["127.0.0.1"], True),
        ("http://chatwoot.lan:3000", ["10.0.0.5"], True),
        ("https://chatwoot.example.com", ["93.184.216.34"], False),
        ("https://mixed.example.com", ["93.184.216.34", "10.0.0.5"], False),
        ("http://169.254.169.254", ["169.254.169.254"], False),
        ("http://h", [], False),
        ("not a url", ["10.0.0.5"], False),
        ("http://h:99999", ["10.0.0.5"], False),
    ],
)
def test_url_is_private(url: str, addresses: list[str], private: bool) -> None:
    assert url_is_private(url, resolver=lambda h, p: addresses) is private


def test_url_is_private_when_resolution_fails() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no DNS")

    assert url_is_private("http://chatwoot.lan", resolver=resolver) is False
