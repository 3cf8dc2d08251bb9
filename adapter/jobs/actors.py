"""The two Dramatiq actors. They take a transcription id and nothing else.

Retries: an actor raises ``dramatiq.Retry(delay=…)`` only for transient errors (with the
server's Retry-After, or exponential backoff from about 2 s with jitter); the attempt count
lives in the database row, which is the source of truth. Every other outcome is final and
recorded on the row.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.rate_limits import ConcurrentRateLimiter

from adapter.settings import Settings

#: how long one message may run before Dramatiq interrupts it (long audio on the local engine)
TRANSCRIBE_TIME_LIMIT_MS = 60 * 60 * 1000
DELIVER_TIME_LIMIT_MS = 5 * 60 * 1000


def _only_requested_retries(retries: int, exc: BaseException) -> bool:
    return isinstance(exc, dramatiq.Retry)


@dataclass(frozen=True)
class Actors:
    transcribe: Any  # dramatiq.Actor[[int], None]
    deliver: Any


def _limiter_key(transcription_id: int) -> str | None:
    from sqlmodel import Session

    from adapter.runtime import current
    from adapter.store import Transcription

    with Session(current().db) as session:
        row = session.get(Transcription, transcription_id)
        return None if row is None else f"transcriber:account:{row.account_id}"


def declare_actors(broker: dramatiq.Broker, settings: Settings) -> Actors:
    """Register the actors on ``broker`` (one broker per process; tests build their own)."""

    def transcribe(transcription_id: int) -> None:
        from adapter.observability import log_context
        from adapter.runtime import current

        rt = current()
        with log_context(transcription_id=transcription_id, step="transcribe"):
            _transcribe(rt, transcription_id)

    def _transcribe(rt: Any, transcription_id: int) -> None:
        from adapter.jobs import pipeline
        from adapter.observability import log_context

        key = _limiter_key(transcription_id)
        if key is None:
            return
        limiter = ConcurrentRateLimiter(  # type: ignore[no-untyped-call]
            rt.rate_backend,
            key,
            limit=rt.settings.account_concurrency,
            ttl=rt.settings.stuck_after_seconds * 1000,
        )
        with limiter.acquire(raise_on_failure=False) as acquired:
            if not acquired:
                # this account's key already has its share of calls in flight
                raise dramatiq.Retry(delay=int(random.uniform(200, 800)))
            result = pipeline.transcribe(rt, transcription_id)
        if result.retry_in_ms is not None:
            raise dramatiq.Retry(delay=result.retry_in_ms)
        if result.deliver:
            # deliver right away in this thread (no second queue hop); only a delivery that
            # must wait for Chatwoot goes through the deliver queue, with its backoff
            with log_context(transcription_id=transcription_id, step="deliver"):
                delivered = pipeline.deliver(rt, transcription_id)
            if delivered.retry_in_ms is not None:
                rt.actors.deliver.send_with_options(
                    args=(transcription_id,), delay=delivered.retry_in_ms
                )

    def deliver(transcription_id: int) -> None:
        from adapter.jobs import pipeline
        from adapter.observability import log_context
        from adapter.runtime import current

        with log_context(transcription_id=transcription_id, step="deliver"):
            result = pipeline.deliver(current(), transcription_id)
        if result.retry_in_ms is not None:
            raise dramatiq.Retry(delay=result.retry_in_ms)

    common: dict[str, Any] = {
        "broker": broker,
        "max_retries": 10_000,  # bounded by the row's attempts, see pipeline
        "retry_when": _only_requested_retries,
    }
    return Actors(
        transcribe=dramatiq.actor(
            actor_name="transcribe",
            queue_name="transcribe",
            time_limit=TRANSCRIBE_TIME_LIMIT_MS,
            **common,
        )(transcribe),
        deliver=dramatiq.actor(
            actor_name="deliver",
            queue_name="deliver",
            time_limit=DELIVER_TIME_LIMIT_MS,
            **common,
        )(deliver),
    )


__all__ = ["Actors", "declare_actors"]
