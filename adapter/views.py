"""JSON views of stored rows, shared by the admin API and the CLI (no secrets, ever)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from adapter.store import STREAM, AccountScan, State, Transcription, utcnow
from adapter.transcribe import turns_from_json
from adapter.usage.budget import budget_status, month_of
from adapter.usage.prices import Prices
from adapter.usage.report import USD_DIGITS


def percent_done(row: Transcription) -> float:
    """How much of the transcription's audio is transcribed, 0 to 100."""
    if row.state in (State.transcribed, State.delivered):
        return 100.0
    if row.audio_seconds:
        return round(min(100.0, 100.0 * row.seconds_done / row.audio_seconds), 1)
    if row.chunks_total:
        return round(100.0 * row.chunks_done / row.chunks_total, 1)
    return 0.0


def progress(row: Transcription) -> dict[str, Any]:
    return {
        "chunks_done": row.chunks_done,
        "chunks_total": row.chunks_total,
        "seconds_done": row.seconds_done,
        "seconds_total": row.audio_seconds,
        "percent": percent_done(row),
    }


def cost_usd(row: Transcription, prices: Prices) -> float:
    """What the engine was paid for the row's audio so far, and the chat model for its
    summary and translation, at today's prices (as usage reports count it: chunk by chunk, a
    failed transcription's finished chunks included)."""
    audio = prices.cost(row.engine, row.model, row.spent_seconds)
    chat = prices.chat_cost(row.chat_model, row.chat_input_tokens, row.chat_output_tokens)
    return round(audio + chat, USD_DIGITS)


def turns_view(row: Transcription) -> list[dict[str, Any]] | None:
    """A stereo call's speaker turns, or None for other audio."""
    return [asdict(turn) for turn in turns_from_json(row.turns_json)] or None


def transcription_view(row: Transcription, prices: Prices) -> dict[str, Any]:
    """A transcription as the admin API and ``list --json`` show it. A live stream's row
    answers no message and has no attachment: null for both (and for a conversation it did
    not name), not the placeholders it is stored with (``Ledger.record_stream``)."""
    stream = row.source == STREAM
    return {
        "id": row.id,
        "account_id": row.account_id,
        "conversation_id": (row.conversation_id or None) if stream else row.conversation_id,
        "message_id": None if stream else row.message_id,
        "attachment_id": None if stream else row.attachment_id,
        "channel": row.channel,
        "inbox_id": row.inbox_id,
        "source": row.source,
        "state": row.state,
        "attempts": row.attempts,
        "language": row.language,
        "duration_seconds": row.duration_seconds,
        "text": row.text,
        "error": row.error,
        "reason": row.reason,
        "progress": progress(row),
        "audio_seconds": row.audio_seconds,
        "billed_seconds": row.billed_seconds,
        "upload_bytes": row.upload_bytes,
        "engine": row.engine,
        "model": row.model,
        "cost_usd": cost_usd(row, prices),
        "summary": row.summary,
        "translation": row.translation,
        "translation_language": row.translation_language,
        "turns": turns_view(row),
        "extras_error": row.extras_error,
        "chat_model": row.chat_model,
        "chat_tokens": {"input": row.chat_input_tokens, "output": row.chat_output_tokens},
        "delivery_attempts": row.delivery_attempts,
        "failure_note": row.failure_note,
        "received_at": row.received_at.isoformat(),
        "delivered_at": _time(row.delivered_at),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def budget_view(
    budget_usd: float | None, spent_usd: float, now: datetime | None = None
) -> dict[str, Any]:
    """An account's month (that of ``now``) against its budget (``level``: none, ok, warning,
    exhausted)."""
    status = budget_status(budget_usd, spent_usd)
    return {
        "month": month_of(now or utcnow()),
        "monthly_budget_usd": status.budget_usd,
        "spent_usd": round(status.spent_usd, USD_DIGITS),
        "percent": None if status.fraction is None else round(status.fraction * 100, 1),
        "level": status.level,
    }


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def scan_view(scan: AccountScan | None, *, has_user_token: bool) -> dict[str, Any]:
    """An account's reconciliation: its last scan, its watermark, what it found."""
    if scan is None or scan.status is None:
        status = "waiting" if has_user_token else "no_user_token"
        scan = scan or AccountScan(account_id=0)
    else:
        status = scan.status
    return {
        "status": status,
        "scanning": scan.lease_until is not None
        and scan.lease_until.replace(tzinfo=scan.lease_until.tzinfo or UTC) > utcnow(),
        "last_started_at": _time(scan.started_at),
        "last_finished_at": _time(scan.finished_at),
        "watermark": _time(scan.watermark),
        "error": scan.error,
        "last_counts": json.loads(scan.counts_json) if scan.counts_json else None,
        "found_total": scan.found_total,
    }


__all__ = ["budget_view", "cost_usd", "percent_done", "progress", "scan_view", "transcription_view"]
