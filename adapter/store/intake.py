"""Record authenticated webhook deliveries: dedupe them, create the queued transcriptions.

A batch of deliveries (one, or the many that the receiver's group commit gathers) is recorded
on one connection in a fixed handful of statements, whatever its size:

1. one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` of the deliveries (unique per
   account and delivery key); the keys that collided are read back in one ``SELECT``: duplicates;
2. the same for the transcriptions of the new, accepted deliveries (unique per account and
   attachment id): an attachment seen before (an echo) is not transcribed twice;
3. one ``UPDATE`` storing each accepted delivery's transcription ids and status.

On PostgreSQL every statement has a fixed text whatever the batch size: the rows travel as one
JSON parameter unpacked by ``json_to_recordset``, so the driver converts and the server
prepares each statement once. SQLite gets SQLAlchemy's multi-row ``VALUES``.

Copies inside one batch are resolved in memory the way consecutive requests would be: the first
delivery with a key records it, later ones are its duplicates and answer its ids; the first
delivery naming an attachment creates its transcription. Copies in concurrent transactions
(other processes) collide on the unique constraints, so exactly one of them creates rows.
The caller owns the transaction (``Ledger.record``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Integer,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Select, Update
from sqlalchemy.types import TypeEngine

from adapter.secrets import attachment_label
from adapter.store.models import Transcription, WebhookDelivery, utcnow
from adapter.store.states import State
from channels.base import AudioAttachment, Decision

MAX_DELIVERY_KEY = 128
#: how a transcription was found (``stream``: live transcription, ``Ledger.record_stream``)
Source = Literal["webhook", "reconcile", "backfill", "on_demand", "stream"]
DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
TRANSCRIPTIONS: Table = Transcription.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One authenticated, parsed delivery to record."""

    account_id: int
    key: str  # ``adapter.web.sansio.delivery_key(...)``
    decision: Decision


@dataclass(frozen=True, slots=True)
class IntakeResult:
    status: Literal["accepted", "duplicate", "ignored"]
    transcription_ids: tuple[int, ...]
    new_ids: tuple[int, ...]  # created by this delivery: one broker message each


@dataclass(frozen=True)
class _Rows:
    """How rows of ``table`` are inserted: per-row columns, constants, timestamps, unique key."""

    table: Table
    columns: tuple[str, ...]  # the keys of each row dict
    constants: dict[str, Any]
    stamps: tuple[str, ...]  # set to the batch's ``now``
    conflict: tuple[str, str]


_DELIVERY_ROWS = _Rows(
    DELIVERIES,
    ("account_id", "delivery_key", "event", "status", "reason"),
    {"transcription_ids": ""},
    ("received_at",),
    ("account_id", "delivery_key"),
)
_TRANSCRIPTION_ROWS = _Rows(
    TRANSCRIPTIONS,
    (
        "account_id",
        "conversation_id",
        "message_id",
        "attachment_id",
        "channel",
        "source_url_enc",
        "filename",
        "content_type",
        "file_size",
        "inbox_id",
        "source",
    ),
    {
        "state": State.queued.value,
        "attempts": 0,
        "delivery_attempts": 0,
        "failure_note_attempts": 0,
        "chunks_done": 0,
        "seconds_done": 0.0,
        "attribute_set": False,
    },
    ("received_at", "created_at", "updated_at"),
    ("account_id", "attachment_id"),
)

#: found audio that no broker message will announce (a command without Redis): its lease has
#: run out already, so the next recovery sweep of any process sends it
_DUE_ROWS = replace(_TRANSCRIPTION_ROWS, stamps=(*_TRANSCRIPTION_ROWS.stamps, "lease_until"))
#: audio a scan found already answered by our note in Chatwoot: recorded as done, never sent
_NOTED_ROWS = replace(
    _TRANSCRIPTION_ROWS,
    constants={**_TRANSCRIPTION_ROWS.constants, "state": State.delivered.value, "reason": "noted"},
)


