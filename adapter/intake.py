"""Record one authenticated webhook delivery: dedupe it, create the queued transcriptions.

One transaction per delivery: the delivery row (unique per account and delivery key) and one
``queued`` transcription per attachment never seen before (unique per account and attachment).
Concurrent duplicates collide on those constraints, so exactly one of them creates rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from adapter.secrets import Keyring
from adapter.store import State, Transcription, WebhookDelivery, utcnow
from channels.base import Decision

MAX_DELIVERY_KEY = 128


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
    return "sha256:" + hashlib.sha256(body).hexdigest()[:64]


def _existing_delivery(session: Session, account_id: int, key: str) -> IntakeResult:
    row = session.execute(
        select(WebhookDelivery.transcription_ids).where(
            WebhookDelivery.account_id == account_id,  # type: ignore[arg-type]
            WebhookDelivery.delivery_key == key,  # type: ignore[arg-type]
        )
    ).first()
    ids = tuple(int(i) for i in row[0].split(",") if i) if row else ()
    return IntakeResult("duplicate", ids, ())


def record(
    db: Engine, keyring: Keyring, account_id: int, key: str, decision: Decision
) -> IntakeResult:
    """Store the delivery and its new transcriptions; say what happened."""
    with Session(db, expire_on_commit=False) as session:
        try:
            result = _record(session, keyring, account_id, key, decision)
            session.commit()
            return result
        except IntegrityError:
            session.rollback()
            return _existing_delivery(session, account_id, key)


def _record(
    session: Session, keyring: Keyring, account_id: int, key: str, decision: Decision
) -> IntakeResult:
    delivery = WebhookDelivery(
        account_id=account_id,
        delivery_key=key,
        event=(decision.event or "")[:64] or None,
        status=decision.status,
        reason=decision.reason[:64],
    )
    session.add(delivery)
    session.flush()  # a duplicate delivery key fails here
    if decision.status != "accepted" or decision.conversation_id is None or decision.message_id is None:
        return IntakeResult("ignored", (), ())

    wanted = {a.attachment_id: a for a in decision.attachments}
    existing = dict(
        session.execute(
            select(Transcription.attachment_id, Transcription.id).where(  # type: ignore[call-overload]
                Transcription.account_id == account_id,
                Transcription.attachment_id.in_(list(wanted)),  # type: ignore[attr-defined]
            )
        ).all()
    )
    ids: list[int] = []
    new_ids: list[int] = []
    now = utcnow()
    for attachment_id, attachment in wanted.items():
        if attachment_id in existing:
            ids.append(int(existing[attachment_id]))
            continue
        row = Transcription(
            account_id=account_id,
            conversation_id=decision.conversation_id,
            message_id=decision.message_id,
            attachment_id=attachment_id,
            channel=decision.channel[:32],
            state=State.queued.value,
            source_url_enc=keyring.encrypt(attachment.url),
            filename=(attachment.filename or None) and attachment.filename[:512],
            content_type=(attachment.content_type or None) and attachment.content_type[:255],
            file_size=attachment.file_size,
            received_at=now,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # a concurrent delivery of another event for the same attachment won the race
            other = session.execute(
                select(Transcription.id).where(  # type: ignore[call-overload]
                    Transcription.account_id == account_id,
                    Transcription.attachment_id == attachment_id,
                )
            ).scalar_one()
            ids.append(int(other))
            continue
        assert row.id is not None
        ids.append(row.id)
        new_ids.append(row.id)
    delivery.transcription_ids = ",".join(str(i) for i in ids)
    delivery.status = "accepted" if new_ids else "duplicate"
    session.add(delivery)
    return IntakeResult("accepted" if new_ids else "duplicate", tuple(ids), tuple(new_ids))


__all__ = ["IntakeResult", "delivery_key", "record"]
