"""StatsD metrics: a fixed catalogue of low-cardinality dotted names.

pystatsd has no tags, so everything that varies lives in the name, and only from a
small closed set (a rejection reason, an engine, a state). An account id, a
transcription id or a URL in a name would create one time series per value: the
catalogue below is the only source of names, and :func:`check_name` rejects
anything else (in strict mode with :class:`MetricNameError`, otherwise the sample
is dropped and a warning logged once per name). Strict mode is on outside
production, so tests catch a leak before it ships.

Sending never raises into callers: without ``STATSD_HOST`` the client is a no-op,
an unresolvable host drops samples (with one warning) and is retried every 30 s,
and UDP send errors are swallowed. ``docs/metrics.md`` describes each metric and
the suggested alerts.

Usage::

    from adapter.observability import metrics

    metrics.incr(metrics.WEBHOOK_RECEIVED)
    metrics.incr(metrics.webhook_rejected("signature"))
    with metrics.timer(metrics.engine_latency("openai")):
        ...
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    from adapter.settings import Settings

log = logging.getLogger(__name__)

RejectReason = Literal[
    "signature", "stale", "unknown_account", "too_large", "bad_json", "db_unavailable"
]
EngineName = Literal["openai", "local"]
ErrorKind = Literal["transient", "permanent"]
QueueName = Literal["transcribe", "deliver"]
State = Literal["queued", "transcribing", "transcribed", "delivered", "failed", "skipped"]

# --- the catalogue ----------------------------------------------------------------------------

WEBHOOK_RECEIVED = "webhook.received"
WEBHOOK_ACCEPTED = "webhook.accepted"
WEBHOOK_DUPLICATE = "webhook.duplicate"
WEBHOOK_IGNORED = "webhook.ignored"
TRANSCRIPTION_QUEUED = "transcription.queued"
TRANSCRIPTION_TRANSCRIBED = "transcription.transcribed"
TRANSCRIPTION_DELIVERED = "transcription.delivered"
TRANSCRIPTION_FAILED = "transcription.failed"
TRANSCRIPTION_SKIPPED = "transcription.skipped"
TRANSCRIPTION_RETRIED = "transcription.retried"
AUDIO_SECONDS = "audio.seconds"
AUDIO_BILLED_SECONDS = "audio.billed_seconds"
AUDIO_UPLOAD_BYTES = "audio.upload_bytes"
DELIVERY_LATENCY = "delivery.latency"


def webhook_rejected(reason: RejectReason) -> str:
    return f"webhook.rejected.{reason}"


def engine_latency(engine: EngineName) -> str:
    return f"engine.{engine}.latency"


def engine_errors(engine: EngineName, kind: ErrorKind) -> str:
    return f"engine.{engine}.errors.{kind}"


def helpdesk_errors(kind: ErrorKind) -> str:
    return f"helpdesk.errors.{kind}"


def queue_depth(queue: QueueName) -> str:
    return f"queue.depth.{queue}"


def state_gauge(state: State) -> str:
    return f"transcriptions.state.{state}"


MetricType = Literal["counter", "timer", "gauge"]


def _build_catalogue() -> dict[str, MetricType]:
    names: dict[str, MetricType] = {
        WEBHOOK_RECEIVED: "counter",
        WEBHOOK_ACCEPTED: "counter",
        WEBHOOK_DUPLICATE: "counter",
        WEBHOOK_IGNORED: "counter",
        TRANSCRIPTION_QUEUED: "counter",
        TRANSCRIPTION_TRANSCRIBED: "counter",
        TRANSCRIPTION_DELIVERED: "counter",
        TRANSCRIPTION_FAILED: "counter",
        TRANSCRIPTION_SKIPPED: "counter",
        TRANSCRIPTION_RETRIED: "counter",
        AUDIO_SECONDS: "counter",
        AUDIO_BILLED_SECONDS: "counter",
        AUDIO_UPLOAD_BYTES: "counter",
        DELIVERY_LATENCY: "timer",
    }
    for reason in get_args(RejectReason):
        names[webhook_rejected(reason)] = "counter"
    for engine in get_args(EngineName):
        names[engine_latency(engine)] = "timer"
        for kind in get_args(ErrorKind):
            names[engine_errors(engine, kind)] = "counter"
    for kind in get_args(ErrorKind):
        names[helpdesk_errors(kind)] = "counter"
    for queue in get_args(QueueName):
        names[queue_depth(queue)] = "gauge"
    for state in get_args(State):
        names[state_gauge(state)] = "gauge"
    return names


#: every allowed name and the one type it may be sent as
CATALOGUE: dict[str, MetricType] = _build_catalogue()

_NAME_SHAPE = re.compile(r"[a-z_]+(?:\.[a-z_]+)*")


class MetricNameError(ValueError):
    """A metric name outside the catalogue, or sent as the wrong type."""


def check_name(name: str, kind: MetricType | None = None) -> None:
    """Raise :class:`MetricNameError` unless ``name`` is in the catalogue (as ``kind``).

    Names carrying a digit, ``@``, ``/``, ``:`` or ``|`` are rejected even if
    someone adds them to the catalogue: they are ids, URLs or protocol injection.
    """
    if not isinstance(name, str) or not _NAME_SHAPE.fullmatch(name):
        raise MetricNameError(f"metric name {name!r} is not a lowercase dotted name")
    expected = CATALOGUE.get(name)
    if expected is None:
        raise MetricNameError(f"metric name {name!r} is not in the catalogue")
    if kind is not None and kind != expected:
        raise MetricNameError(f"metric {name!r} is a {expected}, not a {kind}")


for _name in CATALOGUE:  # the catalogue itself must pass the shape check
    check_name(_name)


# --- the client -------------------------------------------------------------------------------


class _Client(Protocol):
    def incr(self, stat: str, count: int = 1, rate: float = 1) -> None: ...
    def timing(self, stat: str, delta: float, rate: float = 1) -> None: ...
    def gauge(self, stat: str, value: float, rate: float = 1, delta: bool = False) -> None: ...
    def close(self) -> None: ...


class _NullClient:
    def incr(self, stat: str, count: int = 1, rate: float = 1) -> None:
        return None

    def timing(self, stat: str, delta: float, rate: float = 1) -> None:
        return None

    def gauge(self, stat: str, value: float, rate: float = 1, delta: bool = False) -> None:
        return None

    def close(self) -> None:
        return None


class _ResolvingClient:
    """A ``statsd.StatsClient`` built on first use, retried while the host does not resolve.

    A DNS blip at start (a sidecar not up yet) must not silence metrics for the
    life of the process, and must not fail the start either.
    """

    retry_seconds = 30.0

    def __init__(self, host: str, port: int, prefix: str | None) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        self._client: _Client | None = None
        self._next_attempt = 0.0
        self._warned = False
        self._lock = threading.Lock()
        self._connect()

    def _connect(self) -> _Client | None:
        if self._client is not None:
            return self._client
        with self._lock:
            now = time.monotonic()
            if self._client is None and now >= self._next_attempt:
                try:
                    import statsd

                    self._client = statsd.StatsClient(self.host, self.port, prefix=self.prefix)
                except Exception as exc:
                    self._next_attempt = now + self.retry_seconds
                    if not self._warned:
                        self._warned = True
                        log.warning(
                            "metrics: cannot use STATSD_HOST %r (%s); retrying every %d s",
                            self.host,
                            type(exc).__name__,
                            self.retry_seconds,
                        )
            return self._client

    def incr(self, stat: str, count: int = 1, rate: float = 1) -> None:
        client = self._connect()
        if client is not None:
            client.incr(stat, count, rate)

    def timing(self, stat: str, delta: float, rate: float = 1) -> None:
        client = self._connect()
        if client is not None:
            client.timing(stat, delta, rate)

    def gauge(self, stat: str, value: float, rate: float = 1, delta: bool = False) -> None:
        client = self._connect()
        if client is not None:
            client.gauge(stat, value, rate, delta)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._next_attempt = float("inf")
        if client is not None:
            client.close()


class Metrics:
    """Validated, never-raising access to one StatsD client."""

    def __init__(self, client: _Client | None = None, *, strict: bool = True) -> None:
        self._client: _Client = client if client is not None else _NullClient()
        self.strict = strict
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return not isinstance(self._client, _NullClient)

    def _allowed(self, name: str, kind: MetricType) -> bool:
        try:
            check_name(name, kind)
        except MetricNameError as exc:
            if self.strict:
                raise
            with self._lock:
                first = len(self._warned) < 100 and name not in self._warned
                if first:
                    self._warned.add(name)
            if first:
                log.warning("metric dropped: %s", exc)
            return False
        return True

    def incr(self, name: str, n: int = 1) -> None:
        if self._allowed(name, "counter"):
            try:
                self._client.incr(name, int(n))
            except Exception:  # a metric must never break the caller
                log.debug("statsd send failed", exc_info=True)

    def timing(self, name: str, ms: float) -> None:
        if self._allowed(name, "timer"):
            try:
                self._client.timing(name, float(ms))
            except Exception:
                log.debug("statsd send failed", exc_info=True)

    def gauge(self, name: str, value: float) -> None:
        if self._allowed(name, "gauge"):
            try:
                self._client.gauge(name, value)
            except Exception:
                log.debug("statsd send failed", exc_info=True)

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Time the block in milliseconds; recorded also when the block raises."""
        self._allowed(name, "timer")  # raise (strict) before the work, not after
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timing(name, (time.perf_counter() - start) * 1000.0)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            log.debug("statsd close failed", exc_info=True)


