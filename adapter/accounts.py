"""Helpdesk accounts: validation, create/update/enable/disable, views without secrets.

Shared by the CLI and the admin API so both apply the same rules.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, get_args, overload
from urllib.parse import urlsplit

import phonenumbers
from openai.types import AudioModel
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from adapter.chat import DEFAULT_CHAT_MODEL
from adapter.controls import Controls, controls_of, parse_languages
from adapter.engines.base import Engine
from adapter.engines.factory import build_engine
from adapter.engines.openai_engine import DEFAULT_BASE_URL as OPENAI_BASE_URL
from adapter.engines.weights import MODEL_NAMES as LOCAL_MODELS
from adapter.errors import NoKey, Reason, TranscriberError
from adapter.extras import NO_CHAT_MODEL, Extras, parse_speakers
from adapter.helpdesk import host_refusal
from adapter.redaction import KINDS as REDACT_KINDS
from adapter.redaction import parse_kinds
from adapter.secrets import Keyring, account_label, is_sealed
from adapter.settings import Settings
from adapter.speakers import DEFAULT_LABELS, parse_labels
from adapter.store import (
    Account,
    AccountExists,
    AccountMissing,
    AccountStore,
    Ledger,
    StreamTokenTaken,
)

log = logging.getLogger(__name__)

_LANG = re.compile(r"^[a-z]{2}$")
MAX_ACCOUNT_ID = 2**53
#: inboxes one account may name in ``inboxes`` or ``inbox_languages``
MAX_INBOXES = 1000
#: the longest secret an account stores
MAX_SECRET_CHARS = 4096
#: the shortest stream token taken: it is a bearer credential on the public port (24 random
#: characters of base64 are 144 bits)
MIN_STREAM_TOKEN_CHARS = 24
#: what a stream token's lookup digest is for (``Keyring.digest``)
STREAM_TOKEN_PURPOSE = "stream_token"  # noqa: S105 (a label, not a secret)


class AccountError(TranscriberError):
    """Bad account input or a missing/duplicate account (CLI exit 1/2, API 4xx)."""

    reason = Reason.config

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
    try:
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError:
        raise ValueError(f"{name} has a port that is not a number from 0 to 65535") from None
    if parts.username or parts.password:
        raise ValueError(f"{name} must not carry credentials")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must not have a query or fragment")
    # judged as written, without DNS (a name that resolves to such an address is caught only
    # where the downloader connects); the same rules as the downloader's "always refused"
    refused = host_refusal(parts.hostname)
    if refused is not None:
        raise ValueError(
            f"{name} must not point to {refused}: the account's tokens or keys would be sent "
            "there (cloud metadata, link-local, multicast, 0.0.0.0 and :: are refused)"
        )
    return value


class AccountChanges(BaseModel):
    """Fields an admin may set. ``None`` means "leave as is" on update."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    chatwoot_url: str | None = Field(None, max_length=2048)
    api_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    #: a Chatwoot user access token, only to read (reconciler, backfill)
    user_token: SecretStr | None = None
    #: the bearer token of live transcription (``WS /v1/realtime``): it alone picks the account
    stream_token: SecretStr | None = None
    engine: Literal["openai", "local"] | None = None
    model: str | None = Field(None, min_length=1, max_length=128)
    base_url: str | None = Field(None, max_length=2048)
    language: str | None = None
    remove_silence: bool | None = None
    #: post a short private note when a voice note cannot be transcribed (create: on)
    failure_notes: bool | None = None
    #: USD a calendar month (UTC) the engine may cost; 0: no budget
    monthly_budget_usd: float | None = Field(None, ge=0, le=1_000_000_000, allow_inf_nan=False)
    #: only these inboxes' audio (``"all"``: every inbox)
    inboxes: list[int] | Literal["all"] | None = None
    #: shorter audio is skipped (reason ``too_short``); 0: no minimum
    min_seconds: float | None = Field(None, ge=0, le=86_400, allow_inf_nan=False)
    #: ``auto``, or ``on_demand``: only conversations labelled ``transcribe``
    mode: Literal["auto", "on_demand"] | None = None
    #: a language hint per inbox, merged into the stored ones (null or "": remove it)
    inbox_languages: dict[int, str | None] | None = None
    #: the extras (``adapter.extras``); on the text options ``""`` or ``"off"`` clears it
    summary_min_seconds: float | None = Field(None, ge=0, le=86_400, allow_inf_nan=False)
    chat_model: str | None = Field(None, max_length=128)
    chat_base_url: str | None = Field(None, max_length=2048)
    translate_to: str | None = None
    redact: str | None = Field(None, max_length=64)
    phone_region: str | None = None
    speakers: str | None = Field(None, max_length=128)
    enabled: bool | None = None
    #: update only: forget the previous webhook secret kept during a rotation
    drop_previous_secret: bool = False
    #: update only: remove the account's own OpenAI key (fall back to the environment)
    clear_openai_api_key: bool = False
    #: update only: remove the user token (the account is no longer reconciled)
    clear_user_token: bool = False
    #: update only: remove the stream token (the account's streams are refused)
    clear_stream_token: bool = False

    @field_validator("chatwoot_url")
    @classmethod
    def _chatwoot_url(cls, value: str | None) -> str | None:
        checked = _check_url(value, "chatwoot_url")
        path = urlsplit(checked).path if checked else ""
        if "/app/" in f"{path}/" or "/api/" in f"{path}/":
            # a dashboard page or an API address pasted from the browser: every call would 404
            raise ValueError(
                "chatwoot_url must be Chatwoot's base address, such as https://chat.example.com, "
                f"not a page or API path ({path})"
            )
        return checked

    @field_validator("monthly_budget_usd", mode="before")
    @classmethod
    def _amount(cls, value: object) -> object:
        if isinstance(value, bool):  # JSON true is not one dollar
            raise ValueError("must be an amount of USD, 0 for no budget")
        return value

    @field_validator("inboxes")
    @classmethod
    def _inboxes(cls, value: list[int] | str | None) -> list[int] | str | None:
        if isinstance(value, list):
            if not value or len(value) > MAX_INBOXES:
                raise ValueError(f"must list 1 to {MAX_INBOXES} inbox ids, or be 'all'")
            if any(isinstance(i, bool) or not 0 < i < MAX_ACCOUNT_ID for i in value):
                raise ValueError("inbox ids must be positive integers")
            return sorted(set(value))
        return value

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        return value.strip().lower().replace("-", "_") if isinstance(value, str) else value

    @field_validator("inbox_languages")
    @classmethod
    def _inbox_languages(cls, value: dict[int, str | None] | None) -> dict[int, str | None] | None:
        if value is None:
            return None
        if len(value) > MAX_INBOXES:
            raise ValueError(f"at most {MAX_INBOXES} inboxes")
        checked: dict[int, str | None] = {}
        for inbox, language in value.items():
            if not 0 < inbox < MAX_ACCOUNT_ID:
                raise ValueError("inbox ids must be positive integers")
            code = (language or "").strip().lower()
            if code and not _LANG.match(code):
                raise ValueError("each language must be an ISO 639-1 code such as 'es'")
            checked[inbox] = code or None
        return checked

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return _check_url(value, "base_url")

    @field_validator("chat_base_url")
    @classmethod
    def _chat_base_url(cls, value: str | None) -> str | None:
        return _cleared(value) if _off(value) else _check_url(value, "chat_base_url")

    @field_validator("chat_model")
    @classmethod
    def _chat_model(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in ("off", "none"):
            return NO_CHAT_MODEL  # no summaries; translation into English by the engine
        if value is not None and any(ord(c) < 32 for c in value):
            raise ValueError("must be a model name such as gpt-4o-mini, or 'off'")
        return value

    @field_validator("translate_to")
    @classmethod
    def _translate_to(cls, value: str | None) -> str | None:
        if _off(value):
            return _cleared(value)
        code = (value or "").lower()
        if not _LANG.match(code):
            raise ValueError("must be an ISO 639-1 code such as 'en' or 'es', or 'off'")
        return code

    @field_validator("redact")
    @classmethod
    def _redact(cls, value: str | None) -> str | None:
        if _off(value):
            return _cleared(value)
        try:
            kinds = parse_kinds(value or "")
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if not kinds:
            raise ValueError(f"must name kinds among {', '.join(sorted(REDACT_KINDS))}, or 'off'")
        return ",".join(sorted(kinds))

    @field_validator("phone_region")
    @classmethod
    def _phone_region(cls, value: str | None) -> str | None:
        if _off(value):
            return _cleared(value)
        region = (value or "").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter region code such as US, GB or ES, or 'off'")
        return region

    @field_validator("speakers")
    @classmethod
    def _speakers(cls, value: str | None) -> str | None:
        if _off(value):
            return _cleared(value)
        if (value or "").lower() == "on":
            return ",".join(DEFAULT_LABELS)
        try:
            return ",".join(parse_labels(value or ""))
        except ValueError as exc:
            raise ValueError(f"{exc}; or 'on' for {', '.join(DEFAULT_LABELS)}, or 'off'") from None

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.lower()
        if not _LANG.match(value):
            raise ValueError("language must be an ISO 639-1 code such as 'en' or 'es'")
        return value

    @field_validator("api_token", "webhook_secret", "openai_api_key", "user_token", "stream_token")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.strip() or len(raw) > MAX_SECRET_CHARS or any(ord(c) < 32 for c in raw):
            raise ValueError(
                f"must be a non-empty printable string of at most {MAX_SECRET_CHARS} characters"
            )
        return value

    @field_validator("stream_token")
    @classmethod
    def _stream_token(cls, value: SecretStr | None) -> SecretStr | None:
        """A bearer token on the public port, sent in a header or a URL: long, and of the
        characters both carry as they are (never echoed back)."""
        if value is None:
            return None
        if not is_stream_token(value.get_secret_value()):
            raise ValueError(
                f"must be at least {MIN_STREAM_TOKEN_CHARS} characters of visible ASCII without "
                "spaces (letters, digits, punctuation); make one with `openssl rand -base64 32`"
            )
        return value


def is_stream_token(token: str) -> bool:
    """Whether ``token`` is what a stream token may be: visible ASCII (no space), from
    ``MIN_STREAM_TOKEN_CHARS`` to ``MAX_SECRET_CHARS`` characters. Checked before anything else
    is done with a token presented to the WebSocket."""
    return (
        MIN_STREAM_TOKEN_CHARS <= len(token) <= MAX_SECRET_CHARS
        and token.isascii()
        and token.isprintable()
        and " " not in token
    )


def _off(value: str | None) -> bool:
    """An option given as ``""``, ``off`` or ``none``: the account no longer has it."""
    return value is not None and value.strip().lower() in ("", "off", "none")


def _cleared(value: str | None) -> str | None:
    """How a cleared option travels from validation to ``_apply``: ``""`` (None would mean
    "unchanged")."""
    return None if value is None else ""


def parse_changes(data: dict[str, Any], *, label: Callable[[str], str] = str) -> AccountChanges:
    """Validate admin input; the error lists the bad fields without echoing values, each named
    by ``label`` (the CLI names its options: ``--chatwoot-url``)."""
    try:
        return AccountChanges.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "body"
            message = err["msg"].removeprefix("Value error, ").removeprefix(f"{name} ")
            problems.append(f"{label(name)}: {message}")
        raise AccountError(f"invalid account: {'; '.join(problems)}", status=422) from None


def validate_id(account_id: int) -> int:
    if isinstance(account_id, bool) or not 0 < account_id < MAX_ACCOUNT_ID:
        raise AccountError("account id must be a positive integer", status=422)
    return account_id


def _required(changes: AccountChanges) -> tuple[str, SecretStr, SecretStr]:
    missing = [
        name
        for name in ("chatwoot_url", "api_token", "webhook_secret")
        if getattr(changes, name) is None
    ]
    if missing or None in (changes.chatwoot_url, changes.api_token, changes.webhook_secret):
        raise AccountError(f"missing required field(s): {', '.join(missing)}", status=422)
    return changes.chatwoot_url, changes.api_token, changes.webhook_secret  # type: ignore[return-value]


#: the stored column of each account secret, by field (its label names the field)
SECRET_COLUMNS = {
    "api_token": "api_token_enc",
    "webhook_secret": "webhook_secret_enc",
    "openai_api_key": "openai_api_key_enc",
    "user_token": "user_token_enc",
    "stream_token": "stream_token_enc",
}


@overload
def seal_secret(keyring: Keyring, account_id: int, field: str, value: SecretStr) -> str: ...


@overload
def seal_secret(keyring: Keyring, account_id: int, field: str, value: None) -> None: ...


def seal_secret(
    keyring: Keyring, account_id: int, field: str, value: SecretStr | None
) -> str | None:
    """``value`` encrypted for the account's ``field`` only (``adapter.secrets``)."""
    if value is None:
        return None
    return keyring.seal(value.get_secret_value(), label=account_label(account_id, field))


def open_secret(keyring: Keyring, account_id: int, field: str, token: str) -> str:
    """The account secret ``field`` stored as ``token`` (``SecretError`` when it does not
    open: a removed key, or a value copied from another account or field)."""
    return keyring.unseal(
        token, label=account_label(account_id, field), what=f"account {account_id} {field}"
    )


def stream_token_digests(keyring: Keyring, token: str) -> tuple[str, ...]:
    """The lookup digests of a stream token under every configured key, the first key's
    first (``Keyring.digests``)."""
    return keyring.digests(token, purpose=STREAM_TOKEN_PURPOSE)


def _set_stream_token(keyring: Keyring, account: Account, token: SecretStr | None) -> None:
    """Store ``token`` (None: none) as the account's stream token: sealed to its account and
    field, and its lookup digest under the first key."""
    if token is None:
        account.stream_token_enc = account.stream_token_digest = None
        return
    account.stream_token_enc = seal_secret(keyring, account.id, "stream_token", token)
    account.stream_token_digest = stream_token_digests(keyring, token.get_secret_value())[0]


def _stream_token_taken() -> AccountError:
    return AccountError(
        "stream_token: another account has this stream token; each account needs its own "
        "(make one with `openssl rand -base64 32`)",
        status=409,
    )


def _check_stream_token(
    store: AccountStore, keyring: Keyring, account_id: int, changes: AccountChanges
) -> None:
    """Refuse (409) a stream token another account has, found under any configured key (a
    token stored before the keys were rotated too: ``keys rotate`` would collide on it)."""
    if changes.stream_token is None:
        return
    digests = stream_token_digests(keyring, changes.stream_token.get_secret_value())
    if any(other.id != account_id for other in store.by_stream_digests(digests)):
        raise _stream_token_taken()


def create_account(
    store: AccountStore, keyring: Keyring, account_id: int, changes: AccountChanges
) -> Account:
    validate_id(account_id)
    chatwoot_url, api_token, webhook_secret = _required(changes)
    _check_stream_token(store, keyring, account_id, changes)
    seal = partial(seal_secret, keyring, account_id)
    account = Account(
        id=account_id,
        chatwoot_url=chatwoot_url,
        api_token_enc=seal("api_token", api_token),
        webhook_secret_enc=seal("webhook_secret", webhook_secret),
        openai_api_key_enc=seal("openai_api_key", changes.openai_api_key),
        user_token_enc=seal("user_token", changes.user_token),
        engine=changes.engine,
        model=changes.model,
        base_url=changes.base_url,
        language=changes.language,
        remove_silence=True if changes.remove_silence is None else changes.remove_silence,
        failure_notes=True if changes.failure_notes is None else changes.failure_notes,
        monthly_budget_usd=changes.monthly_budget_usd or None,
        min_seconds=changes.min_seconds or 0.0,
        mode=changes.mode or "auto",
        summary_min_seconds=changes.summary_min_seconds or 0.0,
        enabled=True if changes.enabled is None else changes.enabled,
        chat_model=changes.chat_model or None,
        chat_base_url=changes.chat_base_url or None,
        translate_to=changes.translate_to or None,
        redact=changes.redact or None,
        phone_region=changes.phone_region or None,
        speakers=changes.speakers or None,
    )
    _apply_controls(changes, account)
    _set_stream_token(keyring, account, changes.stream_token)
    try:
        return store.add(account)
    except StreamTokenTaken:
        raise _stream_token_taken() from None
    except AccountExists:
        raise AccountError(
            f"account {account_id} already exists: change it with `transcriber accounts update "
            f"{account_id} …`",
            status=409,
        ) from None


_PLAIN_FIELDS = (
    "chatwoot_url",
    "engine",
    "model",
    "base_url",
    "language",
    "remove_silence",
    "failure_notes",
    "monthly_budget_usd",
    "min_seconds",
    "mode",
    "summary_min_seconds",
    "enabled",
)
#: text options of the extras, which ``""`` clears (``_off``)
EXTRA_TEXT_FIELDS = (
    "chat_model",
    "chat_base_url",
    "translate_to",
    "redact",
    "phone_region",
    "speakers",
)
#: every option of what a note holds beyond the transcript (``adapter.extras``)
EXTRA_FIELDS = ("summary_min_seconds", *EXTRA_TEXT_FIELDS)


def _apply(changes: AccountChanges, keyring: Keyring) -> Callable[[Account], None]:
    """The edit ``changes`` make to a stored account (secrets encrypted here)."""

    def edit(account: Account) -> None:
        seal = partial(seal_secret, keyring, account.id)
        for name in _PLAIN_FIELDS:
            value = getattr(changes, name)
            if value is not None:
                setattr(account, name, value)
        for name in EXTRA_TEXT_FIELDS:
            value = getattr(changes, name)
            if value is not None:
                setattr(account, name, value or None)
        if changes.api_token is not None:
            account.api_token_enc = seal("api_token", changes.api_token)
        if changes.webhook_secret is not None:
            # keep the old secret so deliveries signed before the rotation still verify
            account.webhook_secret_previous_enc = account.webhook_secret_enc
            account.webhook_secret_enc = seal("webhook_secret", changes.webhook_secret)
        if changes.drop_previous_secret:
            account.webhook_secret_previous_enc = None
        if changes.clear_openai_api_key:
            account.openai_api_key_enc = None
        if changes.openai_api_key is not None:
            account.openai_api_key_enc = seal("openai_api_key", changes.openai_api_key)
        if changes.clear_user_token:
            account.user_token_enc = None
        if changes.user_token is not None:
            account.user_token_enc = seal("user_token", changes.user_token)
        if changes.clear_stream_token:
            _set_stream_token(keyring, account, None)
        if changes.stream_token is not None:
            _set_stream_token(keyring, account, changes.stream_token)
        _apply_controls(changes, account)

    return edit


def _apply_controls(changes: AccountChanges, account: Account) -> None:
    """The inboxes and the per-inbox languages, as stored (the plain controls are fields)."""
    if changes.inboxes is not None:
        all_inboxes = changes.inboxes == "all"
        account.inbox_ids = None if all_inboxes else ",".join(map(str, changes.inboxes))
    if changes.inbox_languages is not None:
        merged = {**parse_languages(account.inbox_languages)}
        for inbox, language in changes.inbox_languages.items():
            if language is None:
                merged.pop(inbox, None)
            else:
                merged[inbox] = language
        ordered = {str(k): merged[k] for k in sorted(merged)}
        account.inbox_languages = json.dumps(ordered) if ordered else None


def controls(account: Account) -> Controls:
    """What the account asks to be transcribed (``adapter.controls``)."""
    return controls_of(
        account.inbox_ids, account.mode, account.min_seconds, account.inbox_languages
    )


def extras(account: Account) -> Extras:
    """What the account's notes hold beyond the transcript (``adapter.extras``)."""
    return Extras(
        summary_min_seconds=account.summary_min_seconds,
        translate_to=account.translate_to,
        redact=parse_kinds(account.redact or ""),
        phone_region=account.phone_region,
        speakers=parse_speakers(account.speakers),
    )


def _change(store: AccountStore, account_id: int, edit: Callable[[Account], None]) -> Account:
    try:
        return store.change(account_id, edit)
    except AccountMissing:
        raise AccountError(f"account {account_id} not found", status=404) from None
    except StreamTokenTaken:
        raise _stream_token_taken() from None


def update_account(
    store: AccountStore, keyring: Keyring, account_id: int, changes: AccountChanges
) -> Account:
    _check_stream_token(store, keyring, account_id, changes)
    return _change(store, account_id, _apply(changes, keyring))


def set_enabled(store: AccountStore, account_id: int, enabled: bool) -> Account:
    def edit(account: Account) -> None:
        account.enabled = enabled

    return _change(store, account_id, edit)


def delete_account(store: AccountStore, account_id: int) -> None:
    """Remove the account and its secrets; its transcriptions stay for the record (any still
    waiting end ``skipped``, reason ``disabled``)."""
    try:
        store.delete(account_id)
    except AccountMissing:
        raise AccountError(f"account {account_id} not found", status=404) from None


#: OpenAI's own endpoint: the only one whose model names are known here
OPENAI_API_HOST = "api.openai.com"
#: OpenAI's transcription models: the SDK's list and the dated snapshot OpenAI documents, less
#: gpt-4o-transcribe-diarize (it needs a chunking strategy and answers speakers, not a text)
OPENAI_MODELS = tuple(
    sorted(
        {*get_args(AudioModel), "gpt-4o-mini-transcribe-2025-03-20"} - {"gpt-4o-transcribe-diarize"}
    )
)


def model_problem(engine: str, model: str, base_url: str | None) -> str | None:
    """Why ``engine`` cannot have ``model``, or None. The offline engine has the weights the
    ``local`` extra bundles (faster-whisper's other names would need a download, which it never
    makes); OpenAI's own endpoint has its transcription models; a self-hosted OpenAI-compatible
    endpoint (``base_url`` elsewhere) takes any name."""
    if engine == "local" and model not in LOCAL_MODELS:
        return f"the local engine has no model {model!r}; choose one of: {', '.join(LOCAL_MODELS)}"
    host = urlsplit(base_url).hostname if base_url else OPENAI_API_HOST
    if engine == "openai" and host == OPENAI_API_HOST and model not in OPENAI_MODELS:
        return (
            f"OpenAI has no transcription model {model!r}; choose one of: "
            f"{', '.join(OPENAI_MODELS)} (a self-hosted endpoint given with --base-url takes "
            "any name)"
        )
    return None


def check_model(changes: AccountChanges, current: Account | None, settings: Settings) -> None:
    """Refuse (422) a model the account's engine cannot have, judged on the account as it will
    be: ``changes`` over ``current`` (None when adding) over the settings' defaults. Only when
    the engine, model or endpoint change, so an unrelated update of an older account passes."""
    if changes.engine is None and changes.model is None and changes.base_url is None:
        return
    model = changes.model or (current.model if current else None)
    if model is None:
        return
    engine = changes.engine or (current.engine if current else None)
    base_url = changes.base_url or (current.base_url if current else None)
    problem = model_problem(
        engine or settings.default_engine, model, base_url or settings.openai_base_url
    )
    if problem is None:
        return
    if engine is None:
        problem += (
            " (the account names no engine, so it gets the default here, "
            f"{settings.default_engine}: give --engine)"
        )
    raise AccountError(problem, status=422)


def key_warning(account: Account, settings: Settings) -> str | None:
    """The mistake that otherwise passes silently: an ``openai`` account with no key of its own
    and no ``OPENAI_API_KEY`` skips every voice note (reason ``no_key``)."""
    if effective_engine(account, settings) != "openai" or key_source(account, settings) != "none":
        return None
    return (
        f"account {account.id} uses the openai engine but has no OpenAI key (no "
        "--openai-api-key, and no OPENAI_API_KEY here): its voice notes are skipped (no_key); "
        f"give it one with `transcriber accounts update {account.id} --openai-api-key KEY` or "
        "OPENAI_API_KEY in the service's environment, or choose --engine local"
    )


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
            open_secret(keyring, account.id, "openai_api_key", account.openai_api_key_enc),
            "account",
        )
    if settings.openai_api_key is not None:
        return OpenAIKey(settings.openai_api_key.get_secret_value(), "environment")
    return OpenAIKey(None, "none")


