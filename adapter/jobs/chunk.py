"""One chunk of a transcription: one engine call, within the account's limit; the last
chunk done assembles the transcript.

    pending ──claim──▶ transcribing ──engine──▶ done        (the last one: transcribed)
                            └── transient error ──▶ pending, retried after the backoff

The account's slot is taken before the chunk is claimed, so a chunk waiting for a slot holds
nothing. The claim's lease (``TRANSCRIBER_LEASE_SECONDS``), and the transcription's, are renewed
while the engine call runs (``adapter.jobs.lease``); the call's timeout and the message's time
limit follow the chunk's duration (``ChunkPolicy.timeout``). A killed worker costs one chunk,
never the whole recording: its leases run out and the recovery sweep sends the chunk again.

What the engine heard is masked as the account asks (``--redact``) before it is stored; an
account translating into English without a chat model has each chunk in another language
translated by the engine too (paid twice). The join masks the whole text again (a number said
across a seam) and weaves a stereo call's channels into turns.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from dramatiq.middleware.time_limit import TimeLimitExceeded

from adapter.accounts import chat_settings, engine_settings, extras
from adapter.audio import AudioChunk
from adapter.engines.base import Transcript
from adapter.errors import AccountDisabled, PermanentError
from adapter.extras import ENGINE_TARGET, Extras
from adapter.helpdesk.notes import owes_failure_note
from adapter.jobs import budget
from adapter.jobs.lease import let_go, plan_claim, renew_period, renewing_chunk
from adapter.jobs.step import StepResult, judge, lost_attempts, report, timed_out
from adapter.observability import Metric, metrics
from adapter.observability.redact import register_transcript
from adapter.runtime import Runtime
from adapter.speakers import turns_text
from adapter.store import ChunkClaim, ChunkWork, Claim, State, TranscriptChunk, Translation
from adapter.transcribe import (
    ChunkResult,
    assemble_results,
    timemap_from_json,
    transcribe_chunk,
    transcript_from_json,
    transcript_json,
    translate_chunk,
    translation_from_json,
    turns_json,
)

log = logging.getLogger(__name__)

#: a chunk message's time limit exceeds its engine call's timeout by this much
TIME_LIMIT_MARGIN_SECONDS = 60.0
#: how long a chunk waits, at random, before asking again for its account's slot
SLOT_WAIT_MS = (50, 200)


def time_limit_ms(rt: Runtime, seconds: float) -> int:
    """The time limit of a chunk's message: its engine call's timeout plus a margin."""
    return int((rt.chunks.timeout(seconds) + TIME_LIMIT_MARGIN_SECONDS) * 1000)


def run(rt: Runtime, chunk_id: int) -> StepResult:
    """Transcribe one chunk; ``retry_in_ms`` when the account has no free slot or the engine
    failed for now; ``deliver`` when this chunk completed its transcription."""
    work = rt.ledger.chunk_work(chunk_id)
    if work is None:
        return StepResult()
    with rt.limiter.slot(work.account_id) as free:
        if not free:
            return StepResult(retry_in_ms=random.randint(*SLOT_WAIT_MS))
        claim = rt.ledger.claim_chunk(chunk_id)
        if claim is None:
            return StepResult()
        if claim.attempt > rt.backoff.max_attempts:  # the earlier ones died without a verdict
            return _failed(rt, claim, lost_attempts(claim.attempt - 1))
        plan = plan_claim(rt.ledger, claim.transcription_id)
        try:
            with renewing_chunk(rt.ledger, claim, plan, period=renew_period(rt.settings)):
                heard = _call_engine(rt, claim, work)
        except (Exception, TimeLimitExceeded) as exc:
            failed = _failed(rt, claim, timed_out(exc, "the chunk's engine call"))
            _let_go(rt, plan)
            return failed
    last = rt.ledger.finish_chunk(
        claim,
        result_json=transcript_json(heard.transcript, heard.translation),
        language=heard.transcript.language,
        calls=heard.calls,
    )
    if last:
        return join(rt, claim.transcription_id)
    _let_go(rt, plan)
    return StepResult()


def _let_go(rt: Runtime, plan: Claim | None) -> None:
    """This chunk's run ended and its transcription is not done: give back its lease."""
    if plan is None:
        return
    try:
        let_go(rt.ledger, plan)
    except Exception:  # it runs out by itself, and the sweep only finds nothing to send
        log.warning("could not give back the lease of transcription %s", plan.transcription_id)


@dataclass(frozen=True)
class _Heard:
    """What the engine made of a chunk, masked as the account asks; ``calls``: how many
    times it was sent (and paid)."""

    transcript: Transcript
    translation: Transcript | None = None
    calls: int = 1


