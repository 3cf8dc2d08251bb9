"""Operations on transcriptions outside the actors: retry, recovery sweep, status counts."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, func, or_, select, update
from sqlmodel import Session

from adapter.jobs.broker import queue_depth
from adapter.runtime import Runtime
from adapter.store import ACTIVE_STATES, State, Transcription, utcnow
from adapter.views import transcription_view

log = logging.getLogger(__name__)

T = Transcription
TT: Table = Transcription.__table__  # type: ignore[attr-defined]
TC = TT.c


class RetryRefused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _requeue_state(row: Transcription) -> State:
    """A failed row with a transcript only needs delivering again: never pay twice."""
    return State.transcribed if row.text is not None else State.queued


def _send(rt: Runtime, transcription_id: int, state: State) -> None:
    if state is State.transcribed:
        rt.actors.deliver.send(transcription_id)
    else:
        rt.actors.transcribe.send(transcription_id)


def retry_one(rt: Runtime, transcription_id: int) -> dict[str, Any]:
    with Session(rt.db, expire_on_commit=False) as session:
        row = session.get(Transcription, transcription_id)
        if row is None:
            raise RetryRefused("transcription not found", 404)
        if row.state not in (State.failed.value, State.skipped.value):
            raise RetryRefused(
                f"only failed or skipped transcriptions can be retried (this one is {row.state})",
                409,
            )
        target = _requeue_state(row)
        row.state = target.value
        row.attempts = 0 if target is State.queued else row.attempts
        row.delivery_attempts = 0
        row.error = None
        row.reason = None
        row.lease_until = None
        row.updated_at = utcnow()
        session.add(row)
        session.commit()
        view = transcription_view(row)
    _send(rt, transcription_id, target)
    return view


def retry_many(rt: Runtime, *, account_id: int | None, state: str) -> list[int]:
    stmt = select(TC.id).where(TC.state == state)
    if account_id is not None:
        stmt = stmt.where(TC.account_id == account_id)
    with Session(rt.db) as session:
        ids = [int(i) for i in session.execute(stmt.order_by(TC.id)).scalars()]
    done = []
    for tid in ids:
        try:
            retry_one(rt, tid)
            done.append(tid)
        except RetryRefused:
            continue  # changed state meanwhile
    return done


def recover(rt: Runtime, *, stuck_after: float | None = None) -> list[int]:
    """Re-enqueue unfinished rows whose work was lost (broker message gone, worker killed).

    A row counts as lost when its lease has expired, or it has no lease and has not moved for
    ``stuck_after`` seconds. Sending twice is harmless: the actors claim rows by compare-and-set.
    """
    now = utcnow()
    age = rt.settings.stuck_after_seconds if stuck_after is None else stuck_after
    cutoff = now - timedelta(seconds=age)
    stmt = select(TC.id, TC.state).where(
        TC.state.in_([s.value for s in ACTIVE_STATES]),
        or_(
            TC.lease_until < now,
            (TC.lease_until.is_(None)) & (TC.updated_at <= cutoff),
        ),
    )
    with Session(rt.db) as session:
        rows = [(int(i), str(s)) for i, s in session.execute(stmt.order_by(TC.id))]
        # touch them so the next sweep waits another full period
        if rows:
            session.execute(
                update(TT).where(TC.id.in_([i for i, _ in rows])).values(updated_at=now)
            )
            session.commit()
    _gauges(rt)
    sent = []
    for tid, state in rows:
        target = State.transcribed if state == State.transcribed.value else State.queued
        try:
            _send(rt, tid, target)
            sent.append(tid)
        except Exception:
            log.exception("could not re-enqueue transcription %s", tid)
    if sent:
        log.warning("re-enqueued %d stuck transcription(s)", len(sent), extra={"count": len(sent)})
    return sent


def _gauges(rt: Runtime) -> None:
    """Queue depth and rows per state, sent with every recovery sweep."""
    from adapter.observability import metrics

    try:
        with Session(rt.db) as session:
            counts = dict(session.execute(select(TC.state, func.count()).group_by(TC.state)).all())
        for state in State:
            metrics.gauge(f"transcriptions.state.{state.value}", int(counts.get(state.value, 0)))
        for queue, depth in queue_depth(rt.broker).items():
            metrics.gauge(f"queue.depth.{queue}", depth)
    except Exception:
        log.warning("could not compute gauges")


def status_counts(rt: Runtime) -> dict[str, Any]:
    with Session(rt.db) as session:
        counts = {s.value: 0 for s in State}
        for state, count in session.execute(select(TC.state, func.count()).group_by(TC.state)):
            counts[str(state)] = int(count)
        active = [
            transcription_view(r)
            for r in session.execute(
                select(T).where(TC.state == State.transcribing.value).order_by(TC.id).limit(20)
            ).scalars()
        ]
    try:
        depth: dict[str, int] | None = queue_depth(rt.broker)
    except Exception:
        depth = None
    return {
        "states": counts,
        "queue_depth": depth,
        "in_progress": [{"id": v["id"], "progress": v["progress"]} for v in active],
    }


__all__ = ["RetryRefused", "recover", "retry_many", "retry_one", "status_counts"]
