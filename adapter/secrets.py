"""Encryption of stored secrets, each bound to where it is stored.

``TRANSCRIBER_ENCRYPTION_KEYS`` holds comma-separated Fernet keys: the first encrypts, all
decrypt, so a new key is put first, ``transcriber keys rotate`` re-encrypts every stored value
and the old key can then be dropped.

A stored secret is **sealed**: AES-256-GCM under a key derived (HKDF-SHA256) from each Fernet
key, with its *label* — the account and field it belongs to, ``account:3:api_token`` — as the
associated data. A ciphertext copied into another row or field does not open there
(:meth:`Keyring.unseal` fails as for a wrong key). Sealed values read ``v2.`` + base64url(nonce ‖
ciphertext); values written before (plain Fernet tokens, bound to nothing) are re-sealed by
``transcriber migrate`` and refused afterwards.

Outside production, when the variable is unset, a key is generated once into a file beside the
SQLite database (with a warning) by the commands that create a database (``migrate``, ``up``:
:func:`ensure_dev_key`); every other command reads that file and refuses, naming it, when it is
missing. Production refuses to start without the variable.

A secret that must be *found* by its value (an account's stream token: the bearer token alone
picks the account) is also stored as a **lookup digest**: HMAC-SHA256 of the value under a key
derived (HKDF-SHA256, its own info) from a Fernet key, with the digest's purpose in front
(:meth:`Keyring.digest`). It is never a plain hash (a guess cannot be checked against a copied
database without the keys) and never reveals the value. It is computed under the first key
when a value is stored and again by ``keys rotate``; a look-up tries every configured key
(:meth:`Keyring.digests`), so values keep being found between putting a new key first and
running ``keys rotate``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapter.errors import ConfigError, SecretError
from adapter.observability.redact import register_secret
from adapter.settings import Settings

log = logging.getLogger(__name__)

DEV_KEY_FILENAME = "transcriber.key"
KEYS_VARIABLE = "TRANSCRIBER_ENCRYPTION_KEYS"
#: what a Fernet key looks like, and how to make one
FERNET_KEY_HINT = (
    "a Fernet key is 44 characters of URL-safe base64 (32 random bytes) ending in '='; make "
    "one with `python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'`"
)


#: the prefix of a sealed value (a Fernet token starts ``gAAAAA``)
SEALED = "v2."
_NONCE_BYTES = 12
_SEAL_INFO = b"helpdesk-transcriber sealed secrets v2"
_DIGEST_INFO = b"helpdesk-transcriber lookup digests v1"
#: the length of a lookup digest (hex SHA-256)
DIGEST_CHARS = 64


def is_sealed(token: str) -> bool:
    return token.startswith(SEALED)


def account_label(account_id: int, field: str) -> str:
    """Where an account secret is stored: ``account:3:api_token``. A rotated-out webhook
    secret keeps its field's label (``webhook_secret``): it is the same secret, older."""
    return f"account:{account_id}:{field}"


def attachment_label(account_id: int, attachment_id: int) -> str:
    """Where an attachment's URL (a capability) is stored: its account's transcription of it."""
    return f"attachment:{account_id}:{attachment_id}"


def _register(value: str) -> None:
    """Tell the log/Sentry scrubber about a secret value seen at run time."""
    register_secret(value)


