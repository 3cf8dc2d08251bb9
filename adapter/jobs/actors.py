"""The Dramatiq actors. They take an id and nothing else, and run one step each.

    transcribe(transcription_id)   claim, download, shape, plan chunks; runs the first chunk
    chunk(chunk_id)                one engine call; the last chunk assembles the transcript
    deliver(transcription_id)      the note and the attribute (only deliveries that must wait:
                                   a finished transcript is delivered in the step that made it)
    failure_note(transcription_id) the note telling agents a voice note was not transcribed, on
                                   the ``deliver`` queue (likewise posted by the step that ended
                                   the transcription, unless it must wait)
    on_demand(account_id, conversation_id)
                                   an on-demand account's conversation was labelled: read it and
                                   queue its audio (on the ``transcribe`` queue)

An ``Actors`` is declared on one broker and bound to the process's runtime when the process
starts (``adapter.wiring.build_runtime``); it is also the runtime's ``Queue``. Retries: a step
answers ``retry_in_ms`` only for transient errors (the backoff policy's delay, or the server's
Retry-After); the attempt count lives in the ledger, the source of truth. Every other outcome
is final and recorded there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq

from adapter.jobs import chunk as chunk_step
from adapter.jobs.deliver import deliver as deliver_step
from adapter.jobs.failure_note import post_failure_note
from adapter.jobs.on_demand import read_conversation
from adapter.jobs.step import StepResult
from adapter.jobs.transcribe import transcribe as transcribe_step
from adapter.observability import log_context
from adapter.runtime import Runtime

log = logging.getLogger(__name__)

#: the first step downloads and shapes; on the local engine it also runs the first chunk
TRANSCRIBE_TIME_LIMIT_MS = 60 * 60 * 1000
DELIVER_TIME_LIMIT_MS = 5 * 60 * 1000
#: a chunk message's own limit follows its duration (``chunk.time_limit_ms``); this is the cap
CHUNK_TIME_LIMIT_MS = 60 * 60 * 1000


def _only_requested_retries(retries: int, exc: BaseException) -> bool:
    return isinstance(exc, dramatiq.Retry)


class Actors:
    """The actors of one broker, and the ``Queue`` that sends to them."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._runtime: Runtime | None = None
        self.transcribe_actor = self._declare(
            broker, "transcribe", self._transcribe, TRANSCRIBE_TIME_LIMIT_MS
        )
        self.chunk_actor = self._declare(broker, "chunk", self._chunk, CHUNK_TIME_LIMIT_MS)
        self.deliver_actor = self._declare(broker, "deliver", self._deliver, DELIVER_TIME_LIMIT_MS)
        self.failure_note_actor = self._declare(
            broker, "failure_note", self._failure_note, DELIVER_TIME_LIMIT_MS, queue="deliver"
        )
        self.on_demand_actor = self._declare(
            broker, "on_demand", self._on_demand, DELIVER_TIME_LIMIT_MS, queue="transcribe"
        )

    @staticmethod
    def _declare(
        broker: dramatiq.Broker,
        name: str,
        fn: Callable[..., None],
        time_limit: int,
        *,
        queue: str | None = None,
    ) -> Any:  # dramatiq.Actor[[int], None]
        return dramatiq.actor(
            actor_name=name,
            queue_name=queue or name,
            broker=broker,
            time_limit=time_limit,
            # only the Retry a step asks for (Dramatiq then ignores max_retries): the ledger
            # counts the attempts and the steps end the work when they are used up
            retry_when=_only_requested_retries,
        )(fn)

    def bind(self, runtime: Runtime) -> None:
        """Give the actors the process's runtime (once, at start)."""
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the actors are not bound to a runtime yet")
        return self._runtime

    # ─── the actors ─────────────────────────────────────────────────────────────────────────

    def _transcribe(self, transcription_id: int) -> None:
        with log_context(transcription_id=transcription_id, step="transcribe"):
            self._follow(transcribe_step(self.runtime, transcription_id))

    def _chunk(self, chunk_id: int) -> None:
        with log_context(chunk_id=chunk_id, step="chunk"):
            self._follow(chunk_step.run(self.runtime, chunk_id))

    def _deliver(self, transcription_id: int) -> None:
        with log_context(transcription_id=transcription_id, step="deliver"):
            self._follow(deliver_step(self.runtime, transcription_id))

    def _failure_note(self, transcription_id: int) -> None:
        with log_context(transcription_id=transcription_id, step="failure_note"):
            self._follow(post_failure_note(self.runtime, transcription_id))

    def _on_demand(self, account_id: int, conversation_id: int) -> None:
        with log_context(account_id=account_id, step="on_demand"):
            read_conversation(self.runtime, account_id, conversation_id)

    def _follow(self, result: StepResult) -> None:
        """Retry this message, or run right here (no queue hop) what the step asks for next:
        deliver a finished transcript, post a failure note. A next step that must wait is sent
        as a message of its own, with its delay."""
        if result.retry_in_ms is not None:
            raise dramatiq.Retry(delay=result.retry_in_ms)
        if result.deliver is not None:
            with log_context(transcription_id=result.deliver, step="deliver"):
                delivered = deliver_step(self.runtime, result.deliver)
            if delivered.retry_in_ms is not None:
                self.deliver(result.deliver, delay_ms=delivered.retry_in_ms)
            result = delivered  # a delivery that gave up owes a failure note
        if result.failure_note is not None:
            with log_context(transcription_id=result.failure_note, step="failure_note"):
                noted = post_failure_note(self.runtime, result.failure_note)
            if noted.retry_in_ms is not None:
                self.failure_note(result.failure_note, delay_ms=noted.retry_in_ms)

    # ─── Queue ──────────────────────────────────────────────────────────────────────────────

    def transcribe(self, transcription_id: int, *, delay_ms: int | None = None) -> None:
        self.transcribe_actor.send_with_options(args=(transcription_id,), delay=delay_ms)

    def transcribe_many(self, transcription_ids: Sequence[int]) -> int:
        """One message per id; how many were sent. Never raises: the rows are committed as
        queued, so a message the broker did not take is logged and left to the recovery sweep."""
        sent = 0
        for transcription_id in transcription_ids:
            try:
                self.transcribe(transcription_id)
                sent += 1
            except Exception:
                log.exception("could not enqueue transcription %s", transcription_id)
        return sent

    def chunk(self, chunk_id: int, *, time_limit_ms: int, delay_ms: int | None = None) -> None:
        options: dict[str, Any] = {"time_limit": min(time_limit_ms, CHUNK_TIME_LIMIT_MS)}
        self.chunk_actor.send_with_options(args=(chunk_id,), delay=delay_ms, **options)

    def deliver(self, transcription_id: int, *, delay_ms: int | None = None) -> None:
        self.deliver_actor.send_with_options(args=(transcription_id,), delay=delay_ms)

    def failure_note(self, transcription_id: int, *, delay_ms: int | None = None) -> None:
        self.failure_note_actor.send_with_options(args=(transcription_id,), delay=delay_ms)

    def on_demand(self, account_id: int, conversation_id: int) -> None:
        """Never raises: a label whose message is lost is read by the reconciler later."""
        try:
            self.on_demand_actor.send(account_id, conversation_id)
        except Exception:
            log.exception("could not enqueue reading conversation %s", conversation_id)


__all__ = ["Actors"]
