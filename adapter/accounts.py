"""Helpdesk accounts: validation, create/update/enable/disable, views without secrets.

Shared by the CLI and the admin API so both apply the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from sqlalchemy.engine import Engine
from sqlmodel import select

from adapter.errors import TranscriberError
from adapter.secrets import Keyring
from adapter.settings import Settings
from adapter.store import Account, session_scope, utcnow

_LANG = re.compile(r"^[a-z]{2}$")
MAX_ACCOUNT_ID = 2**53


class AccountError(TranscriberError):
    """Bad account input or a missing/duplicate account (CLI exit 1/2, API 4xx)."""

    reason = "account"

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _check_url(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL")
    if parts.username or parts.password:
        raise ValueError(f"{name} must not carry credentials")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must not have a query or fragment")
    return value


class AccountChanges(BaseModel):
    """Fields an admin may set. ``None`` means "leave as is" on update."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    chatwoot_url: str | None = Field(None, max_length=2048)
    api_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    engine: Literal["openai", "local"] | None = None
    model: str | None = Field(None, min_length=1, max_length=128)
    base_url: str | None = Field(None, max_length=2048)
    language: str | None = None
    remove_silence: bool | None = None
    enabled: bool | None = None
    #: update only: forget the previous webhook secret kept during a rotation
    drop_previous_secret: bool = False
    #: update only: remove the account's own OpenAI key (fall back to the environment)
    clear_openai_api_key: bool = False

    @field_validator("chatwoot_url")
    @classmethod
    def _chatwoot_url(cls, value: str | None) -> str | None:
        return _check_url(value, "chatwoot_url")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return _check_url(value, "base_url")

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.lower()
        if not _LANG.match(value):
            raise ValueError("language must be an ISO 639-1 code such as 'en' or 'es'")
        return value

    @field_validator("api_token", "webhook_secret", "openai_api_key")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.strip() or len(raw) > 4096 or any(ord(c) < 32 for c in raw):
            raise ValueError("must be a non-empty printable string of at most 4096 characters")
        return value


def parse_changes(data: dict[str, Any]) -> AccountChanges:
    """Validate admin input; the error lists the bad fields without echoing values."""
    try:
        return AccountChanges.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise AccountError(f"invalid account: {problems}", status=422) from None


def validate_id(account_id: int) -> int:
    if isinstance(account_id, bool) or not 0 < account_id < MAX_ACCOUNT_ID:
        raise AccountError("account id must be a positive integer", status=422)
    return account_id


def create_account(
    engine: Engine, keyring: Keyring, account_id: int, changes: AccountChanges
) -> Account:
    validate_id(account_id)
    missing = [
        name
        for name in ("chatwoot_url", "api_token", "webhook_secret")
        if getattr(changes, name) is None
    ]
    if missing:
        raise AccountError(f"missing required field(s): {', '.join(missing)}", status=422)
    assert changes.chatwoot_url is not None
    assert changes.api_token is not None
    assert changes.webhook_secret is not None
    with session_scope(engine) as session:
        if session.get(Account, account_id) is not None:
            raise AccountError(f"account {account_id} already exists", status=409)
        account = Account(
            id=account_id,
            chatwoot_url=changes.chatwoot_url,
            api_token_enc=keyring.encrypt(changes.api_token.get_secret_value()),
            webhook_secret_enc=keyring.encrypt(changes.webhook_secret.get_secret_value()),
            openai_api_key_enc=(
                keyring.encrypt(changes.openai_api_key.get_secret_value())
                if changes.openai_api_key
                else None
            ),
            engine=changes.engine,
            model=changes.model,
            base_url=changes.base_url,
            language=changes.language,
            remove_silence=True if changes.remove_silence is None else changes.remove_silence,
            enabled=True if changes.enabled is None else changes.enabled,
        )
        session.add(account)
    return account