_metrics = Metrics()


def init_metrics(settings: Settings, *, strict: bool | None = None) -> Metrics:
    """Configure the process-wide client from ``STATSD_HOST/PORT/PREFIX``.

    No-op client when ``STATSD_HOST`` is unset; a host that does not resolve yet is
    retried every 30 s (samples meanwhile are dropped). ``strict``
    (default: on outside production) makes unknown names raise. Call once per
    process, after :func:`~adapter.observability.configure_logging`.
    """
    global _metrics
    strict = (not settings.production) if strict is None else strict
    client: _Client | None = None
    if settings.statsd_host:
        client = _ResolvingClient(
            settings.statsd_host, settings.statsd_port, settings.statsd_prefix or None
        )
    old, _metrics = _metrics, Metrics(client, strict=strict)
    old.close()
    return _metrics


def shutdown_metrics() -> None:
    """Close the socket and go back to the no-op client (strict)."""
    global _metrics
    old, _metrics = _metrics, Metrics()
    old.close()


def get_metrics() -> Metrics:
    return _metrics


def incr(name: str, n: int = 1) -> None:
    _metrics.incr(name, n)


def timing(name: str, ms: float) -> None:
    _metrics.timing(name, ms)


def gauge(name: str, value: float) -> None:
    _metrics.gauge(name, value)