def _loose(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The recordset's column type: lengths are left to the table's own columns."""
    return BigInteger() if isinstance(type_, Integer) else Text()


def _recordset(name: str, columns: Sequence[tuple[str, TypeEngine[Any]]]) -> Any:
    """``json_to_recordset(CAST(:rows AS JSON)) AS name(col type, …)`` (PostgreSQL)."""
    return (
        func.json_to_recordset(cast(bindparam("rows"), postgresql.JSON))
        .table_valued(*(column(n, _loose(t)) for n, t in columns))
        .render_derived(name=name, with_types=True)
    )


def _build_insert(spec: _Rows, dialect: str) -> Any:
    table = spec.table
    names = [*spec.columns, *spec.constants, *spec.stamps]
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        rows = _recordset("r", [(n, table.c[n].type) for n in spec.columns])
        source = select(
            *(rows.c[n] for n in spec.columns),
            *(literal(v, table.c[n].type) for n, v in spec.constants.items()),
            *(bindparam("now", type_=table.c[n].type) for n in spec.stamps),
        )
        stmt = postgresql.insert(table).from_select(names, source)
    else:
        stmt = sqlite.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(spec.conflict)).returning(
        table.c.id, table.c[spec.conflict[0]], table.c[spec.conflict[1]]
    )


# Statements are built once (per dialect) and executed with parameters, so SQLAlchemy's
# compiled cache serves every later batch.
_INSERTS: dict[tuple[str, int], Any] = {}
_EXISTING_DELIVERIES: Select[Any] = select(
    DELIVERIES.c.account_id, DELIVERIES.c.delivery_key, DELIVERIES.c.transcription_ids
).where(
    tuple_(DELIVERIES.c.account_id, DELIVERIES.c.delivery_key).in_(
        bindparam("keys", expanding=True)
    )
)
_EXISTING_TRANSCRIPTIONS: Select[Any] = select(
    TRANSCRIPTIONS.c.id, TRANSCRIPTIONS.c.account_id, TRANSCRIPTIONS.c.attachment_id
).where(
    tuple_(TRANSCRIPTIONS.c.account_id, TRANSCRIPTIONS.c.attachment_id).in_(
        bindparam("keys", expanding=True)
    )
)
_SET_TRANSCRIPTIONS: Update = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("delivery_id"))
    .values(transcription_ids=bindparam("ids"), status=bindparam("new_status"))
)
_SET_FROM = _recordset(
    "u",
    [
        ("delivery_id", DELIVERIES.c.id.type),
        ("ids", DELIVERIES.c.transcription_ids.type),
        ("new_status", DELIVERIES.c.status.type),
    ],
)
_SET_TRANSCRIPTIONS_PG: Update = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == _SET_FROM.c.delivery_id)
    .values(transcription_ids=_SET_FROM.c.ids, status=_SET_FROM.c.new_status)
)


def _insert(
    conn: Connection, spec: _Rows, rows: Sequence[dict[str, Any]], now: datetime
) -> dict[tuple[Any, ...], int]:
    """Insert the rows that do not conflict on ``spec.conflict``: their ids by their key values.

    One statement for all rows. RETURNING carries the key columns because it names only the
    inserted rows, in no promised order.
    """
    # rows in key order: concurrent batches that share keys lock them in the same order, so
    # they wait for one another instead of deadlocking
    rows = sorted(rows, key=itemgetter(*spec.conflict))
    dialect = conn.dialect.name
    key = (dialect, id(spec))  # the specs are module constants
    stmt = _INSERTS.get(key)
    if stmt is None:
        stmt = _INSERTS[key] = _build_insert(spec, dialect)
    if dialect == "postgresql":
        result = conn.execute(stmt, {"rows": json.dumps(rows, separators=(",", ":")), "now": now})
    else:
        fixed = {**spec.constants, **dict.fromkeys(spec.stamps, now)}
        full = [{**row, **fixed} for row in rows]
        result = conn.execute(stmt, full[0] if len(full) == 1 else full)
    return {(row[1], row[2]): int(row[0]) for row in result}


def _set_transcriptions(conn: Connection, updates: list[dict[str, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_SET_TRANSCRIPTIONS_PG, {"rows": json.dumps(updates, separators=(",", ":"))})
    else:
        conn.execute(_SET_TRANSCRIPTIONS, updates[0] if len(updates) == 1 else updates)


def _chunks(keys: Sequence[tuple[Any, ...]], size: int = 400) -> Iterable[list[tuple[Any, ...]]]:
    # SQLite binds at most 999 parameters per statement in old builds: stay well below
    for start in range(0, len(keys), size):
        yield list(keys[start : start + size])


def record_batch(
    conn: Connection, encrypt: Callable[[str, str], str], deliveries: Sequence[Delivery]
) -> list[IntakeResult]:
    """Store the deliveries and their new transcriptions on ``conn``; one result per delivery.

    ``encrypt(url, label)`` turns an attachment URL (a capability) into what is stored, bound
    to its ``label`` (its account and attachment: ``adapter.secrets.attachment_label``).
    """
    if not deliveries:
        return []
    now = utcnow()
    first = _first_copies(deliveries)
    delivery_ids, seen_before = _insert_deliveries(conn, deliveries, first, now)
    results: list[IntakeResult | None] = [None] * len(deliveries)
    plan = _Plan()
    for index, d in enumerate(deliveries):
        dkey = (d.account_id, d.key)
        if first[dkey] != index:
            continue  # a copy of an earlier delivery in this batch: answered below
        if dkey not in delivery_ids:
            results[index] = IntakeResult("duplicate", seen_before.get(dkey, ()), ())
        elif not _wants_transcription(d.decision):
            # accepted without a message: a conversation to read (an on-demand label)
            status: Literal["accepted", "ignored"] = (
                "accepted" if d.decision.status == "accepted" else "ignored"
            )
            results[index] = IntakeResult(status, (), ())
        else:
            plan.add(index, d, encrypt)
    if plan.wanted:
        _insert_transcriptions(conn, plan, deliveries, delivery_ids, results, now)
    return _answer_copies(deliveries, first, results)


def _first_copies(deliveries: Sequence[Delivery]) -> dict[tuple[int, str], int]:
    """The index of the first delivery with each (account, key): later ones are its copies."""
    first: dict[tuple[int, str], int] = {}
    for index, d in enumerate(deliveries):
        first.setdefault((d.account_id, d.key), index)
    return first


def _insert_deliveries(
    conn: Connection,
    deliveries: Sequence[Delivery],
    first: dict[tuple[int, str], int],
    now: datetime,
) -> tuple[dict[tuple[Any, ...], int], dict[tuple[int, str], tuple[int, ...]]]:
    """Insert the first copy of each delivery; read back what the colliding ones recorded."""
    rows = [
        {
            "account_id": deliveries[index].account_id,
            "delivery_key": deliveries[index].key,
            "event": (deliveries[index].decision.event or "")[:64] or None,
            "status": deliveries[index].decision.status,
            "reason": deliveries[index].decision.reason[:64],
        }
        for index in first.values()
    ]
    delivery_ids = _insert(conn, _DELIVERY_ROWS, rows, now)
    seen_before: dict[tuple[int, str], tuple[int, ...]] = {}
    collided = [k for k in first if k not in delivery_ids]
    for chunk in _chunks(collided):
        for row in conn.execute(_EXISTING_DELIVERIES, {"keys": chunk}):
            seen_before[(row[0], row[1])] = tuple(int(i) for i in row[2].split(",") if i)
    return delivery_ids, seen_before


def _wants_transcription(decision: Decision) -> bool:
    return (
        decision.status == "accepted"
        and decision.conversation_id is not None
        and decision.message_id is not None
    )


@dataclass
class _Plan:
    """The transcriptions the new, accepted deliveries of a batch name."""

    #: attachment key -> index of the delivery that creates its transcription
    claims: dict[tuple[int, int], int] = field(default_factory=dict)
    #: (delivery index, its attachment keys)
    wanted: list[tuple[int, list[tuple[int, int]]]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, index: int, d: Delivery, encrypt: Callable[[str, str], str]) -> None:
        decision = d.decision
        keys: list[tuple[int, int]] = []
        for attachment in {a.attachment_id: a for a in decision.attachments}.values():
            akey = (d.account_id, attachment.attachment_id)
            keys.append(akey)
            if self.claims.setdefault(akey, index) != index:
                continue  # the first delivery naming an attachment owns it
            self.rows.append(_transcription_row(d.account_id, decision, attachment, encrypt))
        self.wanted.append((index, keys))


def _transcription_row(
    account_id: int,
    decision: Decision,
    attachment: AudioAttachment,
    encrypt: Callable[[str, str], str],
    source: Source = "webhook",
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "conversation_id": decision.conversation_id,
        "message_id": decision.message_id,
        "attachment_id": attachment.attachment_id,
        "channel": decision.channel[:32],
        "source_url_enc": encrypt(
            attachment.url, attachment_label(account_id, attachment.attachment_id)
        ),
        "filename": (attachment.filename or "")[:512] or None,
        "content_type": (attachment.content_type or "")[:255] or None,
        "file_size": attachment.file_size,
        "inbox_id": decision.inbox_id,
        "source": source,
    }


def _insert_transcriptions(
    conn: Connection,
    plan: _Plan,
    deliveries: Sequence[Delivery],
    delivery_ids: dict[tuple[Any, ...], int],
    results: list[IntakeResult | None],
    now: datetime,
) -> None:
    """Create the new transcriptions; store each accepted delivery's ids and status."""
    created = _insert(conn, _TRANSCRIPTION_ROWS, plan.rows, now) if plan.rows else {}
    known = dict(created)
    collided = [k for k in plan.claims if k not in created]  # an echo, or another event
    for chunk in _chunks(collided):
        for row in conn.execute(_EXISTING_TRANSCRIPTIONS, {"keys": chunk}):
            known[(row[1], row[2])] = int(row[0])
    if len(known) < len(plan.claims):
        raise LookupError("a conflicting transcription row could not be read back")
    updates: list[dict[str, Any]] = []
    for index, keys in plan.wanted:
        ids = tuple(known[k] for k in keys)
        new_ids = tuple(known[k] for k in keys if k in created and plan.claims[k] == index)
        status: Literal["accepted", "duplicate"] = "accepted" if new_ids else "duplicate"
        results[index] = IntakeResult(status, ids, new_ids)
        d = deliveries[index]
        updates.append(
            {
                "delivery_id": delivery_ids[(d.account_id, d.key)],
                "ids": ",".join(map(str, ids)),
                "new_status": status,
            }
        )
    _set_transcriptions(conn, updates)


def _answer_copies(
    deliveries: Sequence[Delivery],
    first: dict[tuple[int, str], int],
    results: list[IntakeResult | None],
) -> list[IntakeResult]:
    """Copies of a delivery inside the batch answer what the first one recorded."""
    final: list[IntakeResult] = []
    for index, d in enumerate(deliveries):
        result = results[index]
        if result is None:
            original = results[first[(d.account_id, d.key)]]
            assert original is not None
            result = IntakeResult("duplicate", original.transcription_ids, ())
        final.append(result)
    return final


@dataclass(frozen=True, slots=True)
class FoundResult:
    """What ``record_found`` did with the audio a scan found."""

    new_ids: tuple[int, ...]  # transcriptions created now: one broker message each
    known: tuple[int, ...]  # attachment ids that already had a transcription


def record_found(
    conn: Connection,
    encrypt: Callable[[str, str], str],
    account_id: int,
    decisions: Sequence[Decision],
    source: Source,
    noted: Sequence[Decision] = (),
    *,
    due: bool = False,
) -> FoundResult:
    """Create the transcriptions of audio found by reading Chatwoot (no delivery row).

    The same unique (account, attachment) constraint as webhooks: audio a webhook, an earlier
    scan or a concurrent one already recorded is ``known``, never a second transcription.
    ``noted`` audio (our note for it is in the conversation) is recorded ``delivered`` with
    reason ``noted`` when it has no row, so that a late webhook for it answers ``duplicate``.
    ``due``: no message will announce the new rows; they are left for the recovery sweep.
    """
    now = utcnow()
    done = _found_rows(encrypt, account_id, noted, source)
    if done:
        _insert(conn, _NOTED_ROWS, list(done.values()), now)
    rows = _found_rows(encrypt, account_id, decisions, source)
    if not rows:
        return FoundResult((), ())
    created = _insert(conn, _DUE_ROWS if due else _TRANSCRIPTION_ROWS, list(rows.values()), now)
    new_ids = tuple(created[(account_id, a)] for a in rows if (account_id, a) in created)
    known = tuple(a for a in rows if (account_id, a) not in created)
    return FoundResult(new_ids, known)


def _found_rows(
    encrypt: Callable[[str, str], str],
    account_id: int,
    decisions: Sequence[Decision],
    source: Source,
) -> dict[int, dict[str, Any]]:
    """One row per attachment of the accepted decisions, by attachment id."""
    rows: dict[int, dict[str, Any]] = {}
    for decision in decisions:
        if not _wants_transcription(decision):
            continue
        for attachment in decision.attachments:
            rows.setdefault(
                attachment.attachment_id,
                _transcription_row(account_id, decision, attachment, encrypt, source),
            )
    return rows


def known_attachments(conn: Connection, account_id: int, attachment_ids: Iterable[int]) -> set[int]:
    """Which of these attachment ids already have a transcription."""
    keys = [(account_id, a) for a in sorted(set(attachment_ids))]
    known: set[int] = set()
    for chunk in _chunks(keys):
        known.update(int(row[2]) for row in conn.execute(_EXISTING_TRANSCRIPTIONS, {"keys": chunk}))
    return known


__all__ = [
    "MAX_DELIVERY_KEY",
    "Delivery",
    "FoundResult",
    "IntakeResult",
    "Source",
    "known_attachments",
    "record_batch",
    "record_found",
]
