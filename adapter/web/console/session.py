"""The console's session cookie and CSRF tokens: pure, no request in sight.

A session is an itsdangerous-signed, timestamped payload
``{"a": ADMIN_BINDING, "c": CSRF, "s": SESSION_ID}``:

- signed with a key derived (HKDF, :meth:`adapter.secrets.Keyring.derive_key`) from the first
  encryption key under :data:`KEY_LABEL`, so rotating the keys signs everyone out and the cookie
  key is never the key of the stored secrets;
- valid for :data:`MAX_AGE_SECONDS` after sign-in;
- bound to the admin token by ``ADMIN_BINDING``, an HMAC of the token under the derived key: a
  changed ``TRANSCRIBER_ADMIN_TOKEN`` invalidates every session, and the cookie (readable by its
  holder, only signed) holds neither the token nor a hash that could be guessed offline;
- carrying the synchronizer CSRF token that every state-changing form must send back;
- naming itself with a random session id, so that signing out can end it on the server
  (``adapter.store.sessions``: the id is refused until the cookie would have expired). A
  cookie without one (issued before session ids) is not a session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

#: the HKDF info label of the cookie key: no other use of the keys may take this label
KEY_LABEL = "helpdesk-transcriber/console-session/v1"
COOKIE_NAME = "transcriber_console"
COOKIE_PATH = "/console"
MAX_AGE_SECONDS = 12 * 3600
#: the longest cookie value read (a real one is about 150 characters)
MAX_COOKIE_CHARS = 1024


#: the longest session id read from a cookie (the store's column holds 64)
MAX_SID_CHARS = 64


@dataclass(frozen=True)
class SignedSession:
    """A signed-in operator: the CSRF token their forms must carry, the session's id, and
    when its cookie expires."""

    csrf: str
    sid: str
    expires_at: datetime


class SessionSigner:
    """Issues and reads session cookies for one key and one admin token."""

    def __init__(self, key: bytes, admin_token: str, *, max_age: int = MAX_AGE_SECONDS) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="console-session")
        self._binding = hmac.new(key, b"admin-token:" + admin_token.encode(), "sha256").hexdigest()
        self._token = hashlib.sha256(admin_token.encode()).digest()
        self.max_age = max_age

    def token_matches(self, given: str) -> bool:
        """Whether ``given`` is the admin token, in constant time (digests of equal length,
        so not even the token's length leaks)."""
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._token)

    def issue(self) -> tuple[str, SignedSession]:
        """A new session and its cookie value (with a fresh CSRF token and session id)."""
        csrf, sid = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        value = str(self._serializer.dumps({"a": self._binding, "c": csrf, "s": sid}))
        _, signed_at = self._serializer.loads(value, return_timestamp=True)
        return value, SignedSession(csrf, sid, signed_at + timedelta(seconds=self.max_age))

    def read(self, cookie: str | None) -> SignedSession | None:
        """The session of a cookie value, or None: absent, tampered, expired, or signed for
        another admin token or key."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS:
            return None
        try:
            data, signed_at = self._serializer.loads(
                cookie, max_age=self.max_age, return_timestamp=True
            )
        except BadSignature:  # SignatureExpired is one too
            return None
        if not isinstance(data, dict):
            return None
        binding, csrf, sid = data.get("a"), data.get("c"), data.get("s")
        if not isinstance(binding, str) or not isinstance(csrf, str) or not csrf:
            return None
        if not isinstance(sid, str) or not sid or len(sid) > MAX_SID_CHARS:
            return None
        if not hmac.compare_digest(binding.encode(), self._binding.encode()):
            return None
        return SignedSession(csrf, sid, signed_at + timedelta(seconds=self.max_age))


def csrf_matches(session: SignedSession, given: str | None) -> bool:
    """Whether a form's CSRF field is the session's token, in constant time."""
    if not given or not given.isascii():
        return False
    return hmac.compare_digest(given.encode(), session.csrf.encode())


__all__ = [
    "COOKIE_NAME",
    "COOKIE_PATH",
    "KEY_LABEL",
    "MAX_AGE_SECONDS",
    "MAX_SID_CHARS",
    "SessionSigner",
    "SignedSession",
    "csrf_matches",
]
