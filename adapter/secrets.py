"""Encryption of stored secrets with a MultiFernet keyring.

``TRANSCRIBER_ENCRYPTION_KEYS`` holds comma-separated Fernet keys: the first encrypts, all
decrypt, so a new key is put first, ``transcriber keys rotate`` re-encrypts every stored value
and the old key can then be dropped. Outside production, when the variable is unset, a key is
generated once into a file beside the SQLite database (with a warning); production refuses to
start without it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from adapter.errors import ConfigError, SecretError
from adapter.observability.redact import register_secret
from adapter.settings import Settings

log = logging.getLogger(__name__)

DEV_KEY_FILENAME = "transcriber.key"


def _register(value: str) -> None:
    """Tell the log/Sentry scrubber about a secret value seen at run time."""
    register_secret(value)


@dataclass(frozen=True)
class Keyring:
    """Encrypts with the first key, decrypts with any."""

    _fernet: MultiFernet
    key_count: int

    def __repr__(self) -> str:
        return f"Keyring(keys={self.key_count})"

    @classmethod
    def from_keys(cls, keys: list[str]) -> Keyring:
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"TRANSCRIBER_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with "
                    "`python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ) from exc
        if not fernets:
            raise ConfigError("TRANSCRIBER_ENCRYPTION_KEYS holds no key")
        return cls(MultiFernet(fernets), len(fernets))

    def encrypt(self, value: str, *, register: bool = True) -> str:
        """Encrypt ``value``; ``register`` tells the log scrubber about it (secrets, not URLs)."""
        if register:
            _register(value)
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str, *, what: str, register: bool = True) -> str:
        """Decrypt ``token``; ``what`` names the account and field for the error message."""
        try:
            value = self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError, TypeError) as exc:
            raise SecretError(
                f"{what} cannot be decrypted with any key in TRANSCRIBER_ENCRYPTION_KEYS "
                "(was a key removed before `transcriber keys rotate` ran?)"
            ) from exc
        if register:
            _register(value)
        return value

    def rotate(self, token: str, *, what: str) -> str:
        """Re-encrypt ``token`` with the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except (InvalidToken, ValueError, TypeError) as exc:
            raise SecretError(f"{what} cannot be decrypted with any configured key") from exc


def dev_key_path(settings: Settings) -> Path:
    sqlite = settings.sqlite_path
    if sqlite is not None:
        return sqlite.expanduser().resolve().parent / DEV_KEY_FILENAME
    return Path.cwd() / DEV_KEY_FILENAME


def load_keyring(settings: Settings) -> Keyring:
    """The keyring from settings, or the development key file (created once)."""
    if settings.encryption_keys is not None:
        keys = [k for k in settings.encryption_keys.get_secret_value().split(",") if k.strip()]
        return Keyring.from_keys(keys)
    if settings.production:
        raise ConfigError("TRANSCRIBER_ENCRYPTION_KEYS is required when TRANSCRIBER_ENV=production")
    path = dev_key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key + b"\n")
            log.warning(
                "TRANSCRIBER_ENCRYPTION_KEYS is unset: generated a development key in %s. "
                "Set TRANSCRIBER_ENCRYPTION_KEYS in production and keep a copy of the key.",
                path,
            )
    try:
        key_text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the development key file {path}: {exc.strerror}") from exc
    return Keyring.from_keys([key_text])


__all__ = ["Keyring", "dev_key_path", "load_keyring"]