def effective_engine(account: Account, settings: Settings) -> str:
    return account.engine or settings.default_engine


@dataclass(frozen=True)
class EngineSettings:
    """Everything needed to build an account's engine (the key is a secret: never logged)."""

    kind: Literal["openai", "local"]
    api_key: str | None = field(repr=False)
    base_url: str | None
    model: str | None
    language: str | None
    model_dir: Path | None

    def engine(self) -> Engine:
        """The engine these settings describe (``ConfigError`` for a model it cannot have)."""
        return build_engine(
            self.kind,
            api_key=self.api_key,
            model=self.model,
            base_url=self.base_url,
            language=self.language,
            model_dir=self.model_dir,
        )


def engine_settings(
    account: Account, keyring: Keyring, settings: Settings, *, inbox_id: int | None = None
) -> EngineSettings:
    """The account's engine, key and endpoint, with the language hint of audio from
    ``inbox_id``; :class:`NoKey` for an openai account without a key of its own or in
    ``OPENAI_API_KEY``."""
    kind: Literal["openai", "local"] = (
        "openai" if effective_engine(account, settings) == "openai" else "local"
    )
    api_key = None
    base_url = account.base_url
    if kind == "openai":
        api_key = resolve_openai_key(account, keyring, settings).value
        if api_key is None:
            raise NoKey("no OpenAI key: set the account's --openai-api-key or OPENAI_API_KEY")
        base_url = base_url or settings.openai_base_url
    language = controls(account).language_for(inbox_id, account.language)
    return EngineSettings(kind, api_key, base_url, account.model, language, settings.model_dir)


