"""StatsD metrics: one registry of low-cardinality dotted names, and a client that never raises.

pystatsd has no tags, so everything that varies lives in the name, and only from a
small closed set (a rejection reason, an engine, a state). An account id, a
transcription id or a URL in a name would create one time series per value: the
:class:`Metric` registry below is the only source of names. Each member is one name
the service sends, with its type (:class:`MetricKind`) and a one-line description;
``docs/metrics.md`` is rendered from it (a test keeps the two equal). Callers pass a
member; where the name depends on a value they look the member up with a helper
(:meth:`Metric.rejected`, :meth:`Metric.for_state`, :meth:`Metric.engine_latency`…),
which raises :class:`MetricNameError` for a value outside the set.

A name outside the registry, or sent as the wrong type, is rejected: in strict mode
with :class:`MetricNameError`, otherwise the sample is dropped and a warning logged
once per name. Strict mode is on outside production, so tests catch a leak before it
ships.

Sending never raises into callers otherwise: without ``STATSD_HOST`` the client is a
no-op, an unresolvable host drops samples (with one warning) and is retried every
30 s, and UDP send errors are swallowed.

Usage::

    from adapter.observability import Metric, metrics

    metrics.incr(Metric.WEBHOOK_RECEIVED)
    metrics.incr(Metric.rejected("signature"))
    metrics.timing(Metric.engine_latency("openai"), elapsed_ms)
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from adapter.settings import Settings

log = logging.getLogger(__name__)


class MetricNameError(ValueError):
    """A metric name outside the registry, or sent as the wrong type."""


class MetricKind(StrEnum):
    """How a metric is sent: StatsD's ``|c``, ``|ms`` or ``|g``."""

    COUNTER = "counter"
    TIMER = "timer"
    GAUGE = "gauge"


_COUNTER, _TIMER, _GAUGE = MetricKind.COUNTER, MetricKind.TIMER, MetricKind.GAUGE


