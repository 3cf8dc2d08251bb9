"""The first step of a transcription: claim it, fetch and shape its audio, plan its chunks.

    queued ──claim──▶ transcribing: download → probe/prepare → chunk rows (pending) ──▶ chunks

Each chunk then is its own message (``adapter.jobs.chunk``); the first one runs right here, so
a short voice note needs no second queue hop. The claim's lease is renewed while the audio is
fetched and shaped (``adapter.jobs.lease``), and given back with the plan; whoever runs a chunk
holds it again. A planned transcription sent again (the recovery sweep) is only dispatched: its
lost chunks are sent again, or it is assembled when all are done.
An account that asks for speaker turns (``--speakers``) has a stereo recording measured first:
when its two channels carry different speakers, each channel is shaped into chunks of its own
(``PlannedChunk.channel``), both billed.
Nothing to transcribe (account disabled, no key, too large, not audio, shorter than the account's
``--min-seconds``, over the monthly budget: checked before the download and again once the
audio's length is known, before any engine call) ends it ``skipped``; a
failed or skipped end owes the agents a failure note when they should know (``StepResult``).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from functools import partial
from pathlib import Path

from dramatiq.middleware.time_limit import TimeLimitExceeded

from adapter.accounts import controls, engine_settings, extras
from adapter.audio import AudioChunk, PreparedAudio
from adapter.engines.base import Engine
from adapter.errors import AccountDisabled, TooShort
from adapter.helpdesk import private_origins
from adapter.helpdesk.download import download
from adapter.helpdesk.notes import owes_failure_note
from adapter.jobs import budget
from adapter.jobs import chunk as chunk_step
from adapter.jobs.lease import renew_period, renewing
from adapter.jobs.step import StepResult, judge, lost_attempts, report, timed_out
from adapter.observability import Metric, metrics
from adapter.runtime import Runtime
from adapter.secrets import attachment_label
from adapter.store import Account, Claim, Plan, PlannedChunk, State, Transcription
from adapter.transcribe import shape, speakers_verdict, timemap_json

log = logging.getLogger(__name__)


def transcribe(rt: Runtime, transcription_id: int) -> StepResult:
    row = rt.ledger.get(transcription_id)
    if row is None:
        return StepResult()
    if row.state == State.transcribed and row.lease_until is None:
        rt.queue.deliver(transcription_id)  # a redelivered message: make sure it is delivered
        return StepResult()
    if row.state == State.transcribing and row.chunks_total is not None:
        return _resume(rt, transcription_id)
    claim = rt.ledger.claim(transcription_id)
    if claim is None:
        return StepResult()
    if claim.attempt > rt.backoff.max_attempts:  # the earlier ones died without a verdict
        return _ended(rt, claim, lost_attempts(claim.attempt - 1))
    workdir = rt.settings.temp_dir / "jobs" / f"t{transcription_id}-{uuid.uuid4().hex[:8]}"
    try:
        with renewing(rt.ledger, claim, State.transcribing, period=renew_period(rt.settings)):
            plan = _plan(rt, claim, workdir)
        planned = rt.ledger.set_plan(claim, plan)  # gives the lease back: the beats have stopped
    except (Exception, TimeLimitExceeded) as exc:
        return _ended(rt, claim, timed_out(exc, "downloading and shaping the audio"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if planned is None:
        return StepResult()  # taken over meanwhile
    return dispatch(rt, transcription_id, planned)


def _resume(rt: Runtime, transcription_id: int) -> StepResult:
    """A planned transcription sent again (the recovery sweep, a redelivered message): its
    chunks whose holder died (their lease ran out; claimed a lease ago at least) or whose
    message looks lost (nobody touched them for a lease) are sent again.

    Its own lease, if it ran out, is left so: the sweep comes back until one of its chunks is
    held again (its holder renews it), sent again, or the last one is done."""
    lost = rt.ledger.open_chunks(transcription_id, idle_for=rt.settings.lease_seconds)
    return dispatch(rt, transcription_id, lost)


def dispatch(
    rt: Runtime, transcription_id: int, open_chunks: list[tuple[int, float]]
) -> StepResult:
    """Run the first of ``open_chunks`` here and send the others; with none, assemble the
    transcription if every chunk is done (a worker died between the last chunk and the join)."""
    if not open_chunks:
        return chunk_step.join(rt, transcription_id)
    for chunk_id, seconds in open_chunks[1:]:
        rt.queue.chunk(chunk_id, time_limit_ms=chunk_step.time_limit_ms(rt, seconds))
    first, seconds = open_chunks[0]
    result = chunk_step.run(rt, first)
    if result.retry_in_ms is not None:  # not here: as a message of its own, later
        rt.queue.chunk(
            first, time_limit_ms=chunk_step.time_limit_ms(rt, seconds), delay_ms=result.retry_in_ms
        )
        return StepResult()
    return result


def _plan(rt: Runtime, claim: Claim, workdir: Path) -> Plan:
    """Download the attachment and cut it into chunks the account's engine takes."""
    row, account = _load(rt, claim.transcription_id)
    settings = engine_settings(account, rt.keyring, rt.settings, inbox_id=row.inbox_id)  # NoKey
    engine = settings.engine()
    model = getattr(engine, "model", None)
    spend = partial(budget.admit, rt, account, row.id or 0, engine=settings.kind, model=model)
    spend(billed_seconds=0.0)  # OverBudget: the month's budget is spent already
    workdir.mkdir(parents=True, exist_ok=True)
    source = _download(rt, row, account, workdir)
    prepared = _shaped(source, workdir, engine, rt, account, row.id)
    audio_seconds = max(p.audio_seconds for _, p in prepared)
    billed_seconds = sum(p.billed_seconds for _, p in prepared)
    if controls(account).too_short(audio_seconds):
        raise TooShort(
            f"the audio lasts {audio_seconds:.1f} s, under the account's minimum "
            f"of {account.min_seconds:g} s (--min-seconds)"
        )
    spend(billed_seconds=billed_seconds)  # OverBudget: this audio would pass it
    upload_bytes = sum(p.upload_bytes for _, p in prepared)
    metrics.incr(Metric.AUDIO_SECONDS, round(audio_seconds))
    metrics.incr(Metric.AUDIO_BILLED_SECONDS, round(billed_seconds))
    metrics.incr(Metric.AUDIO_UPLOAD_BYTES, int(upload_bytes))
    chunks = [
        _planned(idx, channel, c, audio_seconds)
        for idx, (channel, c) in enumerate((ch, c) for ch, p in prepared for c in p.chunks)
    ]
    return Plan(
        chunks=chunks,
        audio_seconds=audio_seconds,
        billed_seconds=billed_seconds,
        upload_bytes=upload_bytes,
        engine=settings.kind,
        model=model,
    )