@dataclass(frozen=True)
class ChatSettings:
    """The account's chat model and where it is (the key is a secret: never logged)."""

    model: str
    base_url: str
    api_key: str | None = field(repr=False)


def chat_settings(account: Account, keyring: Keyring, settings: Settings) -> ChatSettings | None:
    """The chat model of the account's summaries and translations, or None when it has none.

    ``--chat-model off``: none. ``--chat-base-url`` names the endpoint; without it an
    ``openai`` account uses its engine's endpoint and key, and a ``local`` account has no chat
    model. The account's OpenAI key goes
    only to the origin it belongs to (the engine's endpoint): a self-hosted chat server
    elsewhere (llama.cpp, Ollama, vLLM) is called without it.
    """
    if account.chat_model == NO_CHAT_MODEL:
        return None
    model = account.chat_model or DEFAULT_CHAT_MODEL
    engine_url = account.base_url or settings.openai_base_url or OPENAI_BASE_URL
    if account.chat_base_url is None:
        if effective_engine(account, settings) != "openai":
            return None
        key = resolve_openai_key(account, keyring, settings).value
        return None if key is None else ChatSettings(model, engine_url, key)
    same_origin = _origin(account.chat_base_url) == _origin(engine_url)
    key = resolve_openai_key(account, keyring, settings).value if same_origin else None
    return ChatSettings(model, account.chat_base_url, key)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port)


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
        "failure_notes": account.failure_notes,
        "monthly_budget_usd": account.monthly_budget_usd or None,
        **_controls_view(controls(account)),
        **_extras_view(account),
        "key_source": key_source(account, settings),
        "webhook_secrets": 2 if account.webhook_secret_previous_enc else 1,
        "user_token": account.user_token_enc is not None,
        "stream_token": account.stream_token_enc is not None,
        "created_at": account.created_at.isoformat(),
        "updated_at": account.updated_at.isoformat(),
    }


