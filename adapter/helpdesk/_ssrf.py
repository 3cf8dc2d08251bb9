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

Refused unless ``allow_private`` (set by the caller when the account's own Chatwoot URL is
itself private or loopback, i.e. a self-hosted Chatwoot on the same network):
    - loopback, RFC 1918 private, unique-local fc00::/7, CGNAT 100.64.0.0/10, reserved,
      documentation and benchmarking ranges: anything ``ipaddress`` does not call global.

IPv4 addresses embedded in IPv6 ones (``::ffff:a.b.c.d``, ``::a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``) are checked as the IPv4 address they reach.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from adapter.errors import HelpdeskUnavailable, UnsafeURL

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
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            raise UnsafeURL(f"refusing to fetch from {name}: it resolves to {reason}")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HelpdeskUnavailable(f"could not resolve {name} (no addresses)")
    return Target(host=name, port=port, addresses=tuple(addresses))


def url_is_private(url: str, *, resolver: Resolver = resolve_host) -> bool:
    """Whether ``url``'s host is on a private or loopback network (not globally routable).

    The caller passes the answer as ``download(..., allow_private=...)`` for the account's own
    Chatwoot URL: a self-hosted Chatwoot at ``http://10.0.0.5:3000`` serves its attachments
    from there too. A host that does not resolve counts as public (downloads then stay
    restricted). Link-local and metadata addresses never count as private here.
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