def _call_engine(rt: Runtime, claim: ChunkClaim, work: ChunkWork) -> _Heard:
    account = rt.accounts.get(work.account_id)
    if account is None or not account.enabled:
        raise AccountDisabled("the account was removed or disabled")
    settings = engine_settings(account, rt.keyring, rt.settings, inbox_id=work.inbox_id)
    wanted = extras(account)
    chat = chat_settings(account, rt.keyring, rt.settings) is not None
    engine = settings.engine()
    audio = rt.ledger.chunk_audio(claim.chunk_id)
    if audio is None:
        raise PermanentError("the chunk's audio is gone")
    with tempfile.TemporaryDirectory(prefix="chunk-", dir=_workdir(rt)) as tmp:
        path = Path(tmp) / f"chunk-{work.idx:03d}.{audio[1]}"
        path.write_bytes(audio[0])
        started = time.monotonic()
        try:
            result = transcribe_chunk(engine, path, work.duration, rt.chunks, settings.language)
            register_transcript(result.text)  # from now on, never in a log line or error
            translation = None
            if wanted.engine_translates(chat=chat) and wanted.wants_translation(result.language):
                translation = translate_chunk(engine, path, work.duration, rt.chunks)
                register_transcript(translation.text)
        except Exception as exc:
            permanent = isinstance(exc, PermanentError)
            metrics.incr(Metric.engine_errors(settings.kind, permanent=permanent))
            raise
    metrics.timing(Metric.engine_latency(settings.kind), (time.monotonic() - started) * 1000)
    return _Heard(
        wanted.mask_transcript(result),
        None if translation is None else wanted.mask_transcript(translation),
        1 if translation is None else 2,
    )


def _workdir(rt: Runtime) -> Path:
    path = rt.settings.temp_dir / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _failed(rt: Runtime, claim: ChunkClaim, exc: Exception) -> StepResult:
    """A chunk that failed: the transcription ends (skip, permanent, attempts used up) or the
    chunk is given back and its message retried after the backoff."""
    tid = claim.transcription_id
    verdict = judge(exc, claim.attempt, rt.backoff)
    report(
        f"transcription {tid} chunk {claim.chunk_id}",
        exc,
        verdict,
        claim.attempt,
        rt.backoff.max_attempts,
    )
    if verdict.outcome == "retry":
        rt.ledger.release_chunk(claim, verdict.error)
        return StepResult(retry_in_ms=verdict.delay_ms)
    target = State.skipped if verdict.outcome == "skipped" else State.failed
    owe = owes_failure_note(verdict.outcome, verdict.reason)
    ended = rt.ledger.stop(tid, target, reason=verdict.reason, error=verdict.error, owe_note=owe)
    return StepResult(failure_note=tid if ended and owe else None)


def join(rt: Runtime, transcription_id: int) -> StepResult:
    """Every chunk is done: stitch their transcripts and move the row to ``transcribed``."""
    row = rt.ledger.get(transcription_id)
    if row is None or row.state != State.transcribing or rt.ledger.chunks_left(transcription_id):
        return StepResult()
    results = [
        ChunkResult(
            c.channel,
            _audio_chunk(c),
            transcript_from_json(c.result_json or ""),
            translation_from_json(c.result_json or ""),
        )
        for c in rt.ledger.done_chunks(transcription_id)
    ]
    account = rt.accounts.get(row.account_id)
    wanted = extras(account) if account is not None else Extras()
    made = assemble_results(results, row.audio_seconds or 0.0, wanted.speakers)
    # masked again as a whole: a number said across two chunks is found only here
    turns = tuple(replace(t, text=wanted.mask(t.text)) for t in made.turns)
    text = turns_text(turns) if turns else wanted.mask(made.transcript.text)
    register_transcript(text)
    translation = None
    if made.translation is not None:
        english = [replace(t, text=wanted.mask(t.text)) for t in made.translated_turns]
        english_text = turns_text(english) if english else wanted.mask(made.translation.text)
        translation = Translation(english_text, ENGINE_TARGET)
    if not rt.ledger.complete(
        transcription_id,
        text=text,
        language=made.transcript.language,
        duration=made.transcript.duration,
        translation=translation,
        turns_json=turns_json(turns),
    ):
        return StepResult()
    metrics.incr(Metric.TRANSCRIPTION_TRANSCRIBED)
    budget.after_spending(rt, row.account_id)
    return StepResult(deliver=transcription_id)


def _audio_chunk(row: TranscriptChunk) -> AudioChunk:
    """What ``stitch`` needs of a chunk, from its row."""
    return AudioChunk(
        index=row.idx,
        path=Path(f"chunk-{row.idx:03d}"),
        offset=row.offset_seconds,
        duration=row.duration_seconds,
        billed_seconds=row.billed_seconds,
        timemap=timemap_from_json(row.timemap_json, row.offset_seconds, row.duration_seconds),
        lead_overlap=row.lead_overlap,
        source_duration=row.source_duration,
    )


__all__ = ["join", "run", "time_limit_ms"]