def update_account(
    engine: Engine, keyring: Keyring, account_id: int, changes: AccountChanges
) -> Account:
    with session_scope(engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise AccountError(f"account {account_id} not found", status=404)
        for name in (
            "chatwoot_url",
            "engine",
            "model",
            "base_url",
            "language",
            "remove_silence",
            "enabled",
        ):
            value = getattr(changes, name)
            if value is not None:
                setattr(account, name, value)
        if changes.api_token is not None:
            account.api_token_enc = keyring.encrypt(changes.api_token.get_secret_value())
        if changes.webhook_secret is not None:
            # keep the old secret so deliveries signed before the rotation still verify
            account.webhook_secret_previous_enc = account.webhook_secret_enc
            account.webhook_secret_enc = keyring.encrypt(changes.webhook_secret.get_secret_value())
        if changes.drop_previous_secret:
            account.webhook_secret_previous_enc = None
        if changes.clear_openai_api_key:
            account.openai_api_key_enc = None
        if changes.openai_api_key is not None:
            account.openai_api_key_enc = keyring.encrypt(changes.openai_api_key.get_secret_value())
        account.updated_at = utcnow()
        session.add(account)
    return account


def set_enabled(engine: Engine, account_id: int, enabled: bool) -> Account:
    with session_scope(engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise AccountError(f"account {account_id} not found", status=404)
        account.enabled = enabled
        account.updated_at = utcnow()
        session.add(account)
    return account


def get_account(engine: Engine, account_id: int) -> Account | None:
    with session_scope(engine) as session:
        return session.get(Account, account_id)


def list_accounts(engine: Engine) -> list[Account]:
    with session_scope(engine) as session:
        return list(session.exec(select(Account).order_by(Account.id)))  # type: ignore[arg-type]


def delete_account(engine: Engine, account_id: int) -> None:
    """Remove the account and its secrets; its transcriptions stay for the record (any still
    waiting end ``skipped``, "account removed")."""
    with session_scope(engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise AccountError(f"account {account_id} not found", status=404)
        session.delete(account)


@dataclass(frozen=True)
class OpenAIKey:
    value: str | None
    source: Literal["account", "environment", "none"]


def key_source(account: Account, settings: Settings) -> Literal["account", "environment", "none"]:
    if account.openai_api_key_enc:
        return "account"
    if settings.openai_api_key is not None:
        return "environment"
    return "none"


def resolve_openai_key(account: Account, keyring: Keyring, settings: Settings) -> OpenAIKey:
    """The account's own key, else ``OPENAI_API_KEY``, else none."""
    if account.openai_api_key_enc:
        return OpenAIKey(
            keyring.decrypt(
                account.openai_api_key_enc, what=f"account {account.id} openai_api_key"
            ),
            "account",
        )
    if settings.openai_api_key is not None:
        return OpenAIKey(settings.openai_api_key.get_secret_value(), "environment")
    return OpenAIKey(None, "none")


def effective_engine(account: Account, settings: Settings) -> str:
    return account.engine or settings.default_engine


def account_view(account: Account, settings: Settings) -> dict[str, Any]:
    """What the CLI and admin API show: never a secret."""
    return {
        "account_id": account.id,
        "chatwoot_url": account.chatwoot_url,
        "enabled": account.enabled,
        "engine": effective_engine(account, settings),
        "engine_configured": account.engine,
        "model": account.model,
        "base_url": account.base_url,
        "language": account.language,
        "remove_silence": account.remove_silence,
        "key_source": key_source(account, settings),
        "webhook_secrets": 2 if account.webhook_secret_previous_enc else 1,
        "created_at": account.created_at.isoformat(),
        "updated_at": account.updated_at.isoformat(),
    }


def rotate_all(engine: Engine, keyring: Keyring) -> int:
    """Re-encrypt every stored secret with the first key. Returns how many values changed."""
    count = 0
    from adapter.store import Transcription

    with session_scope(engine) as session:
        for account in session.exec(select(Account)):
            for field in (
                "api_token_enc",
                "webhook_secret_enc",
                "webhook_secret_previous_enc",
                "openai_api_key_enc",
            ):
                token = getattr(account, field)
                if token:
                    setattr(
                        account,
                        field,
                        keyring.rotate(token, what=f"account {account.id} {field[:-4]}"),
                    )
                    count += 1
            session.add(account)
        for row in session.exec(select(Transcription).where(Transcription.source_url_enc != "")):
            row.source_url_enc = keyring.rotate(
                row.source_url_enc, what=f"transcription {row.id} source_url"
            )
            session.add(row)
            count += 1
    return count


__all__ = [
    "AccountChanges",
    "AccountError",
    "OpenAIKey",
    "account_view",
    "create_account",
    "delete_account",
    "effective_engine",
    "get_account",
    "key_source",
    "list_accounts",
    "parse_changes",
    "resolve_openai_key",
    "rotate_all",
    "set_enabled",
    "update_account",
]