def _shaped(
    source: Path, workdir: Path, engine: Engine, rt: Runtime, account: Account, tid: int | None
) -> list[tuple[int | None, PreparedAudio]]:
    """The audio cut into chunks for ``engine``: the whole, or each channel of a stereo call
    whose channels carry different speakers when the account asks for speaker turns (both
    billed)."""
    channels: list[int | None] = [None]
    if extras(account).speakers is not None:
        verdict = speakers_verdict(source)
        if verdict.measure.channels == 2:
            log.info("transcription %s: stereo, %s", tid, verdict)
        if verdict.separate:
            channels = [0, 1]
    return [
        (
            channel,
            shape(
                source,
                workdir / f"chunks{'' if channel is None else channel}",
                engine,
                rt.chunks,
                remove_silence=account.remove_silence,
                channel=channel,
            ),
        )
        for channel in channels
    ]


def _planned(
    idx: int, channel: int | None, chunk: AudioChunk, audio_seconds: float
) -> PlannedChunk:
    return PlannedChunk(
        idx=idx,
        offset=chunk.offset,
        duration=chunk.duration,
        billed_seconds=chunk.billed_seconds,
        lead_overlap=chunk.lead_overlap,
        source_duration=chunk.source_duration or audio_seconds,
        timemap_json=timemap_json(chunk.timemap),
        path=chunk.path,
        channel=channel,
    )


def _load(rt: Runtime, transcription_id: int) -> tuple[Transcription, Account]:
    row = rt.ledger.get(transcription_id)
    assert row is not None  # claimed rows are never deleted
    account = rt.accounts.get(row.account_id)
    if account is None:
        raise AccountDisabled("the account was removed")
    if not account.enabled:
        raise AccountDisabled("the account is disabled")
    return row, account


def _download(rt: Runtime, row: Transcription, account: Account, workdir: Path) -> Path:
    url = rt.keyring.unseal(
        row.source_url_enc,
        label=attachment_label(row.account_id, row.attachment_id),
        what=f"transcription {row.id} attachment URL",
        register=False,
    )
    name = row.filename or ""
    suffix = f".{name.rsplit('.', 1)[-1][:8]}" if "." in name else ""
    source = workdir / f"source{suffix}"
    download(
        url,
        source,
        max_bytes=rt.settings.max_audio_bytes,
        # a private address only at Chatwoot's own origin and the operator's storage hosts
        private_origins=private_origins(account.chatwoot_url, rt.settings.storage_hosts),
        deadline=rt.settings.download_deadline_seconds,
    )
    return source


def _ended(rt: Runtime, claim: Claim, exc: Exception) -> StepResult:
    """The attempt ended without a plan: skipped, failed, or queued for a retry."""
    verdict = judge(exc, claim.attempt, rt.backoff)
    report(
        f"transcription {claim.transcription_id}",
        exc,
        verdict,
        claim.attempt,
        rt.backoff.max_attempts,
    )
    if verdict.outcome == "retry":
        rt.ledger.end(claim, State.queued, reason=verdict.reason, error=verdict.error)
        return StepResult(retry_in_ms=verdict.delay_ms)
    target = State.skipped if verdict.outcome == "skipped" else State.failed
    owe = owes_failure_note(verdict.outcome, verdict.reason)
    ended = rt.ledger.end(claim, target, reason=verdict.reason, error=verdict.error, owe_note=owe)
    return StepResult(failure_note=claim.transcription_id if ended and owe else None)


__all__ = ["dispatch", "transcribe"]
