"""The composition root: builds one process's parts once and hands them on.

Order matters: logging, Sentry (its Dramatiq integration patches ``Broker.__init__``), then
the broker, the actors, and the runtime they are bound to. The web app keeps the runtime in
``app.state``; the worker entry (``adapter.jobs.entry``) builds it at process start; the CLI
builds one per command.
"""

from __future__ import annotations

import dramatiq
from dramatiq.rate_limits import RateLimiterBackend

from adapter.helpdesk import storage_origins
from adapter.helpdesk.chatwoot import ChatwootClient
from adapter.jobs.actors import Actors
from adapter.jobs.backoff import Backoff
from adapter.jobs.broker import build_broker
from adapter.jobs.limiter import TTL_MARGIN_SECONDS, AccountLimiter
from adapter.live.parts import build_live
from adapter.observability import configure_logging, init_metrics, init_sentry
from adapter.observability.redact import register_secret
from adapter.runtime import Runtime
from adapter.secrets import load_keyring
from adapter.settings import Settings
from adapter.store import AccountStore, Ledger, ScanStore, UsageStore, get_engine
from adapter.transcribe import ChunkPolicy
from adapter.usage.prices import Prices


def _register_settings_secrets(settings: Settings) -> None:
    """Secrets from the environment are known to the scrubber from the start."""
    for secret in (
        settings.openai_api_key,
        settings.admin_token,
        settings.encryption_keys,
        settings.redis_url,
        settings.sentry_dsn,
    ):
        if secret is not None:
            register_secret(secret.get_secret_value())
            for part in secret.get_secret_value().split(","):
                register_secret(part)


def policies(settings: Settings) -> tuple[Backoff, ChunkPolicy]:
    """The retry and chunking policies the settings ask for."""
    backoff = Backoff(
        base=settings.retry_base_seconds,
        cap=settings.retry_max_seconds,
        max_attempts=settings.max_attempts,
    )
    chunks = ChunkPolicy(
        chunk_seconds=settings.chunk_seconds,
        max_chunk_bytes=settings.max_chunk_bytes,
        timeout_seconds=settings.chunk_timeout_seconds,
        timeout_factor=settings.chunk_timeout_factor,
    )
    return backoff, chunks


def build_runtime(
    settings: Settings,
    *,
    component: str,
    embedded: bool = False,
    broker: tuple[dramatiq.Broker, RateLimiterBackend] | None = None,
    observability: bool = True,
) -> Runtime:
    """Every long-lived part of one process, built once, actors bound to it."""
    if observability:
        configure_logging(settings)
        init_sentry(settings, component=component)  # before the broker: it patches Broker
        init_metrics(settings)
    _register_settings_secrets(settings)
    storage_origins(settings.storage_hosts)  # ConfigError now, not at each download
    keyring = load_keyring(settings)
    db = get_engine(settings.database_url)
    if broker is None:
        broker = build_broker(settings, embedded=embedded)
    dramatiq.set_broker(broker[0])
    actors = Actors(broker[0])
    backoff, chunks = policies(settings)
    runtime = Runtime(
        settings=settings,
        keyring=keyring,
        ledger=Ledger(db, lease_seconds=settings.lease_seconds),
        accounts=AccountStore(db),
        broker=broker[0],
        queue=actors,
        limiter=AccountLimiter(
            broker[1],
            settings.account_concurrency,
            ttl_seconds=chunks.timeout(chunks.chunk_seconds) + TTL_MARGIN_SECONDS,
        ),
        backoff=backoff,
        chunks=chunks,
        chatwoot=ChatwootClient(),
        scans=ScanStore(db, lease_seconds=settings.lease_seconds),
        usage=UsageStore(db),
        prices=Prices.with_overrides(settings.prices, settings.chat_prices),
        live=build_live(settings),
    )
    actors.bind(runtime)
    return runtime


__all__ = ["build_runtime", "policies"]
