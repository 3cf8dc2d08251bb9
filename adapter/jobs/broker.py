"""The Dramatiq broker: Redis when ``TRANSCRIBER_REDIS_URL`` is set, else an in-process one.

``adapter.observability.sentry.init_sentry`` must run before ``build_broker``: Sentry's
Dramatiq integration patches ``Broker.__init__``.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.rate_limits import RateLimiterBackend
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from adapter.errors import ConfigError
from adapter.settings import Settings

QUEUES = ("transcribe", "chunk", "deliver")
NAMESPACE = "dramatiq"


def middleware() -> list[dramatiq.Middleware]:
    """Dramatiq's middleware, less what the service does not use. ``Retries`` only carries out
    the ``dramatiq.Retry(delay=…)`` a step asks for: the delays come from
    ``adapter.jobs.backoff`` and the attempt limit from the ledger."""
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(),
    ]


def build_broker(
    settings: Settings, *, embedded: bool
) -> tuple[dramatiq.Broker, RateLimiterBackend]:
    """The broker and the rate-limiter backend for this process."""
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
        broker: dramatiq.Broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=url, namespace=NAMESPACE, middleware=middleware(), heartbeat_timeout=60_000
        )
        return broker, RedisBackend(url=url)
    if not embedded:
        raise ConfigError(
            "TRANSCRIBER_REDIS_URL is required here; without it only `transcriber up` and "
            "`transcriber demo` run, with an in-process broker"
        )
    stub = StubBroker(middleware=middleware())
    stub.emit_after("process_boot")
    return stub, StubBackend()  # type: ignore[no-untyped-call]


def queue_depth(broker: dramatiq.Broker) -> dict[str, int]:
    """Messages waiting per queue (delayed ones included where the broker can tell)."""
    depths: dict[str, int] = {}
    if isinstance(broker, RedisBroker):
        client = broker.client
        for queue in QUEUES:
            total = 0
            for name in (queue, f"{queue}.DQ"):
                total += int(client.llen(f"{NAMESPACE}:{name}"))
            depths[queue] = total
        return depths
    if isinstance(broker, StubBroker):
        for queue in QUEUES:
            total = 0
            for name in (queue, f"{queue}.DQ"):
                q = broker.queues.get(name)
                if q is not None:
                    total += q.qsize()
            depths[queue] = total
    return depths


def ping(broker: dramatiq.Broker) -> None:
    """Raise if the broker does not answer."""
    if isinstance(broker, RedisBroker):
        broker.client.ping()


__all__ = ["NAMESPACE", "QUEUES", "build_broker", "middleware", "ping", "queue_depth"]
