"""The failure note: one short private note telling a conversation's agents that a voice note
was not transcribed, so that they listen to it themselves.

    failed, or skipped for a reason agents should know ──▶ owed (pending)
        ──claim──▶ posted                     (its Chatwoot id stored at once)
              └──▶ off                        (the account's --failure-notes is off)
              └──▶ gave_up                    (Chatwoot refused it, or stayed down)

The step that ends a transcription marks the note owed in the same UPDATE (``Ledger.end``,
``Ledger.stop``, ``Ledger.delivery_failed``) and asks for it in its ``StepResult``; the recovery
sweep sends it again when its message was lost (``Ledger.notes_owed``). Like a delivery, it is
held under a short lease renewed while Chatwoot answers (``adapter.jobs.lease``), retried after
transient errors up to ``TRANSCRIBER_DELIVERY_MAX_ATTEMPTS`` (``deliver.policy``), and given up
with a logged reason after a permanent one. A row retried meanwhile is posted no note: the retry
delivers the transcript, or ends again and owes one then; one posted is never owed again.
"""

from __future__ import annotations

import logging

from adapter.accounts import open_secret
from adapter.errors import HelpdeskRejected
from adapter.helpdesk.notes import failure_code, failure_note_payload, format_failure_note
from adapter.jobs.deliver import helpdesk_verdict
from adapter.jobs.lease import heartbeat, renew_period
from adapter.jobs.step import StepResult
from adapter.runtime import Runtime
from adapter.store import Claim, FailureNote

log = logging.getLogger(__name__)


def post_failure_note(rt: Runtime, transcription_id: int) -> StepResult:
    """Post the failure note ``transcription_id`` owes, once; ``retry_in_ms`` after a
    transient error."""
    claim = rt.ledger.claim_failure_note(transcription_id)
    if claim is None:
        return StepResult()
    try:
        with heartbeat(
            lambda: rt.ledger.renew_failure_note(claim),
            period=renew_period(rt.settings),
            name=f"failure note {transcription_id}",
        ):
            _post(rt, claim)
    except Exception as exc:
        return _failed(rt, claim, exc)
    return StepResult()


def _post(rt: Runtime, claim: Claim) -> None:
    row = rt.ledger.get(claim.transcription_id)
    assert row is not None  # rows are never deleted
    account = rt.accounts.get(row.account_id)
    if account is None:
        raise HelpdeskRejected("the account was removed before its failure note was posted")
    if not account.failure_notes:
        rt.ledger.failure_note_ended(claim, FailureNote.off)
        log.info("failure note not posted: account %s has failure notes off", account.id)
        return
    token = open_secret(rt.keyring, account.id, "api_token", account.api_token_enc)
    code = failure_code(row.state, row.reason)
    note = format_failure_note(row.reason, filename=row.filename, transcribed=row.text is not None)
    payload = failure_note_payload(
        note, message_id=row.message_id, attachment_id=row.attachment_id, error=code
    )
    note_id = rt.chatwoot.post_note(
        account.chatwoot_url, account.id, row.conversation_id, token, payload
    )
    rt.ledger.failure_note_posted(claim, note_id)
    log.info("failure note posted (%s)", code, extra={"transcription_id": row.id})


def _failed(rt: Runtime, claim: Claim, exc: Exception) -> StepResult:
    tid = claim.transcription_id
    verdict = helpdesk_verdict(
        rt, f"failure note of transcription {tid}", claim.attempt, exc, step="failure note"
    )
    if verdict.outcome == "retry":
        rt.ledger.failure_note_later(claim)
        return StepResult(retry_in_ms=verdict.delay_ms)
    rt.ledger.failure_note_ended(claim, FailureNote.gave_up)
    return StepResult()


__all__ = ["post_failure_note"]
