"""Which addresses the downloader may connect to (the SSRF guard).

An attachment URL comes from a webhook body, and its redirects come from whatever server it
names: both are untrusted. Before every connection the host is resolved and *every* address
it resolves to is checked; the connection then goes to the vetted address itself (see
``download``), so a second DNS answer cannot swap in another one (DNS rebinding).

Always refused, whatever ``allow_private`` says:
    - link-local: 169.254.0.0/16 and fe80::/10 (cloud metadata lives there);
    - cloud metadata endpoints: 169.254.169.254, 169.254.170.2 (ECS), fd00:ec2::254,
      100.100.100.200 (Alibaba), and the names metadata.google.internal, metadata.goog,
      metadata, instance-data;
    - multicast, unspecified (0.0.0.0/8, ::) addresses.

Refused unless ``allow_private``:
    - loopback, RFC 1918 private, unique-local fc00::/7, CGNAT 100.64.0.0/10, reserved,
      documentation and benchmarking ranges: anything ``ipaddress`` does not call global.

The downloader passes ``allow_private`` for one hop only when that hop's :class:`Origin`
(scheme, host, port; the host compared as written, an IP literal in its canonical form) is in
the allowed set :func:`private_origins` builds: the account's Chatwoot origin when Chatwoot
itself is on a private network, and the operator's ``TRANSCRIBER_STORAGE_HOSTS`` (a MinIO or
S3 endpoint its signed URLs redirect to). Any other private host or port is refused, directly
or through a redirect. A host written another way (``127.1``, ``2130706433``,
``[::ffff:127.0.0.1]``, a trailing dot) is another origin, so it stays refused.

:func:`host_refusal` judges a host name alone, without DNS, by the same "always refused"
rules: the account checks (``chatwoot_url``, ``base_url``) and the storage hosts use it.

IPv4 addresses embedded in IPv6 ones (``::ffff:a.b.c.d``, ``::a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``) are checked as the IPv4 address they reach.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from adapter.errors import ConfigError, HelpdeskUnavailable, UnsafeURL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port) -> IP address strings``; ``resolve_host`` by default, injectable for tests
Resolver = Callable[[str, int], Sequence[str]]

METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_ZERO_NET = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPAT = ipaddress.ip_network("::/96")
#: what ``inet_aton`` might read as an IPv4 address: ``2852039166``, ``0251.0376.0251.0376``,
#: ``0xa9.0xfe.0xa9.0xfe``, ``169.254.43518``
_LEGACY_IPV4 = re.compile(r"[0-9a-fx.]+")
#: the setting :func:`storage_origins` reads, as its errors name it
STORAGE_HOSTS = "TRANSCRIBER_STORAGE_HOSTS"
PRIVATE_HINT = (
    " (a private address is fetched from only at the account's Chatwoot origin or one of "
    f"{STORAGE_HOSTS})"
)


@dataclass(frozen=True)
class Origin:
    """Where a URL points: scheme, host and port (the port always given).

    ``host`` is lower case and ASCII (IDNA), without brackets; an IP literal is in its
    canonical form (``[0:0::1]`` and ``[::1]`` are one origin), anything else as written.
    """

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: httpx.URL) -> Origin:
        host = url.raw_host.decode("ascii").lower()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        with contextlib.suppress(ValueError):  # an IP literal, in its canonical form
            host = str(ipaddress.ip_address(host))
        return cls(url.scheme, host, url.port or (443 if url.scheme == "https" else 80))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class Target:
    """A vetted place to connect to."""

    host: str  # the name (ASCII/IDNA) for the Host header and TLS
    port: int
    addresses: tuple[IPAddress, ...]  # every address the name resolved to, all allowed


def resolve_host(host: str, port: int) -> list[str]:
    """Addresses of ``host`` via ``socket.getaddrinfo`` (TCP), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64) or (
        address in _COMPAT and int(address) > 1  # not "::" nor "::1"
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be fetched from, or None when it may."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_unspecified or (
            isinstance(candidate, ipaddress.IPv4Address) and candidate in _ZERO_NET
        ):
            return "an unspecified address"
    if allow_private:
        return None
    for candidate in candidates:
        if candidate.is_loopback:
            return "a loopback address"
        if candidate.is_private:
            return "a private address"
        if not candidate.is_global:
            return "a non-public address"
    return None


def host_refusal(host: str) -> str | None:
    """Why a URL naming ``host`` must never be called, judged without DNS; None when it may.

    A metadata name, or an IP literal in any form a resolver accepts (``169.254.169.254``,
    ``[::ffff:169.254.169.254]``, ``2852039166``, ``0251.0376.0251.0376``, a trailing dot)
    that is link-local, metadata, multicast or unspecified. A name that *resolves* to such an
    address is not caught here (no DNS at validation time): the downloader checks the
    addresses again before each connection.
    """
    name = host.lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.split("%", 1)[0]  # an IPv6 zone
    if name in METADATA_HOSTS:
        return "a cloud metadata host"
    address = _literal(name)
    return None if address is None else refusal(address, allow_private=True)


