"""The two steps of a transcription, each claimed by compare-and-set so it runs once.

    queued ──transcribe──▶ transcribing ──▶ transcribed ──deliver──▶ delivered
       ▲                        │                │
       └──── transient error ───┘                └── transient error: retried, never re-transcribed
    permanent error ─▶ failed          nothing to do (too large, no key, not audio) ─▶ skipped

Each claim writes a lease (``lease_until``); a worker renews it while it works. A row whose
lease has expired was lost (killed worker) and may be claimed again by anyone.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlmodel import Session

from adapter.accounts import effective_engine, resolve_openai_key
from adapter.engines.base import EngineLimits, Segment, Transcript
from adapter.errors import (
    AudioTooLarge,
    HelpdeskRejected,
    NotAudio,
    PermanentError,
    TranscriberError,
    TransientError,
)
from adapter.observability import metrics
from adapter.observability.redact import redact_text, register_transcript
from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.store import Account, State, TranscriptChunk, Transcription, utcnow

log = logging.getLogger(__name__)
T = Transcription
TT: Table = Transcription.__table__  # type: ignore[attr-defined]
TC = TT.c


@dataclass(frozen=True)
class Claim:
    transcription_id: int
    attempt: int


class Skip(Exception):
    """Nothing to transcribe: the row ends ``skipped`` with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.stuck_after_seconds)


def _claimable(now: Any) -> Any:
    return or_(TC.lease_until.is_(None), TC.lease_until < now)


def claim_transcription(rt: Runtime, transcription_id: int) -> Claim | None:
    """queued → transcribing (or take over an expired lease). None: someone else has it."""
    now = utcnow()
    with Session(rt.db) as session:
        row = session.get(T, transcription_id)
        if row is None:
            return None
        attempt = row.attempts + 1
        result = session.execute(
            update(TT)
            .where(
                TC.id == transcription_id,
                TC.attempts == row.attempts,
                or_(
                    TC.state == State.queued.value,
                    (TC.state == State.transcribing.value) & _claimable(now),
                ),
            )
            .values(
                state=State.transcribing.value,
                attempts=attempt,
                lease_until=now + _lease(rt),
                updated_at=now,
            )
        )
        session.commit()
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
    return Claim(transcription_id, attempt)


