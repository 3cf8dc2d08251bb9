"""Usage queries: what the transcriptions of a window amount to, how fast notes came, and the
budget alerts said this month.

Usage counts a transcription in the window of its ``created_at`` (when it was received or
found, or retried when nothing had been paid for it yet), UTC. Billed seconds are what the
engine was sent and paid for (``spent_seconds``, chunk by chunk: a transcription that failed
after some chunks counts those); audio seconds are those of recordings that produced a
transcript; failed and skipped ones are counted too. Audio the reconciler found already
answered by our note (reason ``noted``) was not made by this database: it is left out. Money
is not summed
here: rows come out per (key, engine, model) and ``adapter.usage`` prices them, so that a
change of ``TRANSCRIBER_PRICES`` restates every figure. The queries use the indexes on
(``account_id``, ``created_at``) and on ``created_at`` (bench/usage.py: one account's month
of a million rows in about 25 ms on PostgreSQL).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast, get_args

from sqlalchemy import Table, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adapter.store.models import BudgetAlert, Transcription, utcnow
from adapter.store.states import State

T: Table = Transcription.__table__  # type: ignore[attr-defined]
A: Table = BudgetAlert.__table__  # type: ignore[attr-defined]

Grouping = Literal["day", "month", "account", "inbox", "channel", "language", "model"]
GROUPINGS: tuple[str, ...] = get_args(Grouping)
#: audio the reconciler found with our note already posted: not made here, not counted
NOTED = "noted"


def grouping(text: str) -> Grouping:
    """``text`` as a :data:`Grouping`; ``ValueError`` naming the choices."""
    if text not in GROUPINGS:
        raise ValueError(f"must be one of {', '.join(GROUPINGS)}")
    return cast(Grouping, text)


@dataclass(frozen=True)
class UsageCell:
    """The transcriptions of one key made by one engine and model."""

    key: str | int | None
    engine: str | None
    model: str | None
    transcriptions: int
    audio_seconds: float
    billed_seconds: float
    failed: int
    skipped: int


@dataclass(frozen=True)
class ChatCell:
    """The tokens one chat model read and wrote for the transcriptions of one key."""

    key: str | int | None
    model: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Timings:
    """Transcriptions that ended since a time: how many, and webhook-to-note seconds."""

    delivered: int
    failed: int
    p50_seconds: float | None
    p95_seconds: float | None

    @property
    def success_rate(self) -> float | None:
        ended = self.delivered + self.failed
        return self.delivered / ended if ended else None


def _key(engine: Engine, by: Grouping) -> Any:
    if by in ("day", "month"):
        if engine.dialect.name == "postgresql":
            pattern = "YYYY-MM-DD" if by == "day" else "YYYY-MM"
            return func.to_char(func.timezone("UTC", T.c.created_at), pattern)
        return func.substr(T.c.created_at, 1, 10 if by == "day" else 7)
    column = {"account": "account_id", "inbox": "inbox_id"}.get(by, by)
    return T.c[column]


def _window(account_id: int | None, since: datetime | None, until: datetime | None) -> list[Any]:
    where = []
    if account_id is not None:
        where.append(T.c.account_id == account_id)
    if since is not None:
        where.append(T.c.created_at >= since)
    if until is not None:
        where.append(T.c.created_at < until)
    return where


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of sorted values, interpolated as PostgreSQL's
    ``percentile_cont`` does."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class UsageStore:
    """Usage, timings and budget alerts on one database engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cells(
        self,
        by: Grouping,
        *,
        account_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[UsageCell]:
        """The window's transcriptions grouped by ``by``, then engine and model."""
        key = _key(self.engine, by).label("key")
        made = T.c.text.is_not(None)
        stmt = (
            select(
                key,
                T.c.engine,
                T.c.model,
                func.count().label("n"),
                func.sum(case((made, func.coalesce(T.c.audio_seconds, 0.0)), else_=0.0)),
                func.sum(T.c.spent_seconds),
                func.sum(case((T.c.state == State.failed.value, 1), else_=0)),
                func.sum(case((T.c.state == State.skipped.value, 1), else_=0)),
            )
            .where(*_window(account_id, since, until))
            .group_by(key, T.c.engine, T.c.model)
        )
        with self.engine.connect() as conn:
            return [
                UsageCell(
                    key=row[0],
                    engine=row[1],
                    model=row[2],
                    transcriptions=int(row[3]),
                    audio_seconds=float(row[4] or 0.0),
                    billed_seconds=float(row[5] or 0.0),
                    failed=int(row[6] or 0),
                    skipped=int(row[7] or 0),
                )
                for row in conn.execute(stmt)
            ]

    def chat_cells(
        self,
        by: Grouping,
        *,
        account_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ChatCell]:
        """The window's chat tokens (summaries, translations) grouped by ``by`` and chat
        model; by ``model``, the key is the chat model."""
        key = (T.c.chat_model if by == "model" else _key(self.engine, by)).label("key")
        stmt = (
            select(
                key,
                T.c.chat_model,
                func.sum(T.c.chat_input_tokens),
                func.sum(T.c.chat_output_tokens),
            )
            .where(*_window(account_id, since, until), T.c.chat_model.is_not(None))
            .group_by(key, T.c.chat_model)
        )
        with self.engine.connect() as conn:
            return [
                ChatCell(row[0], row[1], int(row[2] or 0), int(row[3] or 0))
                for row in conn.execute(stmt)
            ]

    def committed(
        self, account_id: int, since: datetime, *, besides: int | None = None
    ) -> list[tuple[str | None, str | None, float]]:
        """Seconds per (engine, model) the account's engine was paid for since ``since``, or
        will be (the rest of planned transcriptions in progress), other than transcription
        ``besides``: what a budget has spent or promised."""
        planned = and_(T.c.state == State.transcribing.value, T.c.chunks_total.is_not(None))
        left = func.coalesce(T.c.billed_seconds, 0.0) - T.c.spent_seconds
        promised = case((and_(planned, left > 0), left), else_=0.0)
        stmt = (
            select(T.c.engine, T.c.model, func.sum(T.c.spent_seconds + promised))
            .where(T.c.account_id == account_id, T.c.created_at >= since)
            .where(or_(T.c.spent_seconds > 0, planned))
            .group_by(T.c.engine, T.c.model)
        )
        if besides is not None:
            stmt = stmt.where(T.c.id != besides)
        with self.engine.connect() as conn:
            return [(row[0], row[1], float(row[2] or 0.0)) for row in conn.execute(stmt)]

    def timings(self, since: datetime) -> Timings:
        """Webhook transcriptions delivered or failed since ``since``: counts, and the
        50th/95th percentile of seconds from the webhook to the note."""
        delivered = and_(T.c.state == State.delivered.value, T.c.delivered_at >= since)
        failed = and_(T.c.state == State.failed.value, T.c.updated_at >= since)
        counts = select(
            func.sum(case((delivered, 1), else_=0)), func.sum(case((failed, 1), else_=0))
        ).where(T.c.updated_at >= since)
        timed = and_(delivered, T.c.source == "webhook", T.c.delivered_at.is_not(None))
        with self.engine.connect() as conn:
            n_delivered, n_failed = conn.execute(counts).one()
            p50, p95 = self._percentiles(conn, timed)
        return Timings(int(n_delivered or 0), int(n_failed or 0), p50, p95)

    def _percentiles(self, conn: Any, where: Any) -> tuple[float | None, float | None]:
        if conn.dialect.name == "postgresql":
            seconds = func.extract("epoch", T.c.delivered_at - T.c.received_at)
            row = conn.execute(
                select(
                    func.percentile_cont(0.5).within_group(seconds),
                    func.percentile_cont(0.95).within_group(seconds),
                ).where(where)
            ).one()
            return (
                None if row[0] is None else float(row[0]),
                None if row[1] is None else float(row[1]),
            )
        days = func.julianday(T.c.delivered_at) - func.julianday(T.c.received_at)
        found = conn.execute(select(days * 86400.0).where(where)).scalars()
        values = sorted(max(0.0, float(v)) for v in found)
        return percentile(values, 0.5), percentile(values, 0.95)

    # ─── budget alerts ──────────────────────────────────────────────────────────────────────

    def record_alert(
        self, account_id: int, month: str, threshold: int, *, spent_usd: float, budget_usd: float
    ) -> bool:
        """Note that ``account_id`` crossed ``threshold`` % of its budget in ``month``; True
        for the one caller that noted it first (it says so)."""
        values = {
            "account_id": account_id,
            "month": month,
            "threshold": threshold,
            "spent_usd": round(spent_usd, 6),
            "budget_usd": budget_usd,
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(A).values(**values, created_at=utcnow())
        stmt = stmt.on_conflict_do_nothing(
            index_elements=["account_id", "month", "threshold"]
        ).returning(A.c.account_id)
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def alerts(self, month: str) -> list[BudgetAlert]:
        """The budget alerts of ``month`` (``YYYY-MM``), per account, highest threshold last."""
        stmt = select(BudgetAlert).where(A.c.month == month).order_by(A.c.account_id, A.c.threshold)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(stmt).scalars())


__all__ = [
    "GROUPINGS",
    "NOTED",
    "ChatCell",
    "Grouping",
    "Timings",
    "UsageCell",
    "UsageStore",
    "grouping",
    "percentile",
]
