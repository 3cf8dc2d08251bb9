"""Tables: accounts, transcriptions (with their chunks), webhook deliveries, and the scans
of the reconciler and backfill (per account, and per conversation).

Secrets are stored only as Fernet tokens (``*_enc`` columns); see ``adapter.secrets``.
The attachment URL is a capability (ActiveStorage signed id), so it is encrypted too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from adapter.store.states import ChunkState, State


def utcnow() -> datetime:
    return datetime.now(UTC)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    chatwoot_url: str = Field(max_length=2048)
    api_token_enc: str = Field(sa_column=Column(Text, nullable=False))
    webhook_secret_enc: str = Field(sa_column=Column(Text, nullable=False))
    webhook_secret_previous_enc: str | None = Field(default=None, sa_column=Column(Text))
    openai_api_key_enc: str | None = Field(default=None, sa_column=Column(Text))
    #: a Chatwoot user access token, only to read (reconciler, backfill): bots can't list
    user_token_enc: str | None = Field(default=None, sa_column=Column(Text))
    #: the bearer token of live transcription (``adapter.streams``), sealed like the others,
    #: and its lookup digest (``Keyring.digest``: HMAC-SHA256 under a key derived from the
    #: first key), unique, so that the token alone finds its account
    stream_token_enc: str | None = Field(default=None, sa_column=Column(Text))
    stream_token_digest: str | None = Field(default=None, max_length=64, unique=True, index=True)
    engine: str | None = Field(default=None, max_length=16)
    model: str | None = Field(default=None, max_length=128)
    base_url: str | None = Field(default=None, max_length=2048)
    language: str | None = Field(default=None, max_length=8)
    remove_silence: bool = Field(default=True)
    #: post a short private note when a voice note cannot be transcribed
    failure_notes: bool = Field(default=True)
    #: USD a month the account's engine may cost (None: no budget); see ``adapter.usage.budget``
    monthly_budget_usd: float | None = None
    #: what gets transcribed (``adapter.controls``): only these inboxes ("5,7"; None: all),
    #: nothing shorter than ``min_seconds``, ``auto`` or ``on_demand`` (the label
    #: ``transcribe``), and a language hint per inbox (JSON ``{"5": "es"}``)
    inbox_ids: str | None = Field(default=None, sa_column=Column(Text))
    min_seconds: float = Field(default=0.0)
    mode: str = Field(default="auto", max_length=16)
    inbox_languages: str | None = Field(default=None, sa_column=Column(Text))
    #: what the note holds beyond the transcript (``adapter.extras``): a summary of audio at
    #: least this long (0: none) by the chat model (default ``gpt-4o-mini`` on the engine's
    #: endpoint), a translation into ``translate_to``, the kinds masked (``"cards,email"``; the
    #: region reads national phone numbers), and speaker labels of stereo calls (None: off)
    summary_min_seconds: float = Field(default=0.0)
    chat_model: str | None = Field(default=None, max_length=128)
    chat_base_url: str | None = Field(default=None, max_length=2048)
    translate_to: str | None = Field(default=None, max_length=8)
    redact: str | None = Field(default=None, max_length=64)
    phone_region: str | None = Field(default=None, max_length=2)
    speakers: str | None = Field(default=None, max_length=128)
    enabled: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Transcription(SQLModel, table=True):
    __tablename__ = "transcriptions"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "attachment_id", name="uq_transcriptions_account_attachment"
        ),
        #: usage: one account's transcriptions over a window (``adapter.store.usage``)
        Index("ix_transcriptions_account_created", "account_id", "created_at"),
        Index("ix_transcriptions_created", "created_at"),
        #: the console's webhook-to-note times of the last hour, day, week
        Index("ix_transcriptions_delivered", "delivered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    conversation_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    attachment_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    channel: str = Field(max_length=32)
    inbox_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    #: how it was found: ``webhook``, ``reconcile``, ``backfill``, ``on_demand``; or ``stream``
    #: (live transcription: no message, ``message_id`` 0, ``attachment_id`` negative,
    #: ``conversation_id`` 0 without a conversation: ``adapter.store.ledger.record_stream``)
    source: str = Field(default="webhook", max_length=16)
    state: str = Field(default=State.queued.value, max_length=16, index=True)
    attempts: int = Field(default=0)
    delivery_attempts: int = Field(default=0)
    source_url_enc: str = Field(sa_column=Column(Text, nullable=False))
    filename: str | None = Field(default=None, max_length=512)
    content_type: str | None = Field(default=None, max_length=255)
    file_size: int | None = Field(default=None, sa_column=Column(BigInteger))
    language: str | None = Field(default=None, max_length=8)
    duration_seconds: float | None = None
    audio_seconds: float | None = None
    billed_seconds: float | None = None
    #: seconds the engine has been sent and paid for, chunk by chunk (never taken back, even
    #: when the transcription fails later): what usage and budgets count
    spent_seconds: float = Field(default=0.0)
    upload_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))
    chunks_total: int | None = None
    chunks_done: int = Field(default=0)
    seconds_done: float = Field(default=0.0)
    engine: str | None = Field(default=None, max_length=16)
    model: str | None = Field(default=None, max_length=128)
    text: str | None = Field(default=None, sa_column=Column(Text))
    #: the extras (``adapter.extras``), masked like ``text``: the chat model's summary, the
    #: translation and its language, a stereo call's speaker turns (JSON), when they were
    #: settled (made, failed or not wanted) and what failed; the chat model's tokens
    summary: str | None = Field(default=None, sa_column=Column(Text))
    translation: str | None = Field(default=None, sa_column=Column(Text))
    translation_language: str | None = Field(default=None, max_length=8)
    turns_json: str | None = Field(default=None, sa_column=Column(Text))
    extras_at: datetime | None = None
    extras_error: str | None = Field(default=None, sa_column=Column(Text))
    chat_model: str | None = Field(default=None, max_length=128)
    chat_input_tokens: int = Field(default=0)
    chat_output_tokens: int = Field(default=0)
    error: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, max_length=64)
    note_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    attribute_set: bool = Field(default=False)
    lease_until: datetime | None = None
    #: the failure note agents are owed when it ends failed or skipped (``states.FailureNote``)
    failure_note: str | None = Field(default=None, max_length=16, index=True)
    #: its Chatwoot message id once posted (0: posted, id unknown)
    failure_note_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    failure_note_attempts: int = Field(default=0)
    failure_note_lease: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow)
    #: when its transcript note was posted: received_at to this is the webhook-to-note time
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class TranscriptChunk(SQLModel, table=True):
    """One chunk of a transcription's audio: its own unit of work, lease and result.

    Planned all at once (``pending``, the encoded audio in ``audio``); each is claimed, sent to
    the engine and ends ``done`` with its result, its audio dropped. A retry of the transcription
    keeps the ``done`` chunks of an identical plan: a finished chunk is never sent twice.
    """

    __tablename__ = "transcript_chunks"
    __table_args__ = (
        UniqueConstraint("transcription_id", "idx", name="uq_chunks_transcription_idx"),
        Index("ix_transcript_chunks_state", "transcription_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transcription_id: int = Field(index=True, foreign_key="transcriptions.id")
    idx: int
    state: str = Field(default=ChunkState.pending.value, max_length=16)
    attempts: int = Field(default=0)
    lease_until: datetime | None = None
    offset_seconds: float
    duration_seconds: float
    billed_seconds: float = 0.0
    lead_overlap: float = 0.0
    source_duration: float = 0.0
    #: the chunk's TimeMap anchors, JSON ``[[chunk_time, original_time], …]``
    timemap_json: str | None = Field(default=None, sa_column=Column(Text))
    #: the encoded audio to send, until the chunk is done
    audio: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    audio_ext: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=8)
    #: the channel (speaker) of a stereo call transcribed per channel; None: the whole audio
    channel: int | None = None
    result_json: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("account_id", "delivery_key", name="uq_deliveries_account_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    delivery_key: str = Field(max_length=128)
    event: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    transcription_ids: str = Field(default="", max_length=4096)
    received_at: datetime = Field(default_factory=utcnow, index=True)


class AccountScan(SQLModel, table=True):
    """The reconciler's state for one account: its watermark, its lease, its last scan.

    The watermark is the end of the last window scanned completely: the next scan starts there
    (less the overlap). The lease makes one scan per account at a time across processes.
    """

    __tablename__ = "account_scans"

    account_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    watermark: datetime | None = None
    lease_until: datetime | None = None
    lease_owner: str | None = Field(default=None, max_length=64)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: ``ok``, ``failed``, ``token_rejected``, ``no_user_token``
    status: str | None = Field(default=None, max_length=24)
    error: str | None = Field(default=None, sa_column=Column(Text))
    #: the last scan's findings (``adapter.scan.sift.Counts``), JSON
    counts_json: str | None = Field(default=None, sa_column=Column(Text))
    #: voice notes the reconciler found over all time: each one a lost webhook
    found_total: int = Field(default=0)


class ConversationScan(SQLModel, table=True):
    """A conversation scanned completely over ``[covered_since, covered_until]``.

    While Chatwoot still lists it with the same ``last_activity_at`` (and that is inside the
    covered span), nothing happened in it since: a later scan of that span passes it without
    reading its messages, adding the counts kept here.
    """

    __tablename__ = "conversation_scans"

    account_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    conversation_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False)
    )
    last_activity_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    covered_since: datetime
    covered_until: datetime
    #: the scan's counts for this conversation, JSON
    counts_json: str = Field(sa_column=Column(Text, nullable=False))


class BudgetAlert(SQLModel, table=True):
    """An account's month crossed ``threshold`` percent of its budget: said once a month.

    The primary key makes the warning once per (account, month, threshold) across processes:
    whoever inserts the row says it (log, metric, Sentry); the console shows the month's rows.
    """

    __tablename__ = "budget_alerts"

    account_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    #: ``YYYY-MM`` (UTC)
    month: str = Field(max_length=7, primary_key=True)
    #: 80 (the warning) or 100 (spent: transcriptions are skipped)
    threshold: int = Field(primary_key=True)
    spent_usd: float
    budget_usd: float
    created_at: datetime = Field(default_factory=utcnow)


class RevokedSession(SQLModel, table=True):
    """A console session signed out before its cookie expired: refused until ``expires_at``
    (the cookie's own expiry), after which the row is only clutter and is pruned."""

    __tablename__ = "console_revocations"

    #: the random session id the signed cookie carries
    sid: str = Field(max_length=64, primary_key=True)
    expires_at: datetime


__all__ = [
    "Account",
    "AccountScan",
    "BudgetAlert",
    "ConversationScan",
    "RevokedSession",
    "TranscriptChunk",
    "Transcription",
    "WebhookDelivery",
    "utcnow",
]
