"""Live transcription's glue: which account a stream token opens, and what a finished stream
leaves behind. The WebSocket endpoint (``adapter.live``) calls these two and nothing else of
the store.

    WS /v1/realtime ─token─▶ stream_account ──▶ the enabled account, or None (401 / close 4401)
            │ … the session: audio in, deltas and completed items out (adapter.live) …
            ▼ closed, expired or shut down: the pending audio transcribed, then
    finish_stream ──▶ Ledger.record_stream: one row, source ``stream``, ``transcribed``, its
            │         engine, model and the seconds paid for (usage and budgets count them)
            ├─ a conversation and words said ─▶ queue.deliver(id) ─▶ jobs/deliver.py: one
            │                                   private note, stored at once, retried through
            │                                   Chatwoot outages like any note
            └─ else ─▶ ``delivered`` at once, no note

**The token alone picks the account.** A token presented is refused before anything else unless
it can be a stream token (``accounts.is_stream_token``: 24 to 4096 visible ASCII characters),
so empty, huge or non-ASCII input costs nothing. Its lookup digests (HMAC-SHA256 under a key
derived from each configured encryption key: ``Keyring.digests``) find at most one account in
one indexed query; that account's sealed token is opened and compared in constant time, and
the account must be enabled. Nothing the client sends besides the token (a conversation id, an
account id) chooses the account.
"""

from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from adapter.accounts import (
    MAX_ACCOUNT_ID,
    extras,
    is_stream_token,
    open_secret,
    stream_token_digests,
)
from adapter.engines.languages import to_iso639_1
from adapter.errors import SecretError
from adapter.jobs.budget import after_spending
from adapter.runtime import Runtime
from adapter.secrets import Keyring
from adapter.store import Account, AccountStore, StreamRecord

log = logging.getLogger(__name__)


def stream_account(accounts: AccountStore, keyring: Keyring, token: str) -> Account | None:
    """The enabled account whose stream token ``token`` is, else None.

    Never raises on what a client sends (empty, huge, non-ASCII, another account's or a
    disabled account's token: None); ``StoreUnavailable`` when the database does not answer.
    """
    if not isinstance(token, str) or not is_stream_token(token):
        return None
    matches = [
        account
        for account in accounts.by_stream_digests(stream_token_digests(keyring, token))
        if _holds(keyring, account, token)
    ]
    if len(matches) != 1:  # two would be a token stored twice across a key rotation: neither
        return None
    account = matches[0]
    return account if account.enabled else None


def _holds(keyring: Keyring, account: Account, token: str) -> bool:
    """Whether ``account``'s sealed stream token is ``token`` (compared in constant time)."""
    if account.stream_token_enc is None:
        return False
    try:
        stored = open_secret(keyring, account.id, "stream_token", account.stream_token_enc)
    except SecretError as exc:
        log.warning("account %d: its stream token cannot be opened: %s", account.id, exc)
        return False
    return hmac.compare_digest(stored.encode(), token.encode())


@dataclass(frozen=True)
class StreamResult:
    """What a finished stream made: the whole transcript and what it cost.

    ``conversation_id``: the stream's ``?conversation_id=N`` (None: no note); ``duration``:
    seconds of audio received; ``billed_seconds``: seconds of audio the engine was sent (what
    usage prices per ``engine`` and ``model``: the offline engine's cost nothing);
    ``started_at``: when the stream was accepted (UTC; a naive time is taken as UTC).
    """

    conversation_id: int | None
    text: str
    language: str | None
    duration: float
    billed_seconds: float
    engine: str
    model: str | None
    started_at: datetime


def finish_stream(rt: Runtime, account: Account, result: StreamResult) -> int | None:
    """Record a finished stream and, when it named a conversation and something was said,
    queue its one note; the transcription's id, or None when the stream carried no audio
    (nothing recorded).

    The text is masked as the account asks (``--redact``) before it is stored. The row counts
    in usage and the budget at once; its note is posted by the ``deliver`` actor, exactly once
    across retries and Chatwoot outages (the note's id is stored as soon as it is posted). If
    the message cannot be sent (the broker is down), the row is due at once anyway and the
    next recovery sweep sends it. ``StoreUnavailable`` when the database cannot be written.
    """
    duration = _seconds(result.duration)
    billed = _seconds(result.billed_seconds)
    text = result.text.strip()
    if not text and duration == 0 and billed == 0:
        return None
    text = extras(account).mask(text)
    conversation = _conversation(account, result.conversation_id)
    owed = conversation is not None and bool(text)
    started = result.started_at
    record = StreamRecord(
        account_id=account.id,
        conversation_id=conversation,
        text=text,
        language=to_iso639_1(result.language),
        duration=duration,
        billed_seconds=billed,
        engine=result.engine[:16],
        model=result.model[:128] if result.model else None,
        started_at=started if started.tzinfo else started.replace(tzinfo=UTC),
    )
    transcription_id = rt.ledger.record_stream(record, note=owed)
    log.info(
        "stream recorded",
        extra={
            "transcription_id": transcription_id,
            "account_id": account.id,
            "note": owed,
            "duration": duration,
        },
    )
    if billed:
        _after_spending(rt, account.id)
    if owed:
        try:
            rt.queue.deliver(transcription_id)
        except Exception:
            log.warning(
                "the note of stream %d could not be queued now: the recovery sweep sends it",
                transcription_id,
                exc_info=True,
            )
    return transcription_id


def _seconds(value: float) -> float:
    return value if math.isfinite(value) and value > 0 else 0.0


def _conversation(account: Account, conversation_id: int | None) -> int | None:
    """The conversation the note goes to, or None (also for an id no conversation has)."""
    if conversation_id is None:
        return None
    if isinstance(conversation_id, bool) or not 0 < conversation_id < MAX_ACCOUNT_ID:
        log.warning(
            "account %d: a stream named conversation %r, which is no conversation id: no note",
            account.id,
            conversation_id,
        )
        return None
    return conversation_id


def _after_spending(rt: Runtime, account_id: int) -> None:
    """Say the budget thresholds the stream crossed; never lose the stream over it."""
    try:
        after_spending(rt, account_id)
    except Exception:
        log.warning("the budget of account %d could not be checked", account_id, exc_info=True)


__all__ = ["StreamResult", "finish_stream", "stream_account"]