class Metric(StrEnum):
    """Every metric name the service sends: ``Metric.X`` is the name, a ``str``.

    ``kind`` is the one type it may be sent as, ``description`` what it counts (the
    ``docs/metrics.md`` tables are rendered from both).
    """

    kind: MetricKind
    description: str

    def __new__(cls, name: str, kind: MetricKind, description: str) -> Metric:
        member = str.__new__(cls, name)
        member._value_ = name
        member.kind = kind
        member.description = description
        return member

    # --- webhook receiver
    WEBHOOK_RECEIVED = (
        "webhook.received",
        _COUNTER,
        "a POST reached `/webhooks/chatwoot/{account_id}` (before any check)",
    )
    WEBHOOK_ACCEPTED = (
        "webhook.accepted",
        _COUNTER,
        "authenticated, well-formed, at least one transcription queued (`202 accepted`)",
    )
    WEBHOOK_DUPLICATE = (
        "webhook.duplicate",
        _COUNTER,
        "a delivery or attachment already seen (`202 duplicate`)",
    )
    WEBHOOK_IGNORED = (
        "webhook.ignored",
        _COUNTER,
        "authenticated and well-formed, nothing to transcribe (`202 ignored`)",
    )
    WEBHOOK_REJECTED_SIGNATURE = (
        "webhook.rejected.signature",
        _COUNTER,
        "`401`: missing or wrong `X-Chatwoot-Signature`",
    )
    WEBHOOK_REJECTED_STALE = (
        "webhook.rejected.stale",
        _COUNTER,
        "`401`: timestamp outside ±300 s",
    )
    WEBHOOK_REJECTED_UNKNOWN_ACCOUNT = (
        "webhook.rejected.unknown_account",
        _COUNTER,
        "`404`: unknown or disabled account",
    )
    WEBHOOK_REJECTED_TOO_LARGE = (
        "webhook.rejected.too_large",
        _COUNTER,
        "`413`: body over `TRANSCRIBER_MAX_WEBHOOK_BYTES`",
    )
    WEBHOOK_REJECTED_BAD_JSON = (
        "webhook.rejected.bad_json",
        _COUNTER,
        "`400`: body is not a JSON object",
    )
    WEBHOOK_REJECTED_DB_UNAVAILABLE = (
        "webhook.rejected.db_unavailable",
        _COUNTER,
        "`503`: the database (or a stored secret) could not be used",
    )
    # --- transcriptions
    TRANSCRIPTION_QUEUED = (
        "transcription.queued",
        _COUNTER,
        "a transcription row was created and sent to the `transcribe` queue",
    )
    TRANSCRIPTION_TRANSCRIBED = (
        "transcription.transcribed",
        _COUNTER,
        "an engine returned text (state `transcribed`)",
    )
    TRANSCRIPTION_DELIVERED = (
        "transcription.delivered",
        _COUNTER,
        "the private note was posted (state `delivered`)",
    )
    TRANSCRIPTION_FAILED = (
        "transcription.failed",
        _COUNTER,
        "a transcription ended in `failed` (permanent error or attempts exhausted)",
    )
    TRANSCRIPTION_SKIPPED = (
        "transcription.skipped",
        _COUNTER,
        "a transcription ended in `skipped` (too large, disabled, no key, not audio)",
    )
    TRANSCRIPTION_RETRIED = (
        "transcription.retried",
        _COUNTER,
        "a transient error scheduled another attempt",
    )
    TRANSCRIPTIONS_STATE_QUEUED = (
        "transcriptions.state.queued",
        _GAUGE,
        "rows waiting for a worker (from the periodic count)",
    )
    TRANSCRIPTIONS_STATE_TRANSCRIBING = (
        "transcriptions.state.transcribing",
        _GAUGE,
        "rows a worker holds a lease on (from the periodic count)",
    )
    TRANSCRIPTIONS_STATE_TRANSCRIBED = (
        "transcriptions.state.transcribed",
        _GAUGE,
        "rows with text, note not yet posted (from the periodic count)",
    )
    TRANSCRIPTIONS_STATE_DELIVERED = (
        "transcriptions.state.delivered",
        _GAUGE,
        "rows whose note was posted (from the periodic count)",
    )
    TRANSCRIPTIONS_STATE_FAILED = (
        "transcriptions.state.failed",
        _GAUGE,
        "rows that ended in `failed` (from the periodic count)",
    )
    TRANSCRIPTIONS_STATE_SKIPPED = (
        "transcriptions.state.skipped",
        _GAUGE,
        "rows that ended in `skipped` (from the periodic count)",
    )
    QUEUE_DEPTH_TRANSCRIBE = (
        "queue.depth.transcribe",
        _GAUGE,
        "messages waiting on the `transcribe` queue",
    )
    QUEUE_DEPTH_CHUNK = (
        "queue.depth.chunk",
        _GAUGE,
        "chunks of long recordings waiting on the `chunk` queue",
    )
    QUEUE_DEPTH_DELIVER = (
        "queue.depth.deliver",
        _GAUGE,
        "messages waiting on the `deliver` queue",
    )
    DELIVERY_LATENCY = (
        "delivery.latency",
        _TIMER,
        "webhook received → note posted, in ms (includes queueing, download, transcription"
        " and retries)",
    )
    # --- engines and audio
    ENGINE_OPENAI_LATENCY = (
        "engine.openai.latency",
        _TIMER,
        "one call to the OpenAI transcription API, in ms",
    )
    ENGINE_LOCAL_LATENCY = (
        "engine.local.latency",
        _TIMER,
        "one local (faster-whisper) transcription, in ms",
    )
    ENGINE_OPENAI_ERRORS_TRANSIENT = (
        "engine.openai.errors.transient",
        _COUNTER,
        "429, 5xx, timeouts, connection errors (retried)",
    )
    ENGINE_OPENAI_ERRORS_PERMANENT = (
        "engine.openai.errors.permanent",
        _COUNTER,
        "400/401/403/404/413, insufficient quota (not retried)",
    )
    ENGINE_LOCAL_ERRORS_TRANSIENT = (
        "engine.local.errors.transient",
        _COUNTER,
        "local engine errors worth retrying",
    )
    ENGINE_LOCAL_ERRORS_PERMANENT = (
        "engine.local.errors.permanent",
        _COUNTER,
        "local engine errors that retrying cannot fix (bad audio, missing weights)",
    )
    AUDIO_SECONDS = (
        "audio.seconds",
        _COUNTER,
        "seconds of audio transcribed (incremented by whole seconds)",
    )
    AUDIO_BILLED_SECONDS = (
        "audio.billed_seconds",
        _COUNTER,
        "seconds sent to a paid engine (what the bill counts)",
    )
    AUDIO_UPLOAD_BYTES = (
        "audio.upload_bytes",
        _COUNTER,
        "bytes uploaded to the engine",
    )
    # --- helpdesk write-back
    HELPDESK_ERRORS_TRANSIENT = (
        "helpdesk.errors.transient",
        _COUNTER,
        "429, 5xx, timeouts, connection errors posting the note (retried)",
    )
    HELPDESK_ERRORS_PERMANENT = (
        "helpdesk.errors.permanent",
        _COUNTER,
        "401/403/404/422 from Chatwoot (the transcription is marked failed)",
    )
    # --- reconciler and backfill
    RECONCILE_FOUND = (
        "reconcile.found",
        _COUNTER,
        "voice notes the reconciler found and queued: each is a webhook that never arrived "
        "(alert on it)",
    )
    RECONCILE_SCANS = (
        "reconcile.scans",
        _COUNTER,
        "account scans the reconciler ended (completed or not)",
    )
    RECONCILE_FAILED = (
        "reconcile.failed",
        _COUNTER,
        "account scans that stopped early: token rejected, Chatwoot unavailable after retries",
    )
    BACKFILL_QUEUED = (
        "backfill.queued",
        _COUNTER,
        "voice notes `transcriber backfill` queued",
    )
    # --- budgets
    BUDGET_ALERT = (
        "budget.alert",
        _COUNTER,
        "an account's month crossed 80 % or 100 % of its budget (once per account, month and "
        "threshold; alert on it)",
    )
    BUDGET_REFUSED = (
        "budget.refused",
        _COUNTER,
        "transcriptions skipped because they did not fit in the account's monthly budget",
    )

    # --- the chat model (summaries, translations)
    CHAT_CALLS = (
        "chat.calls",
        _COUNTER,
        "summaries and translations the chat model wrote",
    )
    CHAT_ERRORS = (
        "chat.errors",
        _COUNTER,
        "summaries or translations that failed (the note went out without them)",
    )
    CHAT_TOKENS = (
        "chat.tokens",
        _COUNTER,
        "tokens the chat model was paid for, input and output",
    )
    CHAT_LATENCY = (
        "chat.latency",
        _TIMER,
        "ms one summary or translation took",
    )

    # --- live transcription (WS /v1/realtime)
    STREAM_OPENED = (
        "stream.opened",
        _COUNTER,
        "live transcription streams accepted",
    )
    STREAM_REFUSED = (
        "stream.refused",
        _COUNTER,
        "live streams refused before the upgrade: no or wrong token (401), an account's streams "
        "all open (429), the token check failing (503)",
    )
    STREAM_UTTERANCES = (
        "stream.utterances",
        _COUNTER,
        "live utterances transcribed (their `completed` events)",
    )
    STREAM_FINAL_LATENCY = (
        "stream.final_latency",
        _TIMER,
        "ms one live utterance's final transcription took, from committed to transcript",
    )

    # --- look-ups for names that depend on a value

    @classmethod
    def rejected(cls, reason: str) -> Metric:
        """``webhook.rejected.<reason>``."""
        return check_name(f"webhook.rejected.{reason}")

    @classmethod
    def for_state(cls, state: str) -> Metric:
        """``transcriptions.state.<state>`` (a ``State`` member is a ``str``)."""
        return check_name(f"transcriptions.state.{state}")

    @classmethod
    def queue_depth(cls, queue: str) -> Metric:
        """``queue.depth.<queue>``."""
        return check_name(f"queue.depth.{queue}")

    @classmethod
    def engine_latency(cls, engine: str) -> Metric:
        """``engine.<engine>.latency``."""
        return check_name(f"engine.{engine}.latency")

    @classmethod
    def engine_errors(cls, engine: str, *, permanent: bool) -> Metric:
        """``engine.<engine>.errors.permanent``, or ``….transient``."""
        return check_name(f"engine.{engine}.errors.{'permanent' if permanent else 'transient'}")