def _guarded_update(rt: Runtime, claim: Claim, expect: str, **values: Any) -> bool:
    """Update a row we hold in state ``expect``; False when another worker took it over."""
    with Session(rt.db) as session:
        result = session.execute(
            update(TT)
            .where(
                TC.id == claim.transcription_id,
                TC.state == expect,
                TC.attempts == claim.attempt,
            )
            .values(updated_at=utcnow(), **values)
        )
        session.commit()
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@contextmanager
def _renewing(rt: Runtime, claim: Claim, state: str, counter: str = "attempts") -> Iterator[None]:
    """Keep the lease alive while the work runs."""
    stop = threading.Event()
    period = max(1.0, rt.settings.stuck_after_seconds / 3)

    def renew() -> None:
        while not stop.wait(period):
            try:
                with Session(rt.db) as session:
                    session.execute(
                        update(TT)
                        .where(
                            TC.id == claim.transcription_id,
                            TC.state == state,
                            getattr(T, counter) == claim.attempt,
                        )
                        .values(lease_until=utcnow() + _lease(rt))
                    )
                    session.commit()
            except Exception:
                log.warning("could not renew the lease of transcription %s", claim.transcription_id)

    thread = threading.Thread(target=renew, name=f"lease-{claim.transcription_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _safe_error(exc: BaseException) -> str:
    if isinstance(exc, TranscriberError):
        return redact_text(str(exc))[:1000]
    return f"internal error ({type(exc).__name__})"


def backoff_ms(attempt: int, exc: TransientError | None = None) -> int:
    """Retry-After when the server said so, else exponential from 2 s with jitter."""
    import random

    if exc is not None and exc.retry_after is not None:
        return int(min(max(exc.retry_after, 0.5), 3600) * 1000)
    base = 2000 * (2 ** max(attempt - 1, 0))
    return int(min(base, 300_000) * random.uniform(0.8, 1.2))


# ─── transcribe ──────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class StepResult:
    """What the actor should do next: ``retry_in_ms`` set means raise Retry."""

    retry_in_ms: int | None = None
    deliver: bool = False


def transcribe(rt: Runtime, transcription_id: int) -> StepResult:
    claim = claim_transcription(rt, transcription_id)
    if claim is None:
        _nudge_delivery(rt, transcription_id)
        return StepResult()
    state = State.transcribing.value
    workdir = (
        rt.settings.temp_dir
        / "jobs"
        / f"t{transcription_id}-a{claim.attempt}-{uuid.uuid4().hex[:8]}"
    )
    try:
        with _renewing(rt, claim, state):
            transcript, stats = _do_transcribe(rt, claim, workdir)
    except Skip as skip:
        log.info("transcription skipped: %s", skip.reason)
        return _end(rt, claim, State.skipped, skip.reason, None)
    except (AudioTooLarge, NotAudio) as exc:
        reason = "too large" if isinstance(exc, AudioTooLarge) else "not audio"
        return _end(rt, claim, State.skipped, reason, _safe_error(exc))
    except PermanentError as exc:
        log.warning("transcription failed: %s", exc.reason)
        return _end(rt, claim, State.failed, exc.reason, _safe_error(exc))
    except Exception as exc:
        transient = exc if isinstance(exc, TransientError) else None
        if transient is None:
            log.exception("unexpected error transcribing %s", transcription_id)
        reason = transient.reason if transient else "internal"
        if claim.attempt >= rt.settings.max_attempts:
            error = f"gave up after {claim.attempt} attempts: {_safe_error(exc)}"
            return _end(rt, claim, State.failed, reason, error)
        _end(rt, claim, State.queued, reason, _safe_error(exc))
        return StepResult(retry_in_ms=backoff_ms(claim.attempt, transient))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    done = _guarded_update(
        rt,
        claim,
        state,
        state=State.transcribed.value,
        text=transcript.text,
        language=transcript.language,
        duration_seconds=round(transcript.duration, 3),
        error=None,
        reason=None,
        lease_until=None,
        **stats,
    )
    if done:
        metrics.incr("transcription.transcribed")
    return StepResult(deliver=done)


_END_METRICS = {
    State.skipped: "transcription.skipped",
    State.failed: "transcription.failed",
    State.queued: "transcription.retried",
}


def _end(rt: Runtime, claim: Claim, state: State, reason: str, error: str | None) -> StepResult:
    """Leave ``transcribing`` for ``state`` (final, or queued again for a retry)."""
    _guarded_update(
        rt,
        claim,
        State.transcribing.value,
        state=state.value,
        reason=reason,
        error=error,
        lease_until=None,
    )
    metrics.incr(_END_METRICS[state])
    return StepResult()


def _nudge_delivery(rt: Runtime, transcription_id: int) -> None:
    """A redelivered transcribe message for a row already transcribed: make sure it is delivered."""
    with Session(rt.db) as session:
        row = session.get(T, transcription_id)
        if row is not None and row.state == State.transcribed.value and row.lease_until is None:
            rt.actors.deliver.send(transcription_id)


def _load(rt: Runtime, transcription_id: int) -> tuple[Transcription, Account | None]:
    with Session(rt.db, expire_on_commit=False) as session:
        row = session.get(T, transcription_id)
        assert row is not None
        account = session.get(Account, row.account_id)
        return row, account


def _do_transcribe(rt: Runtime, claim: Claim, workdir: Path) -> tuple[Transcript, dict[str, Any]]:
    from adapter.audio import prepare, stitch
    from adapter.engines.factory import build_engine
    from adapter.helpdesk import url_is_private
    from adapter.helpdesk.download import download

    row, account = _load(rt, claim.transcription_id)
    if account is None:
        raise Skip("account removed")
    if not account.enabled:
        raise Skip("disabled")
    kind = effective_engine(account, rt.settings)
    api_key: str | None = None
    base_url = account.base_url
    if kind == "openai":
        key = resolve_openai_key(account, rt.keyring, rt.settings)
        if key.value is None:
            raise Skip("no key")
        api_key = key.value
        if base_url is None:
            base_url = rt.settings.openai_base_url
    engine = build_engine(
        "openai" if kind == "openai" else "local",
        api_key=api_key,
        model=account.model,
        base_url=base_url,
        language=account.language,
        model_dir=rt.settings.model_dir,
    )

    workdir.mkdir(parents=True, exist_ok=True)
    url = rt.keyring.decrypt(
        row.source_url_enc, what=f"transcription {row.id} attachment URL", register=False
    )
    suffix = (
        f".{row.filename.rsplit('.', 1)[-1][:8]}" if row.filename and "." in row.filename else ""
    )
    source = workdir / f"source{suffix}"
    download(
        url,
        source,
        max_bytes=rt.settings.max_audio_bytes,
        allow_private=url_is_private(account.chatwoot_url),
    )
    prepared = prepare(
        source,
        workdir / "chunks",
        engine_limits(engine.limits, rt.settings),
        remove_silence=account.remove_silence,
        target_chunk_seconds=rt.settings.chunk_seconds,
    )
    chunks = list(prepared.chunks)
    _guarded_update(
        rt,
        claim,
        State.transcribing.value,
        chunks_total=len(chunks),
        audio_seconds=round(prepared.audio_seconds, 3),
        engine=kind,
        model=getattr(engine, "model", None),
    )

    finished = _finished_chunks(rt, claim.transcription_id, chunks)
    todo = [c for c in chunks if c.index not in finished]
    results: dict[int, Transcript] = dict(finished)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(chunk: Any) -> None:
        started = time.monotonic()
        try:
            result = engine.transcribe(chunk.path, language=account.language)
        except BaseException as exc:
            kind_of_error = "permanent" if isinstance(exc, PermanentError) else "transient"
            metrics.incr(f"engine.{kind}.errors.{kind_of_error}")
            with lock:
                errors.append(exc)
            return
        metrics.timing(f"engine.{kind}.latency", (time.monotonic() - started) * 1000)
        _save_chunk(rt, claim, chunk, result)
        with lock:
            results[chunk.index] = result

    workers = max(1, min(rt.settings.account_concurrency, len(todo)))
    if workers == 1:
        for chunk in todo:
            work(chunk)
            if errors:
                break
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk") as pool:
            list(pool.map(work, todo))
    if errors:
        permanent = [e for e in errors if isinstance(e, PermanentError)]
        raise (permanent or errors)[0]
    for result in results.values():
        register_transcript(result.text)
    parts = [(c, results[c.index]) for c in chunks]
    # no chunks at all: the audio was silence
    transcript = stitch(parts) if parts else Transcript("", None, prepared.info.duration, ())
    metrics.incr("audio.seconds", round(prepared.audio_seconds))
    metrics.incr("audio.billed_seconds", round(prepared.billed_seconds))
    metrics.incr("audio.upload_bytes", int(prepared.upload_bytes))
    stats = {
        "audio_seconds": round(prepared.audio_seconds, 3),
        "billed_seconds": round(prepared.billed_seconds, 3),
        "upload_bytes": int(prepared.upload_bytes),
        "chunks_done": len(chunks),
        "seconds_done": round(prepared.audio_seconds, 3),
    }
    return transcript, stats


def engine_limits(limits: EngineLimits, settings: Settings) -> EngineLimits:
    """The engine's own limits, tightened by ``TRANSCRIBER_MAX_CHUNK_SECONDS``/``_BYTES``."""
    seconds, size = limits.max_seconds, limits.max_bytes
    if settings.max_chunk_seconds is not None:
        seconds = min(seconds or settings.max_chunk_seconds, settings.max_chunk_seconds)
    if settings.max_chunk_bytes is not None:
        size = min(size or settings.max_chunk_bytes, settings.max_chunk_bytes)
    return replace(limits, max_seconds=seconds, max_bytes=size)


def _finished_chunks(
    rt: Runtime, transcription_id: int, chunks: list[Any]
) -> dict[int, Transcript]:
    """Chunks a previous attempt already paid for, when the chunk plan is the same."""
    with Session(rt.db) as session:
        rows = list(
            session.execute(
                select(TranscriptChunk).where(TranscriptChunk.transcription_id == transcription_id)  # type: ignore[arg-type]
            ).scalars()
        )
    plan = {c.index: (round(c.offset, 3), round(c.duration, 3)) for c in chunks}
    done: dict[int, Transcript] = {}
    for r in rows:
        if plan.get(r.idx) == (round(r.offset_seconds, 3), round(r.duration_seconds, 3)):
            data = json.loads(r.result_json)
            done[r.idx] = Transcript(
                text=data["text"],
                language=data["language"],
                duration=data["duration"],
                segments=tuple(Segment(**s) for s in data["segments"]),
            )
    return done


def _save_chunk(rt: Runtime, claim: Claim, chunk: Any, result: Transcript) -> None:
    payload = json.dumps(
        {
            "text": result.text,
            "language": result.language,
            "duration": result.duration,
            "segments": [asdict(s) for s in result.segments],
        }
    )
    with Session(rt.db) as session:
        session.execute(
            TranscriptChunk.__table__.delete().where(  # type: ignore[attr-defined]
                (TranscriptChunk.transcription_id == claim.transcription_id)
                & (TranscriptChunk.idx == chunk.index)
            )
        )
        session.add(
            TranscriptChunk(
                transcription_id=claim.transcription_id,
                idx=chunk.index,
                offset_seconds=round(chunk.offset, 3),
                duration_seconds=round(chunk.duration, 3),
                billed_seconds=round(chunk.billed_seconds, 3),
                language=result.language,
                result_json=payload,
            )
        )
        session.execute(
            update(TT)
            .where(TC.id == claim.transcription_id)
            .values(
                chunks_done=TC.chunks_done + 1,
                seconds_done=TC.seconds_done + chunk.duration,
                updated_at=utcnow(),
            )
        )
        session.commit()


# ─── deliver ─────────────────────────────────────────────────────────────────────────────────


def claim_delivery(rt: Runtime, transcription_id: int) -> Claim | None:
    now = utcnow()
    with Session(rt.db) as session:
        row = session.get(T, transcription_id)
        if row is None or row.state != State.transcribed.value:
            return None
        attempt = row.delivery_attempts + 1
        result = session.execute(
            update(TT)
            .where(
                TC.id == transcription_id,
                TC.state == State.transcribed.value,
                TC.delivery_attempts == row.delivery_attempts,
                _claimable(now),
            )
            .values(delivery_attempts=attempt, lease_until=now + _lease(rt), updated_at=now)
        )
        session.commit()
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
    return Claim(transcription_id, attempt)


def _delivery_update(rt: Runtime, claim: Claim, **values: Any) -> bool:
    with Session(rt.db) as session:
        result = session.execute(
            update(TT)
            .where(
                TC.id == claim.transcription_id,
                TC.state == State.transcribed.value,
                TC.delivery_attempts == claim.attempt,
            )
            .values(updated_at=utcnow(), **values)
        )
        session.commit()
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def deliver(rt: Runtime, transcription_id: int) -> StepResult:
    claim = claim_delivery(rt, transcription_id)
    if claim is None:
        return StepResult()
    try:
        with _renewing(rt, claim, State.transcribed.value, counter="delivery_attempts"):
            _do_deliver(rt, claim)
    except PermanentError as exc:
        _delivery_update(
            rt,
            claim,
            state=State.failed.value,
            reason=exc.reason,
            error=_safe_error(exc),
            lease_until=None,
        )
        metrics.incr("transcription.failed")
        metrics.incr("helpdesk.errors.permanent")
        return StepResult()
    except Exception as exc:
        transient = exc if isinstance(exc, TransientError) else None
        if transient is None:
            log.exception("unexpected error delivering %s", transcription_id)
        metrics.incr("helpdesk.errors.transient")
        if claim.attempt >= rt.settings.max_attempts:
            _delivery_update(
                rt,
                claim,
                state=State.failed.value,
                reason=transient.reason if transient else "internal",
                error=f"delivery gave up after {claim.attempt} attempts: {_safe_error(exc)}",
                lease_until=None,
            )
            metrics.incr("transcription.failed")
            return StepResult()
        _delivery_update(rt, claim, error=_safe_error(exc), lease_until=None)
        return StepResult(retry_in_ms=backoff_ms(claim.attempt, transient))
    return StepResult()


def _do_deliver(rt: Runtime, claim: Claim) -> None:
    from adapter.helpdesk.notes import format_note, note_payload

    row, account = _load(rt, claim.transcription_id)
    if account is None:
        raise HelpdeskRejected("the account was removed before its transcript could be delivered")
    register_transcript(row.text)
    token = rt.keyring.decrypt(account.api_token_enc, what=f"account {account.id} api_token")
    client = rt.chatwoot
    if row.note_message_id is None:
        duration = row.duration_seconds or 0.0
        note = format_note(
            row.text or "",
            row.language,
            duration,
            filename=row.filename,
            chunked=(row.chunks_total or 1) > 1,
        )
        payload = note_payload(
            note,
            message_id=row.message_id,
            attachment_id=row.attachment_id,
            language=row.language,
            duration=duration,
        )
        note_id = client.post_note(
            account.chatwoot_url, account.id, row.conversation_id, token, payload
        )
        _delivery_update(rt, claim, note_message_id=note_id)
    if not row.attribute_set and row.language:
        client.set_transcript_language(
            account.chatwoot_url, account.id, row.conversation_id, token, row.language
        )
        _delivery_update(rt, claim, attribute_set=True)
    if _delivery_update(
        rt, claim, state=State.delivered.value, lease_until=None, error=None, reason=None
    ):
        metrics.incr("transcription.delivered")
        received = row.received_at
        metrics.timing("delivery.latency", (utcnow() - received).total_seconds() * 1000)
        log.info("transcript delivered", extra={"transcription_id": row.id})


__all__ = [
    "StepResult",
    "backoff_ms",
    "claim_delivery",
    "claim_transcription",
    "deliver",
    "transcribe",
]
