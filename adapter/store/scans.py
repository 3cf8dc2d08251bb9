"""The scans of Chatwoot (reconciler, backfill): per-account watermarks and leases, and the
conversations already scanned.

- ``account_scans``: one row per account. A scan *claims* it (a compare-and-set UPDATE of its
  lease, so one scan per account runs at a time across every process), renews the lease while
  it walks, and *finishes* it: the watermark moves to the end of the window only when the whole
  window was scanned, so a failed or killed scan is simply done again from the same watermark.
- ``conversation_scans``: one row per conversation scanned completely, with the span it covered
  and what it held. A later scan passes a conversation whose ``last_activity_at`` has not moved
  without reading its messages: re-running a backfill, or reconciling an account whose
  conversations are mostly quiet, costs one listing request per 25 conversations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from adapter.store.models import AccountScan, ConversationScan, utcnow

S: Table = AccountScan.__table__  # type: ignore[attr-defined]
CS: Table = ConversationScan.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ScanLease:
    """The right to scan one account now, until the lease runs out unrenewed."""

    account_id: int
    owner: str


@dataclass(frozen=True)
class Covered:
    """A conversation scanned completely: what Chatwoot listed then, the span, the counts."""

    last_activity_at: int
    since: datetime
    until: datetime
    counts: dict[str, int]


def _insert(conn: Connection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class ScanStore:
    """Scan state on one database engine."""

    def __init__(self, engine: Engine, *, lease_seconds: float) -> None:
        self.engine = engine
        self.lease = timedelta(seconds=lease_seconds)

    # ─── accounts ───────────────────────────────────────────────────────────────────────────

    def claim(self, account_id: int, owner: str, *, idle_for: float = 0.0) -> ScanLease | None:
        """Take the account's scan lease; None while another scan holds it, or when the last
        scan finished less than ``idle_for`` seconds ago (another process just did it)."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                _insert(conn, S)
                .values(account_id=account_id, found_total=0)
                .on_conflict_do_nothing(index_elements=["account_id"])
            )
            conditions = [
                S.c.account_id == account_id,
                or_(S.c.lease_until.is_(None), S.c.lease_until < now),
            ]
            if idle_for > 0:
                cutoff = now - timedelta(seconds=idle_for)
                conditions.append(or_(S.c.finished_at.is_(None), S.c.finished_at <= cutoff))
            result = conn.execute(
                update(S)
                .where(*conditions)
                .values(lease_until=now + self.lease, lease_owner=owner[:64], started_at=now)
            )
        return ScanLease(account_id, owner[:64]) if result.rowcount == 1 else None

    def renew(self, lease: ScanLease) -> bool:
        """Extend a held lease; False when it was lost (expired and taken by another)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(S)
                .where(S.c.account_id == lease.account_id, S.c.lease_owner == lease.owner)
                .values(lease_until=utcnow() + self.lease)
            )
        return bool(result.rowcount == 1)

    def finish(
        self,
        lease: ScanLease,
        *,
        status: str,
        error: str | None,
        counts: Mapping[str, int],
        watermark: datetime | None,
        found: int = 0,
    ) -> bool:
        """Record a scan's end and release the lease; ``watermark`` None leaves it where it
        was (the window was not scanned completely). False when the lease had been lost."""
        values: dict[str, Any] = {
            "lease_until": None,
            "lease_owner": None,
            "finished_at": utcnow(),
            "status": status[:24],
            "error": error,
            "counts_json": json.dumps(dict(counts), separators=(",", ":")),
            "found_total": S.c.found_total + found,
        }
        if watermark is not None:
            values["watermark"] = watermark
        with self.engine.begin() as conn:
            result = conn.execute(
                update(S)
                .where(S.c.account_id == lease.account_id, S.c.lease_owner == lease.owner)
                .values(**values)
            )
        return bool(result.rowcount == 1)

    def get(self, account_id: int) -> AccountScan | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(AccountScan, account_id)

    def all(self) -> dict[int, AccountScan]:
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.execute(select(AccountScan).order_by(S.c.account_id)).scalars()
            return {row.account_id: row for row in rows}

    # ─── conversations ──────────────────────────────────────────────────────────────────────

    def covered(self, account_id: int, conversation_id: int) -> Covered | None:
        stmt = select(
            CS.c.last_activity_at, CS.c.covered_since, CS.c.covered_until, CS.c.counts_json
        ).where(CS.c.account_id == account_id, CS.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return Covered(int(row[0]), _aware(row[1]), _aware(row[2]), json.loads(row[3]))

    def cover(
        self,
        account_id: int,
        conversation_id: int,
        *,
        last_activity_at: int,
        since: datetime,
        until: datetime,
        counts: Mapping[str, int],
    ) -> None:
        """Remember that the conversation was scanned completely over ``[since, until]``."""
        values = {
            "last_activity_at": last_activity_at,
            "covered_since": since,
            "covered_until": until,
            "counts_json": json.dumps(dict(counts), separators=(",", ":")),
        }
        with self.engine.begin() as conn:
            stmt = _insert(conn, CS).values(
                account_id=account_id, conversation_id=conversation_id, **values
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["account_id", "conversation_id"], set_=values
                )
            )


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


__all__ = ["Covered", "ScanLease", "ScanStore"]