_BY_NAME: dict[str, Metric] = {str(metric): metric for metric in Metric}


def check_name(name: str, kind: MetricKind | None = None) -> Metric:
    """The :class:`Metric` called ``name``; :class:`MetricNameError` if there is none.

    With ``kind``, also :class:`MetricNameError` when the metric is of another type.
    """
    metric = _BY_NAME.get(name) if isinstance(name, str) else None
    if metric is None:
        raise MetricNameError(f"metric name {name!r} is not in the registry")
    if kind is not None and metric.kind != kind:
        raise MetricNameError(f"metric {name!r} is a {metric.kind}, not a {kind}")
    return metric


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
    """Validated, never-raising access to one StatsD client.

    ``name`` is a :class:`Metric`; a plain ``str`` is looked up in the registry.
    """

    def __init__(self, client: _Client | None = None, *, strict: bool = True) -> None:
        self._client: _Client = client if client is not None else _NullClient()
        self.strict = strict
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return not isinstance(self._client, _NullClient)

    def _allowed(self, name: Metric | str, kind: MetricKind) -> bool:
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

    def incr(self, name: Metric | str, n: int = 1) -> None:
        if self._allowed(name, MetricKind.COUNTER):
            try:
                self._client.incr(str(name), int(n))
            except Exception:  # a metric must never break the caller
                log.debug("statsd send failed", exc_info=True)

    def timing(self, name: Metric | str, ms: float) -> None:
        if self._allowed(name, MetricKind.TIMER):
            try:
                self._client.timing(str(name), float(ms))
            except Exception:
                log.debug("statsd send failed", exc_info=True)

    def gauge(self, name: Metric | str, value: float) -> None:
        if self._allowed(name, MetricKind.GAUGE):
            try:
                self._client.gauge(str(name), value)
            except Exception:
                log.debug("statsd send failed", exc_info=True)

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


def incr(name: Metric | str, n: int = 1) -> None:
    _metrics.incr(name, n)


def timing(name: Metric | str, ms: float) -> None:
    _metrics.timing(name, ms)


def gauge(name: Metric | str, value: float) -> None:
    _metrics.gauge(name, value)


__all__ = [
    "Metric",
    "MetricKind",
    "MetricNameError",
    "Metrics",
    "check_name",
    "gauge",
    "incr",
    "init_metrics",
    "shutdown_metrics",
    "timing",
]