def _controls_view(wanted: Controls) -> dict[str, Any]:
    return {
        "inboxes": "all" if wanted.inboxes is None else sorted(wanted.inboxes),
        "min_seconds": wanted.min_seconds,
        "mode": wanted.mode,
        "inbox_languages": {str(k): v for k, v in sorted(wanted.inbox_languages.items())},
    }


def _extras_view(account: Account) -> dict[str, Any]:
    wanted = extras(account)
    return {
        "summary_min_seconds": wanted.summary_min_seconds,
        "chat_model": account.chat_model,
        "chat_base_url": account.chat_base_url,
        "translate_to": wanted.translate_to,
        "redact": sorted(wanted.redact),
        "phone_region": wanted.phone_region,
        "speakers": list(wanted.speakers) if wanted.speakers else None,
    }


def seal_unbound(store: AccountStore, ledger: Ledger, keyring: Keyring) -> int:
    """Seal, each to where it is stored, the secrets and attachment URLs written before values
    were bound (the step of ``migrate`` and ``up`` after the schema); how many."""
    count = rotate_all(store, ledger, keyring, unbound_only=True)
    if count:
        log.info("sealed %d stored value(s) to their account and field", count)
    return count


def rotate_all(
    store: AccountStore, ledger: Ledger, keyring: Keyring, *, unbound_only: bool = False
) -> int:
    """Seal every stored secret and attachment URL again with the first key (``keys
    rotate``), and compute each stream token's lookup digest again under it (look-ups try
    every configured key, so tokens work before this runs, and after the old key is dropped
    once it has); with ``unbound_only``, only the values written before values were bound to
    where they are stored (``migrate``). Returns how many values changed."""

    def reseal(token: str, label: str, what: str) -> str:
        if unbound_only and is_sealed(token):
            return token
        return keyring.reseal(token, label=label, what=what)

    def digest(account_id: int, sealed: str) -> str:
        token = open_secret(keyring, account_id, "stream_token", sealed)
        return stream_token_digests(keyring, token)[0]

    accounts = store.rotate_secrets(reseal, digest=None if unbound_only else digest)
    return accounts + ledger.rotate_secrets(reseal, unsealed_only=unbound_only)


__all__ = [
    "EXTRA_FIELDS",
    "EXTRA_TEXT_FIELDS",
    "MIN_STREAM_TOKEN_CHARS",
    "OPENAI_MODELS",
    "STREAM_TOKEN_PURPOSE",
    "AccountChanges",
    "AccountError",
    "ChatSettings",
    "EngineSettings",
    "OpenAIKey",
    "account_view",
    "chat_settings",
    "check_model",
    "controls",
    "create_account",
    "delete_account",
    "effective_engine",
    "engine_settings",
    "extras",
    "is_stream_token",
    "key_source",
    "key_warning",
    "model_problem",
    "open_secret",
    "parse_changes",
    "resolve_openai_key",
    "rotate_all",
    "seal_secret",
    "seal_unbound",
    "set_enabled",
    "stream_token_digests",
    "update_account",
]
