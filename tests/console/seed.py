"""Rows for the console's tests, made the way the service makes them: accounts through
``adapter.accounts``, transcriptions through the ledger's own intake, claims and moves.

Every secret is recognisable (it holds ``SEEKRIT``), so a test can look for all of them in
every page, cookie and log line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.speakers import Turn
from adapter.store import Delivery, ExtrasMade, Plan, PlannedChunk, State, Translation
from adapter.transcribe import turns_json
from channels.base import AudioAttachment, Decision

#: per account: every secret an account holds
ACCOUNT_SECRETS = {
    3: {
        "api_token": "cw-api-SEEKRIT-3a3a3a3a",
        "webhook_secret": "whsec-SEEKRIT-3b3b3b3b",
        "openai_api_key": "sk-SEEKRIT-3c3c3c3c3c3c",
        "user_token": "ut-SEEKRIT-3d3d3d3d",
        "stream_token": "st-SEEKRIT-3e3e3e3e3e3e3e3e",
    },
    7: {
        "api_token": "cw-api-SEEKRIT-7a7a7a7a",
        "webhook_secret": "whsec-SEEKRIT-7b7b7b7b",
        "openai_api_key": "sk-SEEKRIT-7c7c7c7c7c7c",
        "user_token": "ut-SEEKRIT-7d7d7d7d",
        "stream_token": "st-SEEKRIT-7e7e7e7e7e7e7e7e",
    },
}


def all_secrets() -> list[str]:
    return [value for secrets in ACCOUNT_SECRETS.values() for value in secrets.values()]


def add_accounts(rt: Runtime) -> None:
    """Accounts 3 (openai, whisper-1) and 7 (local), each with every secret."""
    for account_id, engine, model in ((3, "openai", "whisper-1"), (7, "local", None)):
        data = {
            "chatwoot_url": f"https://desk{account_id}.example.test",
            "engine": engine,
            **ACCOUNT_SECRETS[account_id],
        }
        if model:
            data["model"] = model
        acc.create_account(rt.accounts, rt.keyring, account_id, acc.parse_changes(data))


def queued(rt: Runtime, account_id: int, attachment_id: int, channel: str = "whatsapp") -> int:
    """A new transcription, as a webhook records it."""
    attachment = AudioAttachment(
        attachment_id,
        f"https://desk{account_id}.example.test/blob/{attachment_id}",
        f"voice-{attachment_id}.ogg",
        "audio/ogg",
        "ogg",
        2048,
    )
    decision = Decision(
        "accepted",
        "audio",
        "message_created",
        channel,
        40 + attachment_id,
        400 + attachment_id,
        (attachment,),
        inbox_id=9,
    )
    [result] = rt.ledger.record(
        [Delivery(account_id, f"id:{attachment_id}", decision)], lambda url, label: url
    )
    [tid] = result.new_ids
    return tid


def delivered(
    rt: Runtime,
    tmp_path: Path,
    account_id: int,
    attachment_id: int,
    text: str,
    language: str,
    seconds: float = 30.0,
    engine: str = "openai",
    model: str | None = "whisper-1",
) -> int:
    """A transcription taken through every step to ``delivered``: one chunk, its text."""
    tid = queued(rt, account_id, attachment_id)
    claim = rt.ledger.claim(tid)
    assert claim is not None
    audio = tmp_path / f"chunk-{tid}.ogg"
    audio.write_bytes(b"OggS" + bytes(64))
    chunk = PlannedChunk(0, 0.0, seconds, seconds, 0.0, seconds, "[]", audio)
    todo = rt.ledger.set_plan(claim, Plan([chunk], seconds, seconds, 68, engine, model))
    assert todo
    [(chunk_id, _)] = todo
    held = rt.ledger.claim_chunk(chunk_id)
    assert held is not None
    assert rt.ledger.finish_chunk(held, result_json='{"text": "x"}', language=language)
    assert rt.ledger.complete(tid, text=text, language=language, duration=seconds)
    delivery = rt.ledger.claim_delivery(tid)
    assert delivery is not None
    assert rt.ledger.delivered(delivery)
    return tid


def _chunks(tmp_path: Path, tid: int, count: int, seconds: float) -> list[PlannedChunk]:
    chunks = []
    for idx in range(count):
        audio = tmp_path / f"chunk-{tid}-{idx}.ogg"
        audio.write_bytes(b"OggS" + bytes(64))
        offset = idx * seconds
        chunks.append(PlannedChunk(idx, offset, seconds, seconds, 0.0, seconds, "[]", audio))
    return chunks


def transcribing(
    rt: Runtime,
    tmp_path: Path,
    account_id: int,
    attachment_id: int,
    *,
    chunks: int = 7,
    done: int = 3,
    seconds: float = 60.0,
) -> tuple[int, list[int]]:
    """A long recording cut into ``chunks`` chunks of ``seconds``, ``done`` of them
    transcribed (3 of 7 is 42.9 % of its audio): its id, and the ids of its chunks to do."""
    tid = queued(rt, account_id, attachment_id)
    claim = rt.ledger.claim(tid)
    assert claim is not None
    total = chunks * seconds
    plan = Plan(_chunks(tmp_path, tid, chunks, seconds), total, total, 68 * chunks, "openai", None)
    todo = rt.ledger.set_plan(claim, plan)
    assert todo is not None and len(todo) == chunks
    for chunk_id, _ in todo[:done]:
        finish_chunk(rt, chunk_id)
    return tid, [chunk_id for chunk_id, _ in todo[done:]]


def finish_chunk(rt: Runtime, chunk_id: int) -> None:
    """One chunk of a long recording transcribed, not its last."""
    held = rt.ledger.claim_chunk(chunk_id)
    assert held is not None
    assert rt.ledger.finish_chunk(held, result_json='{"text": "x"}', language="en") is False


def with_extras(
    rt: Runtime,
    tmp_path: Path,
    account_id: int,
    attachment_id: int,
    *,
    text: str,
    language: str,
    summary: str | None = None,
    translation: Translation | None = None,
    turns: Sequence[Turn] = (),
    error: str | None = None,
    chat_model: str | None = None,
    tokens: tuple[int, int] = (0, 0),
    seconds: float = 90.0,
) -> int:
    """A delivered transcription with what the pipeline adds to a note: the engine's
    translation and a stereo call's turns when it is completed, then the chat model's summary
    (and translation), its tokens and what it could not make, stored under the delivery's
    claim as ``jobs/extras.py`` stores them."""
    tid = queued(rt, account_id, attachment_id)
    claim = rt.ledger.claim(tid)
    assert claim is not None
    plan = Plan(_chunks(tmp_path, tid, 1, seconds), seconds, seconds, 68, "openai", "whisper-1")
    [(chunk_id, _)] = rt.ledger.set_plan(claim, plan) or []
    held = rt.ledger.claim_chunk(chunk_id)
    assert held is not None
    assert rt.ledger.finish_chunk(held, result_json='{"text": "x"}', language=language)
    assert rt.ledger.complete(
        tid, text=text, language=language, duration=seconds, turns_json=turns_json(turns)
    )
    delivery = rt.ledger.claim_delivery(tid)
    assert delivery is not None
    made = ExtrasMade(
        summary=summary,
        translation=translation,
        error=error,
        chat_model=chat_model,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
    )
    assert rt.ledger.set_extras(delivery, made)
    assert rt.ledger.delivered(delivery)
    return tid


def failed(rt: Runtime, account_id: int, attachment_id: int, error: str) -> int:
    """A transcription that failed at the engine for good."""
    tid = queued(rt, account_id, attachment_id)
    claim = rt.ledger.claim(tid)
    assert claim is not None
    assert rt.ledger.end(claim, State.failed, reason="engine_rejected", error=error)
    return tid


def state_of(rt: Runtime, tid: int) -> str:
    row = rt.ledger.get(tid)
    assert row is not None
    return row.state


__all__ = [
    "ACCOUNT_SECRETS",
    "add_accounts",
    "all_secrets",
    "delivered",
    "failed",
    "finish_chunk",
    "queued",
    "state_of",
    "transcribing",
    "with_extras",
]