def timer(name: str) -> AbstractContextManager[None]:
    """Time the block into ``name`` (milliseconds)."""
    return _metrics.timer(name)


__all__ = [
    "AUDIO_BILLED_SECONDS",
    "AUDIO_SECONDS",
    "AUDIO_UPLOAD_BYTES",
    "CATALOGUE",
    "DELIVERY_LATENCY",
    "TRANSCRIPTION_DELIVERED",
    "TRANSCRIPTION_FAILED",
    "TRANSCRIPTION_QUEUED",
    "TRANSCRIPTION_RETRIED",
    "TRANSCRIPTION_SKIPPED",
    "TRANSCRIPTION_TRANSCRIBED",
    "WEBHOOK_ACCEPTED",
    "WEBHOOK_DUPLICATE",
    "WEBHOOK_IGNORED",
    "WEBHOOK_RECEIVED",
    "EngineName",
    "ErrorKind",
    "MetricNameError",
    "MetricType",
    "Metrics",
    "QueueName",
    "RejectReason",
    "State",
    "check_name",
    "engine_errors",
    "engine_latency",
    "gauge",
    "get_metrics",
    "helpdesk_errors",
    "incr",
    "init_metrics",
    "queue_depth",
    "shutdown_metrics",
    "state_gauge",
    "timer",
    "timing",
    "webhook_rejected",
]
