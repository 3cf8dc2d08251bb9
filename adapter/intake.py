"""Record one authenticated webhook delivery: dedupe it, create the queued transcriptions.

One transaction per delivery, in SQL the database does in a handful of round trips:
``INSERT … ON CONFLICT DO NOTHING RETURNING`` for the delivery (unique per account and delivery
key) and for each transcription (unique per account and attachment). Concurrent duplicates
collide on those constraints, so exactly one of them creates rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from adapter.secrets import Keyring
from adapter.store import State, Transcription, WebhookDelivery, utcnow
from channels.base import Decision

MAX_DELIVERY_KEY = 128
DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
TRANSCRIPTIONS: Table = Transcription.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class IntakeResult:
    status: Literal["accepted", "duplicate", "ignored"]
    transcription_ids: tuple[int, ...]
    new_ids: tuple[int, ...]


def delivery_key(header: str | None, body: bytes) -> str:
    """``X-Chatwoot-Delivery`` when it is usable, else ``sha256:`` of the body."""
    if header:
        header = header.strip()
        if 0 < len(header) <= MAX_DELIVERY_KEY - 4 and header.isascii() and header.isprintable():
            return f"id:{header}"
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _insert(conn: Connection, table: Table, values: dict[str, Any], conflict: list[str]) -> int | None:
    """Insert a row unless it conflicts; its id, or None on conflict."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(table.c.id)
    )
    row = conn.execute(stmt).first()
    return None if row is None else int(row[0])


def record(conn: Connection, keyring: Keyring, account_id: int, key: str,
           decision: Decision) -> IntakeResult:
    """Store the delivery and its new transcriptions on ``conn`` (the caller commits)."""
    now = utcnow()
    delivery_id = _insert(conn, DELIVERIES, {
        "account_id": account_id,
        "delivery_key": key,
        "event": (decision.event or "")[:64] or None,
        "status": decision.status,
        "reason": decision.reason[:64],
        "transcription_ids": "",
        "received_at": now,
    }, ["account_id", "delivery_key"])
    if delivery_id is None:
        row = conn.execute(
            select(DELIVERIES.c.transcription_ids).where(
                DELIVERIES.c.account_id == account_id, DELIVERIES.c.delivery_key == key)
        ).first()
        ids = tuple(int(i) for i in row[0].split(",") if i) if row else ()
        return IntakeResult("duplicate", ids, ())
    if decision.status != "accepted" or decision.conversation_id is None or decision.message_id is None:
        return IntakeResult("ignored", (), ())

    ids: list[int] = []
    new_ids: list[int] = []
    for attachment in {a.attachment_id: a for a in decision.attachments}.values():
        new_id = _insert(conn, TRANSCRIPTIONS, {
            "account_id": account_id,
            "conversation_id": decision.conversation_id,
            "message_id": decision.message_id,
            "attachment_id": attachment.attachment_id,
            "channel": decision.channel[:32],
            "state": State.queued.value,
            "attempts": 0,
            "delivery_attempts": 0,
            "source_url_enc": keyring.encrypt(attachment.url, register=False),
            "filename": (attachment.filename or "")[:512] or None,
            "content_type": (attachment.content_type or "")[:255] or None,
            "file_size": attachment.file_size,
            "chunks_done": 0,
            "seconds_done": 0.0,
            "attribute_set": False,
            "received_at": now,
            "created_at": now,
            "updated_at": now,
        }, ["account_id", "attachment_id"])
        if new_id is None:  # seen before (an echo, or another event for the same attachment)
            existing = conn.execute(
                select(TRANSCRIPTIONS.c.id).where(
                    TRANSCRIPTIONS.c.account_id == account_id,
                    TRANSCRIPTIONS.c.attachment_id == attachment.attachment_id)
            ).scalar_one()
            ids.append(int(existing))
        else:
            ids.append(new_id)
            new_ids.append(new_id)
    status: Literal["accepted", "duplicate"] = "accepted" if new_ids else "duplicate"
    conn.execute(
        update(DELIVERIES).where(DELIVERIES.c.id == delivery_id)
        .values(transcription_ids=",".join(map(str, ids)), status=status)
    )
    return IntakeResult(status, tuple(ids), tuple(new_ids))


__all__ = ["IntakeResult", "delivery_key", "record"]
