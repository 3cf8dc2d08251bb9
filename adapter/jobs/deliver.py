"""The last step: the private note and the ``transcript_language`` attribute, once each.

    transcribed ──claim──▶ extras settled ──▶ note posted ──▶ attribute set ──▶ delivered

The note holds what the account asks beyond the transcript: the chat model's summary and
translation are made first, once, and stored (``adapter.jobs.extras``).

The note's Chatwoot id is stored as soon as it is posted, so a retry after a failure in the
attribute call never posts a second note. The claim's lease is renewed while the Chatwoot calls
run (``adapter.jobs.lease``): a slow Chatwoot never lets a second worker post the note too.

A Chatwoot outage only retries this step, after the usual backoff (at most
``TRANSCRIBER_RETRY_MAX_SECONDS`` apart) but up to ``TRANSCRIBER_DELIVERY_MAX_ATTEMPTS`` times
(20: about an hour), not ``TRANSCRIBER_MAX_ATTEMPTS``: the transcript is stored, so waiting
costs nothing, and the audio is never transcribed, nor billed, twice. A delivery that gives up
ends the row ``failed``, owing its agents a failure note (``adapter.jobs.failure_note``) unless
the transcript note was posted. ``helpdesk_verdict`` judges both steps' Chatwoot errors.

A live stream's row (source ``stream``, ``adapter.streams``) goes the same way with its own
note: the ``STREAM_NOTE_HEADER``, in the conversation the stream named, in reply to nothing
(``stream_note_payload``); it never owes a failure note (``Ledger.delivery_failed``).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from adapter.accounts import open_secret
from adapter.errors import HelpdeskRejected, PermanentError
from adapter.helpdesk.notes import (
    NOTE_HEADER,
    STREAM_NOTE_HEADER,
    NotePayload,
    NoteTurn,
    StreamNotePayload,
    format_note,
    note_payload,
    stream_note_payload,
)
from adapter.jobs.backoff import Backoff
from adapter.jobs.extras import settle
from adapter.jobs.lease import renew_period, renewing
from adapter.jobs.step import (
    StepResult,
    Verdict,
    log_failure,
    log_retry,
    reason_of,
    safe_error,
    transient,
)
from adapter.observability import Metric, metrics
from adapter.observability.redact import register_transcript
from adapter.runtime import Runtime
from adapter.store import STREAM, Claim, State, Transcription, utcnow
from adapter.transcribe import turns_from_json

log = logging.getLogger(__name__)


def policy(rt: Runtime) -> Backoff:
    """The retry policy of deliveries: the runtime's, with the delivery attempt limit."""
    return replace(rt.backoff, max_attempts=rt.settings.delivery_max_attempts)


def deliver(rt: Runtime, transcription_id: int) -> StepResult:
    claim = rt.ledger.claim_delivery(transcription_id)
    if claim is None:
        return StepResult()
    try:
        with renewing(
            rt.ledger,
            claim,
            State.transcribed,
            period=renew_period(rt.settings),
            counter="delivery_attempts",
        ):
            _write_back(rt, claim)
    except Exception as exc:
        return _failed(rt, claim, exc)
    return StepResult()


def _write_back(rt: Runtime, claim: Claim) -> None:
    row = rt.ledger.get(claim.transcription_id)
    assert row is not None
    account = rt.accounts.get(row.account_id)
    if account is None:
        raise HelpdeskRejected("the account was removed before its transcript could be delivered")
    register_transcript(row.text)
    token = open_secret(rt.keyring, account.id, "api_token", account.api_token_enc)
    if row.note_message_id is None:
        settled = settle(rt, claim, row, account)  # the chat model's part, made once
        if settled is None:
            return  # another attempt holds the row now: it posts the note
        row = settled
        payload = _payload(row)
        note_id = rt.chatwoot.post_note(
            account.chatwoot_url, account.id, row.conversation_id, token, payload
        )
        rt.ledger.note_posted(claim, note_id)
    if not row.attribute_set and row.language:
        rt.chatwoot.set_transcript_language(
            account.chatwoot_url, account.id, row.conversation_id, token, row.language
        )
        rt.ledger.attribute_set(claim)
    if rt.ledger.delivered(claim):
        metrics.incr(Metric.TRANSCRIPTION_DELIVERED)
        metrics.timing(Metric.DELIVERY_LATENCY, (utcnow() - row.received_at).total_seconds() * 1000)
        log.info("transcript delivered", extra={"transcription_id": row.id})


def _payload(row: Transcription) -> NotePayload | StreamNotePayload:
    """The note of ``row``: a voice note's, in reply to its message, or a live stream's."""
    duration = row.duration_seconds or 0.0
    stream = row.source == STREAM
    note = format_note(
        row.text or "",
        row.language,
        duration,
        filename=row.filename,
        chunked=(row.chunks_total or 1) > 1 and row.turns_json is None,
        summary=row.summary,
        translation=row.translation,
        translation_language=row.translation_language,
        turns=[NoteTurn(t.label, t.start, t.text) for t in turns_from_json(row.turns_json)],
        header=STREAM_NOTE_HEADER if stream else NOTE_HEADER,
    )
    if stream:
        return stream_note_payload(note, language=row.language, duration=duration)
    return note_payload(
        note,
        message_id=row.message_id,
        attachment_id=row.attachment_id,
        language=row.language,
        duration=duration,
    )


def helpdesk_verdict(
    rt: Runtime, what: str, attempt: int, exc: Exception, *, step: str = "delivery"
) -> Verdict:
    """A write to Chatwoot (by ``step``) that failed: ``failed`` for a permanent error or the
    delivery attempts used up, else ``retry`` after the backoff (or Chatwoot's Retry-After).
    Logged and counted."""
    if isinstance(exc, PermanentError):
        log_failure(what, exc)
        metrics.incr(Metric.HELPDESK_ERRORS_PERMANENT)
        return Verdict("failed", reason_of(exc), safe_error(exc))
    if transient(exc) is None:
        log.exception("unexpected error in %s", what, exc_info=exc)
    metrics.incr(Metric.HELPDESK_ERRORS_TRANSIENT)
    backoff = policy(rt)
    if backoff.exhausted(attempt):
        log_failure(what, exc, attempts=attempt)
        error = f"{step} gave up after {attempt} attempts: {safe_error(exc)}"
        return Verdict("failed", reason_of(exc), error)
    delay = backoff.delay_ms(attempt, transient(exc))
    log_retry(what, attempt, backoff.max_attempts, exc, delay)
    return Verdict("retry", reason_of(exc), safe_error(exc), delay)


def _failed(rt: Runtime, claim: Claim, exc: Exception) -> StepResult:
    tid = claim.transcription_id
    verdict = helpdesk_verdict(rt, f"delivery of transcription {tid}", claim.attempt, exc)
    if verdict.outcome == "retry":
        rt.ledger.delivery_later(claim, verdict.error)
        return StepResult(retry_in_ms=verdict.delay_ms)
    ended = rt.ledger.delivery_failed(
        claim, reason=verdict.reason, error=verdict.error, owe_note=True
    )
    metrics.incr(Metric.TRANSCRIPTION_FAILED)
    return StepResult(failure_note=tid if ended else None)


__all__ = ["deliver", "helpdesk_verdict", "policy"]
