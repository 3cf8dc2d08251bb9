"""Configuration: every environment variable of the contract, typed, read once.

Secrets are ``SecretStr`` so that ``repr`` and ``str`` mask them.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adapter import workdir

#: what redis-py accepts in a URL
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # repr=False: a PostgreSQL URL may carry a password
    database_url: str = Field(
        "sqlite:///./transcriber.db", validation_alias="TRANSCRIBER_DATABASE_URL", repr=False
    )
    redis_url: SecretStr | None = Field(None, validation_alias="TRANSCRIBER_REDIS_URL")
    encryption_keys: SecretStr | None = Field(None, validation_alias="TRANSCRIBER_ENCRYPTION_KEYS")
    env: Literal["development", "production", "test"] = Field(
        "development", validation_alias="TRANSCRIBER_ENV"
    )
    admin_token: SecretStr | None = Field(None, validation_alias="TRANSCRIBER_ADMIN_TOKEN")
    default_engine_setting: Literal["openai", "local"] | None = Field(
        None, validation_alias="TRANSCRIBER_DEFAULT_ENGINE"
    )
    max_webhook_bytes: int = Field(
        1_048_576, gt=0, validation_alias="TRANSCRIBER_MAX_WEBHOOK_BYTES"
    )
    max_audio_bytes: int = Field(104_857_600, gt=0, validation_alias="TRANSCRIBER_MAX_AUDIO_BYTES")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    sentry_dsn: SecretStr | None = Field(None, validation_alias="SENTRY_DSN")
    statsd_host: str | None = Field(None, validation_alias="STATSD_HOST")
    statsd_port: int = Field(8125, validation_alias="STATSD_PORT")
    statsd_prefix: str = Field("transcriber", validation_alias="STATSD_PREFIX")
    #: the whole time one attachment's download may take, however slowly the bytes come
    download_deadline_seconds: float = Field(
        300.0, gt=0, validation_alias="TRANSCRIBER_DOWNLOAD_DEADLINE_SECONDS"
    )
    #: storage hosts on a private network the downloader may fetch from besides Chatwoot's own
    #: origin (a MinIO or S3 endpoint that Chatwoot's signed URLs redirect to), as origins
    #: ``http://minio.internal:9000``, comma-separated
    storage_hosts: str | None = Field(None, validation_alias="TRANSCRIBER_STORAGE_HOSTS")
    #: the receiver: how long a client may take to send a request's headers and body, how long
    #: an idle kept-alive connection is kept, how many connections are served at once
    http_request_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("TRANSCRIBER_HTTP_REQUEST_TIMEOUT_SECONDS")
    )
    http_keep_alive_seconds: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("TRANSCRIBER_HTTP_KEEP_ALIVE_SECONDS")
    )
    http_max_connections: int = Field(
        1000, ge=1, validation_alias=AliasChoices("TRANSCRIBER_HTTP_MAX_CONNECTIONS")
    )
    #: audio attachments one message may queue (Chatwoot allows 15 per message)
    max_attachments: int = Field(
        15, ge=1, le=1000, validation_alias=AliasChoices("TRANSCRIBER_MAX_ATTACHMENTS")
    )
    #: the base URL at which Chatwoot reaches this service (``accounts connect``, ``doctor``)
    public_url: str | None = Field(None, validation_alias="TRANSCRIBER_PUBLIC_URL")
    #: USD per audio minute by model, merged over ``adapter.usage.prices.BUILT_IN``
    prices: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict, validation_alias="TRANSCRIBER_PRICES"
    )
    #: USD per million tokens (input, output) by chat model, merged over
    #: ``adapter.usage.prices.CHAT_BUILT_IN``
    chat_prices: Annotated[dict[str, tuple[float, float]], NoDecode] = Field(
        default_factory=dict, validation_alias="TRANSCRIBER_CHAT_PRICES"
    )

    # Not in the contract's table: operational knobs with safe defaults (README: Configuration).
    max_attempts: int = Field(5, ge=1, validation_alias=AliasChoices("TRANSCRIBER_MAX_ATTEMPTS"))
    account_concurrency: int = Field(
        4, ge=1, validation_alias=AliasChoices("TRANSCRIBER_ACCOUNT_CONCURRENCY")
    )
    #: a worker's claim on its work; renewed by a heartbeat every third of it while it works
    lease_seconds: float = Field(
        60.0, ge=2, validation_alias=AliasChoices("TRANSCRIBER_LEASE_SECONDS")
    )
    #: work with no lease (queued, or waiting for a retry) that has not moved for this long
    #: is sent again (its broker message was lost, e.g. a Redis restarted without persistence)
    stuck_after_seconds: int = Field(
        900, ge=2, validation_alias=AliasChoices("TRANSCRIBER_STUCK_AFTER_SECONDS")
    )
    #: delivery retries a Chatwoot outage this many times (about an hour at the default policy)
    delivery_max_attempts: int = Field(
        20, ge=1, validation_alias=AliasChoices("TRANSCRIBER_DELIVERY_MAX_ATTEMPTS")
    )
    #: the reconciler: how often each account is scanned (0: off), how far before the
    #: watermark a scan starts again, and how many Chatwoot API requests a second it makes
    reconcile_interval_seconds: float = Field(
        300.0, ge=0, validation_alias="TRANSCRIBER_RECONCILE_INTERVAL_SECONDS"
    )
    reconcile_overlap_seconds: float = Field(
        300.0, ge=0, validation_alias=AliasChoices("TRANSCRIBER_RECONCILE_OVERLAP_SECONDS")
    )
    chatwoot_requests_per_second: float = Field(
        5.0, ge=0, validation_alias=AliasChoices("TRANSCRIBER_CHATWOOT_REQUESTS_PER_SECOND")
    )
    #: a long recording is cut into chunks of at most this many seconds, for every engine
    chunk_seconds: float = Field(
        300.0, ge=5, validation_alias=AliasChoices("TRANSCRIBER_CHUNK_SECONDS")
    )
    #: and of at most this many bytes once encoded (below the engine's own limit)
    max_chunk_bytes: int | None = Field(
        None, ge=100_000, validation_alias=AliasChoices("TRANSCRIBER_MAX_CHUNK_BYTES")
    )
    #: one chunk's engine call may take this long, plus CHUNK_TIMEOUT_FACTOR times its duration
    chunk_timeout_seconds: float = Field(
        60.0, gt=0, validation_alias=AliasChoices("TRANSCRIBER_CHUNK_TIMEOUT_SECONDS")
    )
    chunk_timeout_factor: float = Field(
        2.0, ge=0, validation_alias=AliasChoices("TRANSCRIBER_CHUNK_TIMEOUT_FACTOR")
    )
    #: the retry policy of every step: exponential from BASE, at most MAX (Retry-After wins)
    retry_base_seconds: float = Field(
        2.0, gt=0, validation_alias=AliasChoices("TRANSCRIBER_RETRY_BASE_SECONDS")
    )
    retry_max_seconds: float = Field(
        300.0, gt=0, validation_alias=AliasChoices("TRANSCRIBER_RETRY_MAX_SECONDS")
    )
    recovery_interval_seconds: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("TRANSCRIBER_RECOVERY_INTERVAL_SECONDS")
    )
    work_dir: Path | None = Field(None, validation_alias=AliasChoices("TRANSCRIBER_WORK_DIR"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias=AliasChoices("TRANSCRIBER_LOG_LEVEL")
    )
    model_dir: Path | None = Field(None, validation_alias=AliasChoices("TRANSCRIBER_MODEL_DIR"))
    #: live transcription (``WS /v1/realtime``): how long one stream may last, how many streams
    #: an account may have open at once (per process), and how many utterances the offline
    #: engine transcribes at once for all streams (unset: half the CPUs, at least one)
    stream_max_seconds: float = Field(
        3600.0, gt=0, validation_alias=AliasChoices("TRANSCRIBER_STREAM_MAX_SECONDS")
    )
    stream_max_per_account: int = Field(
        4, ge=1, validation_alias=AliasChoices("TRANSCRIBER_STREAM_MAX_PER_ACCOUNT")
    )
    stream_decoders: int | None = Field(
        None, ge=1, le=64, validation_alias=AliasChoices("TRANSCRIBER_STREAM_DECODERS")
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "openai_api_key", "admin_token", "encryption_keys", "redis_url", "sentry_dsn", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be an http(s) base URL such as https://transcriber.example.com")
        return value

    @field_validator("prices", mode="before")
    @classmethod
    def _prices_json(cls, value: object) -> object:
        """``{"model": USD per minute, …}``: each price a finite number, 0 or more."""
        value = _json_object(value, 'a JSON object such as {"whisper-1": 0.006}')
        for model, price in value.items():
            if not isinstance(model, str) or not model.strip() or not _price(price):
                raise ValueError(
                    f"the price of {str(model)[:40]!r} must be a number of USD per minute, "
                    "0 or more"
                )
        return value

    @field_validator("chat_prices", mode="before")
    @classmethod
    def _chat_prices_json(cls, value: object) -> object:
        """``{"model": [USD per million input tokens, … output tokens], …}``."""
        value = _json_object(value, 'a JSON object such as {"gpt-4o-mini": [0.15, 0.6]}')
        for model, pair in value.items():
            if (
                not isinstance(model, str)
                or not model.strip()
                or not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not all(_price(p) for p in pair)
            ):
                raise ValueError(
                    f"the prices of {str(model)[:40]!r} must be two numbers of USD per million "
                    "tokens (input, output), 0 or more"
                )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        # checked here, not by redis-py when the broker is built: one line naming the variable
        if value is not None and not value.get_secret_value().startswith(REDIS_SCHEMES):
            raise ValueError(
                f"must start with {', '.join(REDIS_SCHEMES)}, e.g. redis://127.0.0.1:6379/0"
            )
        return value

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def default_engine(self) -> Literal["openai", "local"]:
        if self.default_engine_setting is not None:
            return self.default_engine_setting
        return "openai" if self.openai_api_key is not None else "local"

    @property
    def sqlite_path(self) -> Path | None:
        """Path of the SQLite database file, or None for other databases / in-memory."""
        url = self.database_url
        if not url.startswith("sqlite"):
            return None
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path or path == ":memory:":
            return None
        return Path(path)

    @property
    def temp_dir(self) -> Path:
        """The work directory, TRANSCRIBER_WORK_DIR or ``$TMPDIR/transcriber-UID``, made sure
        of as private to this user, with its ``jobs`` folder (``adapter.workdir``: created
        0700; ConfigError when it is a link, another user's or writable by others)."""
        return workdir.private_dir(self.work_dir or workdir.default_work_dir())


def _json_object(value: object, example: str) -> dict[object, object]:
    """A variable's JSON object (its text parsed; blank: empty), or ``ValueError`` naming
    ``example``."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"must be {example}") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be {example}")
    return value


def _price(value: object) -> bool:
    """A price: a finite number of USD, 0 or more (JSON true is not one)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value >= 0
    )


def _shows_value(alias: str) -> bool:
    """Whether an error may echo the variable's value: never a secret's, nor a URL's that may
    carry a password (the fields that hide their repr)."""
    for field in Settings.model_fields.values():
        choices = field.validation_alias
        names = choices.choices if isinstance(choices, AliasChoices) else [choices]
        if alias in names:
            return field.repr and "SecretStr" not in str(field.annotation)
    return False


def explain(exc: ValidationError) -> str:
    """Settings that failed validation, one clause each: the variable, its value when it is not
    secret, and what it should be (``TRANSCRIBER_ENV='prod': should be 'development', …``)."""
    problems = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else "configuration"
        message = err["msg"].removeprefix("Value error, ").replace("Input should", "should")
        value = err.get("input")
        if isinstance(value, str) and _shows_value(name):
            name = f"{name}={value[:60]!r}"
        problems.append(f"{name}: {message}")
    return "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call ``get_settings.cache_clear()``."""
    return Settings()


__all__ = ["REDIS_SCHEMES", "Settings", "explain", "get_settings"]
