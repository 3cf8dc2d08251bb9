"""One process's long-lived parts: settings, database, keyring, broker, actors, clients.

Built once at start (``build_runtime``) in the order the integrations need: logging,
Sentry, then the broker, then the actors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dramatiq
from dramatiq.rate_limits import RateLimiterBackend
from sqlalchemy.engine import Engine

from adapter.secrets import Keyring, load_keyring
from adapter.settings import Settings
from adapter.store import get_engine

if TYPE_CHECKING:
    from adapter.helpdesk.chatwoot import ChatwootClient
    from adapter.jobs.actors import Actors


@dataclass
class Runtime:
    settings: Settings
    db: Engine
    keyring: Keyring
    broker: dramatiq.Broker
    rate_backend: RateLimiterBackend
    actors: Actors
    component: str
    _chatwoot: ChatwootClient | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def chatwoot(self) -> ChatwootClient:
        with self._lock:
            if self._chatwoot is None:
                from adapter.helpdesk.chatwoot import ChatwootClient

                self._chatwoot = ChatwootClient()
            return self._chatwoot

    def close(self) -> None:
        with self._lock:
            if self._chatwoot is not None:
                self._chatwoot.close()
                self._chatwoot = None


_current: Runtime | None = None


def _register_settings_secrets(settings: Settings) -> None:
    """Secrets from the environment are known to the scrubber from the start."""
    from adapter.observability.redact import register_secret

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


def build_runtime(
    settings: Settings,
    *,
    component: str,
    embedded: bool = False,
    broker: tuple[dramatiq.Broker, RateLimiterBackend] | None = None,
    observability: bool = True,
) -> Runtime:
    """Build and install the process-wide runtime."""
    global _current
    if observability:
        from adapter.observability import configure_logging, init_metrics, init_sentry

        configure_logging(settings)
        init_sentry(settings, component=component)  # before the broker: it patches Broker
        init_metrics(settings)
    _register_settings_secrets(settings)
    keyring = load_keyring(settings)
    db = get_engine(settings.database_url)
    if broker is None:
        from adapter.jobs.broker import build_broker

        broker = build_broker(settings, embedded=embedded)
    dramatiq.set_broker(broker[0])
    from adapter.jobs.actors import declare_actors

    actors = declare_actors(broker[0], settings)
    _current = Runtime(
        settings=settings,
        db=db,
        keyring=keyring,
        broker=broker[0],
        rate_backend=broker[1],
        actors=actors,
        component=component,
    )
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the runtime is not built yet: call build_runtime() first")
    return _current


def reset() -> None:
    global _current
    if _current is not None:
        _current.close()
    _current = None


__all__ = ["Runtime", "build_runtime", "current", "reset"]