@dataclass(frozen=True)
class Keyring:
    """Encrypts with the first key, decrypts with any."""

    _fernet: MultiFernet
    key_count: int
    #: the first key's 32 bytes, only for :meth:`derive_key`
    _first_key: bytes = field(default=b"", repr=False)
    #: one AES-GCM cipher per key, the first seals
    _sealers: tuple[AESGCM, ...] = field(default=(), repr=False)
    #: one HMAC key per key, for lookup digests (the first computes the stored ones)
    _digest_keys: tuple[bytes, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"Keyring(keys={self.key_count})"

    @classmethod
    def from_keys(cls, keys: list[str], *, source: str = KEYS_VARIABLE) -> Keyring:
        """The keyring of ``keys``; ``source`` names where they come from in error messages
        (the variable, or the development key file), which never show a key."""
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, TypeError) as exc:
                which = f"key {position} of {source}" if len(keys) > 1 else source
                raise ConfigError(f"{which} is not a valid Fernet key: {FERNET_KEY_HINT}") from exc
        if not fernets:
            raise ConfigError(f"{source} holds no key: {FERNET_KEY_HINT}")
        raw = [base64.urlsafe_b64decode(key.strip().encode()) for key in keys]
        sealers = tuple(
            AESGCM(HKDF(SHA256(), 32, salt=None, info=_SEAL_INFO).derive(key)) for key in raw
        )
        digest_keys = tuple(
            HKDF(SHA256(), 32, salt=None, info=_DIGEST_INFO).derive(key) for key in raw
        )
        return cls(MultiFernet(fernets), len(fernets), raw[0], sealers, digest_keys)

    def derive_key(self, label: str, length: int = 32) -> bytes:
        """A key for another purpose (the console's session cookie), derived by HKDF-SHA256
        from the first key with ``label`` as its info, so that it changes when the keys are
        rotated and never equals, nor reveals, the key that encrypts the stored secrets."""
        if not self._first_key:
            raise ConfigError("this keyring holds no key to derive from")
        return HKDF(SHA256(), length, salt=None, info=label.encode()).derive(self._first_key)

    def digest(self, value: str, *, purpose: str) -> str:
        """The lookup digest of ``value`` under the first key: 64 hex characters of
        HMAC-SHA256 over ``purpose``, a NUL and the value's UTF-8 (``purpose`` keeps the digests
        of different kinds of value apart: ``stream_token``)."""
        return self.digests(value, purpose=purpose)[0]

    def digests(self, value: str, *, purpose: str) -> tuple[str, ...]:
        """:meth:`digest` under every key, the first key's first: what a look-up searches for,
        so that a value stored before the keys were rotated is still found."""
        if not self._digest_keys:
            raise ConfigError("this keyring holds no key to derive from")
        message = purpose.encode() + b"\0" + value.encode("utf-8", "surrogatepass")
        return tuple(
            hmac.new(key, message, hashlib.sha256).hexdigest() for key in self._digest_keys
        )

    def seal(self, value: str, *, label: str, register: bool = True) -> str:
        """Encrypt ``value`` bound to ``label`` (where it is stored: ``account:3:api_token``);
        ``register`` tells the log scrubber about it (secrets, not URLs)."""
        if register:
            _register(value)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._sealers[0].encrypt(nonce, value.encode(), label.encode())
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()

    def seal_url(self, url: str, label: str) -> str:
        """:meth:`seal` for an attachment URL: not a secret the log scrubber must learn."""
        return self.seal(url, label=label, register=False)

    def unseal(self, token: str, *, label: str, what: str, register: bool = True) -> str:
        """The value :meth:`seal` bound to ``label``; ``what`` names it in errors. A value
        sealed for another label, or with a key no longer configured, or not sealed at all
        (written before secrets were bound: ``transcriber migrate`` re-seals them) raises
        :class:`SecretError`."""
        if not is_sealed(token):
            raise SecretError(
                f"{what} is stored in the old, unbound format: run `transcriber migrate` "
                "(it re-seals every stored secret)"
            )
        try:
            blob = base64.urlsafe_b64decode(token[len(SEALED) :].encode())
        except (ValueError, TypeError):
            blob = b""
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        for sealer in self._sealers:
            try:
                value = sealer.decrypt(nonce, sealed, label.encode()).decode()
            except (InvalidTag, ValueError):
                continue
            if register:
                _register(value)
            return value
        raise SecretError(
            f"{what} cannot be decrypted: no key in TRANSCRIBER_ENCRYPTION_KEYS opens it for "
            "this account and field (was a key removed before `transcriber keys rotate` ran, "
            "or was the value copied from another row?)"
        )

    def reseal(self, token: str, *, label: str, what: str) -> str:
        """``token`` sealed again with the first key (``keys rotate``); an old unbound Fernet
        token is sealed to ``label`` (``migrate``)."""
        if is_sealed(token):
            value = self.unseal(token, label=label, what=what, register=False)
        else:
            value = self._open_unbound(token, what=what)
        return self.seal(value, label=label, register=False)

    def _open_unbound(self, token: str, *, what: str) -> str:
        """A value stored before values were sealed (a plain Fernet token): only to seal it."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError, TypeError) as exc:
            raise SecretError(
                f"{what} cannot be decrypted with any key in TRANSCRIBER_ENCRYPTION_KEYS "
                "(was a key removed before `transcriber keys rotate` ran?)"
            ) from exc


def dev_key_path(settings: Settings) -> Path:
    sqlite = settings.sqlite_path
    if sqlite is not None:
        return sqlite.expanduser().resolve().parent / DEV_KEY_FILENAME
    return Path.cwd() / DEV_KEY_FILENAME


def ensure_dev_key(settings: Settings) -> Path | None:
    """Generate the development key file once, with a warning, when it is wanted and missing
    (``migrate`` and ``up``, which create a database, call this); its path, or None. Production
    never gets one: :func:`load_keyring` refuses to run there without the variable."""
    if settings.encryption_keys is not None or settings.production:
        return None
    path = dev_key_path(settings)
    if path.exists():
        return path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path  # another process made it first
    except OSError as exc:
        raise ConfigError(f"cannot create the development key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")
    log.warning(
        "%s is unset: generated a development key in %s. Set %s in production and keep a copy "
        "of the key.",
        KEYS_VARIABLE,
        path,
        KEYS_VARIABLE,
    )
    return path


def load_keyring(settings: Settings) -> Keyring:
    """The keyring from settings, or from the development key file, which it never creates
    (:func:`ensure_dev_key` does)."""
    if settings.encryption_keys is not None:
        keys = [k for k in settings.encryption_keys.get_secret_value().split(",") if k.strip()]
        return Keyring.from_keys(keys)
    if settings.production:
        raise ConfigError(
            f"{KEYS_VARIABLE} is required when TRANSCRIBER_ENV=production: set it to one or "
            f"more comma-separated keys; {FERNET_KEY_HINT}"
        )
    path = dev_key_path(settings)
    try:
        key_text = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(
            f"{KEYS_VARIABLE} is unset and there is no development key at {path}: set "
            f"{KEYS_VARIABLE}, or run `transcriber migrate` beside this database to create one"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the development key {path}: {exc.strerror}") from exc
    return Keyring.from_keys([key_text], source=f"the development key in {path}")


__all__ = [
    "DIGEST_CHARS",
    "FERNET_KEY_HINT",
    "SEALED",
    "Keyring",
    "account_label",
    "attachment_label",
    "dev_key_path",
    "ensure_dev_key",
    "is_sealed",
    "load_keyring",
]