def _literal(name: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    if not _LEGACY_IPV4.fullmatch(name):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def vet(host: str, port: int, *, allow_private: bool, resolver: Resolver) -> Target:
    """Resolve ``host`` and check every address; ``UnsafeURL`` when one is refused.

    Messages name the host, never a path or query.
    """
    name = host.rstrip(".").lower()
    if not name:
        raise UnsafeURL("the attachment URL has no host")
    if name in METADATA_HOSTS:
        raise UnsafeURL(f"refusing to fetch from {name}: a cloud metadata host")
    try:
        raw = resolver(name, port)
    except (OSError, UnicodeError) as exc:
        raise HelpdeskUnavailable(f"could not resolve {name} ({type(exc).__name__})") from None
    addresses: list[IPAddress] = []
    for text in raw:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise UnsafeURL(f"{name} resolved to something that is not an address") from None
        reason = refusal(address, allow_private=True)
        if reason is not None:
            raise UnsafeURL(f"refusing to fetch from {name}: it resolves to {reason}")
        reason = None if allow_private else refusal(address, allow_private=False)
        if reason is not None:
            raise UnsafeURL(f"refusing to fetch from {name}: it resolves to {reason}{PRIVATE_HINT}")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HelpdeskUnavailable(f"could not resolve {name} (no addresses)")
    return Target(host=name, port=port, addresses=tuple(addresses))


def url_is_private(url: str, *, resolver: Resolver = resolve_host) -> bool:
    """Whether ``url``'s host is on a private or loopback network (not globally routable).

    :func:`private_origins` asks it of the account's own Chatwoot URL: a self-hosted Chatwoot
    at ``http://10.0.0.5:3000`` serves its attachments from there too, so that origin (and
    only it) may then be private. A host that does not resolve counts as public (downloads
    then stay restricted). Link-local and metadata addresses never count as private here.
    """
    try:
        parsed = urlsplit(url)
        host = parsed.hostname
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return False
    if not host:
        return False
    try:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host, port)]
    except (OSError, UnicodeError, ValueError):
        return False
    return bool(addresses) and all(
        refusal(a, allow_private=True) is None and refusal(a, allow_private=False) is not None
        for a in addresses
    )


def storage_origins(text: str | None) -> frozenset[Origin]:
    """The origins in ``TRANSCRIBER_STORAGE_HOSTS`` (comma-separated, such as
    ``http://minio.internal:9000``); ``ConfigError`` naming the setting and the entry when one
    is not an http(s) origin or is a link-local or metadata host."""
    origins: set[Origin] = set()
    for number, entry in enumerate((text or "").split(","), start=1):
        entry = entry.strip()
        if entry:
            origins.add(_storage_origin(entry, number))
    return frozenset(origins)


def _storage_origin(entry: str, number: int) -> Origin:
    # an entry with userinfo may hold a password: it is named by its place, never echoed
    shown = f"entry {number}" if "@" in entry else f"entry {number} ({entry!r})"
    example = "an origin such as http://minio.internal:9000"
    try:
        url = httpx.URL(entry)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ConfigError(f"{STORAGE_HOSTS}: {shown} is not {example}") from None
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise ConfigError(f"{STORAGE_HOSTS}: {shown} is not {example}")
    if url.userinfo:
        raise ConfigError(f"{STORAGE_HOSTS}: {shown} must not carry credentials")
    if url.raw_path not in (b"", b"/") or url.fragment:
        raise ConfigError(
            f"{STORAGE_HOSTS}: {shown} must be just {example}, without a path or query"
        )
    origin = Origin.of(url)
    reason = host_refusal(origin.host)
    if reason is not None:
        raise ConfigError(f"{STORAGE_HOSTS}: {shown} is {reason}, never fetched from")
    return origin


def private_origins(
    chatwoot_url: str, storage_hosts: str | None, *, resolver: Resolver = resolve_host
) -> frozenset[Origin]:
    """The origins a download may fetch from on a private or loopback address: the account's
    Chatwoot origin when Chatwoot itself is on a private network (:func:`url_is_private`),
    and every one of ``storage_hosts`` (the ``TRANSCRIBER_STORAGE_HOSTS`` setting;
    ``ConfigError`` when it is malformed)."""
    origins = set(storage_origins(storage_hosts))
    if url_is_private(chatwoot_url, resolver=resolver):
        # a URL no parser reads has no origin: nothing private is allowed for it
        with contextlib.suppress(httpx.InvalidURL, TypeError, ValueError):
            origins.add(Origin.of(httpx.URL(chatwoot_url)))
    return frozenset(origins)
