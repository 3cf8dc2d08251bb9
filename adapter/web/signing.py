"""Chatwoot webhook signatures (sans-I/O).

``X-Chatwoot-Signature: sha256=<hex>`` where hex = HMAC-SHA256(secret, "{timestamp}.{raw body}")
and ``X-Chatwoot-Timestamp`` is Unix seconds within ±300 s of now.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

WINDOW_SECONDS = 300
_MAX_HEADER = 256


class SignatureError(Exception):
    """Why a request is not authenticated: ``missing``, ``malformed``, ``stale`` or ``mismatch``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The header value Chatwoot would send."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secrets: Sequence[bytes],
    *,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: float,
    window: int = WINDOW_SECONDS,
) -> None:
    """Raise ``SignatureError`` unless a secret signed ``body`` at a fresh ``timestamp``."""
    if not signature or not timestamp:
        raise SignatureError("missing")
    if len(signature) > _MAX_HEADER or len(timestamp) > 32:
        raise SignatureError("malformed")
    timestamp = timestamp.strip()
    if not timestamp.isascii() or not timestamp.lstrip("-").isdigit():
        raise SignatureError("malformed")
    scheme, _, given = signature.strip().partition("=")
    if scheme != "sha256" or len(given) != 64:
        raise SignatureError("malformed")
    try:
        given_bytes = bytes.fromhex(given)
    except ValueError:
        raise SignatureError("malformed") from None
    if abs(now - int(timestamp)) > window:
        raise SignatureError("stale")
    message = timestamp.encode() + b"." + body
    ok = False
    for secret in secrets:
        expected = hmac.new(secret, message, hashlib.sha256).digest()
        # no early exit: every secret is tried, each comparison in constant time
        ok |= hmac.compare_digest(expected, given_bytes)
    if not ok:
        raise SignatureError("mismatch")


__all__ = ["WINDOW_SECONDS", "SignatureError", "sign", "verify"]
