"""The transcription ledger: every row of work, every state change, every query about them.

Nothing outside ``adapter.store`` opens a session or builds a query: the receiver records
deliveries here, the actors claim and advance work here, the admin API, ``status`` and the
recovery sweep read here. Each state change goes through :meth:`Ledger._move`, which consults
``adapter.store.states.TRANSITIONS`` and is a compare-and-set ``UPDATE``: a second worker (a
redelivered message, a killed worker's successor) can never finish the same attempt twice.

Leases: a claim writes ``lease_until``; the holder renews it while it works; a row whose lease
ran out was lost and may be claimed again. Long recordings are planned as chunk rows
(``transcript_chunks``), each its own unit of work with its own lease; the ledger is the join
point that knows when the last chunk is done.

A live stream's transcript (``adapter.streams``) arrives whole: :meth:`Ledger.record_stream`
writes it as one row of source ``stream``, already ``transcribed`` (or ``delivered`` when no
note is owed), with what the engine was paid for, so that usage and budgets count it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, and_, case, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from adapter.secrets import SEALED, attachment_label
from adapter.store.db import in_transaction, ping
from adapter.store.intake import (
    Delivery,
    FoundResult,
    IntakeResult,
    Source,
    known_attachments,
    record_batch,
    record_found,
)
from adapter.store.models import TranscriptChunk, Transcription, utcnow
from adapter.store.search import matching
from adapter.store.states import (
    ACTIVE_STATES,
    ChunkState,
    FailureNote,
    State,
    check,
    check_chunk,
)
from channels.base import Decision

T: Table = Transcription.__table__  # type: ignore[attr-defined]
C: Table = TranscriptChunk.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claim:
    """The right to finish one attempt of one step of a transcription."""

    transcription_id: int
    attempt: int


@dataclass(frozen=True)
class ChunkClaim:
    chunk_id: int
    transcription_id: int
    attempt: int


@dataclass(frozen=True)
class ChunkWork:
    chunk_id: int
    account_id: int
    transcription_id: int
    idx: int
    duration: float
    inbox_id: int | None = None  # its language hint may be the inbox's


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk of a plan, as the audio layer made it."""

    idx: int
    offset: float
    duration: float
    billed_seconds: float
    lead_overlap: float
    source_duration: float
    timemap_json: str
    path: Path  # the encoded audio; read into the row
    channel: int | None = None  # the speaker's channel of a stereo call, else None


@dataclass(frozen=True)
class Plan:
    """How a transcription's audio was shaped, and what it cost to shape."""

    chunks: Sequence[PlannedChunk]
    audio_seconds: float
    billed_seconds: float
    upload_bytes: int
    engine: str
    model: str | None


@dataclass(frozen=True)
class Translation:
    text: str
    language: str


@dataclass(frozen=True)
class ExtrasMade:
    """What the chat model wrote for a transcription, what that cost, and what failed."""

    summary: str | None = None
    translation: Translation | None = None
    error: str | None = None
    chat_model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0


#: the source of a live stream's row; such a row answers no message (``message_id`` 0), has no
#: attachment (``attachment_id`` -1, -2, … per account: the unique (account, attachment) pair
#: stays whole, and no Chatwoot attachment id is ever negative) and, without a conversation,
#: ``conversation_id`` 0
STREAM = "stream"
#: the ``channel`` of a stream's row (usage ``--by channel`` shows streams apart)
STREAM_CHANNEL = "stream"
#: how often a stream's row is tried again when another stream of its account took the same
#: negative attachment id at the same moment
_STREAM_ID_ATTEMPTS = 8


@dataclass(frozen=True)
class StreamRecord:
    """A finished live stream, as the ledger stores it (text already masked)."""

    account_id: int
    conversation_id: int | None
    text: str
    language: str | None
    duration: float
    billed_seconds: float
    engine: str
    model: str | None
    started_at: datetime


class NotRetryable(Exception):
    """``retry`` of a row that is missing (404) or not failed/skipped (409)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _claimable(table: Table, now: datetime) -> Any:
    return or_(table.c.lease_until.is_(None), table.c.lease_until < now)


#: the states whose rows may owe a failure note
_NOTED_STATES = (State.failed.value, State.skipped.value)


def _owing(owe_note: bool) -> dict[str, Any]:
    """The values that make a row ending failed or skipped owe its failure note: unless one is
    owed or was posted already, or its transcript note was (a retry never owes a second)."""
    if not owe_note:
        return {}
    fresh = and_(
        T.c.note_message_id.is_(None),
        T.c.source != STREAM,  # no recording to listen to: the transcript stays in the ledger
        or_(
            T.c.failure_note.is_(None),
            T.c.failure_note.not_in([FailureNote.pending.value, FailureNote.posted.value]),
        ),
    )
    return {
        "failure_note": case((fresh, FailureNote.pending.value), else_=T.c.failure_note),
        "failure_note_attempts": case((fresh, 0), else_=T.c.failure_note_attempts),
    }


class Ledger:
    """Transcriptions and their chunks on one database engine."""

    def __init__(self, engine: Engine, *, lease_seconds: float) -> None:
        self.engine = engine
        self.lease = timedelta(seconds=lease_seconds)

    # ─── intake ─────────────────────────────────────────────────────────────────────────────

    def record(
        self, deliveries: Sequence[Delivery], encrypt: Callable[[str, str], str]
    ) -> list[IntakeResult]:
        """Record webhook deliveries and their new transcriptions in one transaction.

        Raises ``StoreUnavailable`` when the database cannot be written.
        """
        return in_transaction(self.engine, lambda conn: record_batch(conn, encrypt, deliveries))

    def record_found(
        self,
        account_id: int,
        decisions: Sequence[Decision],
        encrypt: Callable[[str, str], str],
        *,
        source: Source,
        noted: Sequence[Decision] = (),
        due: bool = False,
    ) -> FoundResult:
        """Record the audio a scan of Chatwoot found (reconciler, backfill): the new
        transcriptions, and the attachments that were known already; ``noted`` audio (our
        note for it is in Chatwoot) as delivered. ``due``: the caller cannot send messages,
        the next recovery sweep of any process sends the new rows."""
        return in_transaction(
            self.engine,
            lambda conn: record_found(conn, encrypt, account_id, decisions, source, noted, due=due),
        )

    def record_stream(self, stream: StreamRecord, *, note: bool) -> int:
        """Record a finished stream as one transcription row; its id.

        ``note``: a note is owed (a conversation, something said): the row is ``transcribed``
        and due at once (its lease runs out now, so that the next recovery sweep sends it if
        the caller's message is lost); else it ends ``delivered`` in the same transaction,
        without a note. ``created_at`` is the stream's start (usage counts it there, as a
        voice note where it was received); ``received_at`` its end, when the transcript was
        whole (from there to the note is the delivery's latency). Raises
        ``StoreUnavailable``."""
        for _ in range(_STREAM_ID_ATTEMPTS):
            try:
                return in_transaction(
                    self.engine, lambda conn: self._insert_stream(conn, stream, note)
                )
            except IntegrityError:
                continue  # another stream of the account took that attachment id: next one
        raise LookupError(f"no free stream id for account {stream.account_id}")

    def _insert_stream(self, conn: Connection, stream: StreamRecord, note: bool) -> int:
        lowest = conn.execute(
            select(func.min(T.c.attachment_id)).where(
                T.c.account_id == stream.account_id, T.c.attachment_id < 0
            )
        ).scalar()
        now = utcnow()
        duration = round(max(stream.duration, 0.0), 3)
        billed = round(max(stream.billed_seconds, 0.0), 3)
        new_id = conn.execute(
            insert(T)
            .values(
                account_id=stream.account_id,
                conversation_id=stream.conversation_id or 0,
                message_id=0,
                attachment_id=min(int(lowest or 0), 0) - 1,
                channel=STREAM_CHANNEL,
                source=STREAM,
                state=State.transcribed.value,
                attempts=1,
                source_url_enc="",
                language=stream.language,
                duration_seconds=duration,
                audio_seconds=duration,
                billed_seconds=billed,
                spent_seconds=billed,
                engine=stream.engine,
                model=stream.model,
                text=stream.text,
                extras_at=None if note else now,  # nothing to add to a note never posted
                lease_until=now if note else None,
                received_at=now,
                created_at=stream.started_at,
                updated_at=now,
            )
            .returning(T.c.id)
        ).scalar_one()
        if not note:
            self._move(
                conn, int(new_id), State.delivered, frm=(State.transcribed,), lease_until=None
            )
        return int(new_id)

    def known_attachments(self, account_id: int, attachment_ids: Iterable[int]) -> set[int]:
        """Which of these attachments already have a transcription (any state)."""
        with self.engine.connect() as conn:
            return known_attachments(conn, account_id, attachment_ids)

    # ─── reading ────────────────────────────────────────────────────────────────────────────

    def ping(self) -> None:
        """Raise if the database does not answer."""
        ping(self.engine)

    def get(self, transcription_id: int) -> Transcription | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Transcription, transcription_id)

    def recent(
        self,
        *,
        account_id: int | None = None,
        state: str | None = None,
        source: str | None = None,
        language: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        q: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Transcription]:
        """The newest transcriptions first (older than ``before_id``: the next page), those
        received in [``since``, ``until``) whose transcript holds every word of ``q``."""
        stmt = select(Transcription).order_by(T.c.id.desc())
        for column, value in (
            (T.c.account_id, account_id),
            (T.c.state, state),
            (T.c.source, source),
            (T.c.language, language),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(T.c.created_at >= since)
        if until is not None:
            stmt = stmt.where(T.c.created_at < until)
        if before_id is not None:
            stmt = stmt.where(T.c.id < before_id)
        if q is not None and q.strip():
            stmt = stmt.where(matching(self.engine, T, q, language))
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(stmt.limit(limit)).scalars())

    def counts(self) -> dict[str, int]:
        """Transcriptions per state (every state present, zero included)."""
        counts = {s.value: 0 for s in State}
        with self.engine.connect() as conn:
            for state, count in conn.execute(select(T.c.state, func.count()).group_by(T.c.state)):
                counts[str(state)] = int(count)
        return counts

    def in_progress(self, limit: int = 20) -> list[Transcription]:
        stmt = (
            select(Transcription)
            .where(T.c.state == State.transcribing.value)
            .order_by(T.c.id)
            .limit(limit)
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(stmt).scalars())

    def ids_in_state(self, state: State, *, account_id: int | None = None) -> list[int]:
        stmt = select(T.c.id).where(T.c.state == state.value)
        if account_id is not None:
            stmt = stmt.where(T.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(stmt.order_by(T.c.id)).scalars()]

    # ─── state changes ──────────────────────────────────────────────────────────────────────

    def _move(
        self,
        conn: Connection,
        transcription_id: int,
        target: State,
        *,
        frm: Iterable[State],
        where: Iterable[Any] = (),
        **values: Any,
    ) -> bool:
        """Compare-and-set ``frm → target``; False when the row was not in ``frm`` (or
        ``where`` did not hold): another worker moved it first."""
        origins = list(frm)
        for origin in origins:
            check(origin, target)
        result = conn.execute(
            update(T)
            .where(
                T.c.id == transcription_id,
                T.c.state.in_([s.value for s in origins]),
                *where,
            )
            .values(state=target.value, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount == 1)

    def _update(self, transcription_id: int, *where: Any, **values: Any) -> bool:
        """Change fields of a row we hold (``where`` names the hold); state stays."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(T)
                .where(T.c.id == transcription_id, *where)
                .values(updated_at=utcnow(), **values)
            )
            return bool(result.rowcount == 1)

    def claim(self, transcription_id: int) -> Claim | None:
        """queued → transcribing, or take over an expired lease; None: someone else has it."""
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(T.c.attempts, T.c.state).where(T.c.id == transcription_id)
            ).first()
            if row is None:
                return None
            attempt = int(row[0]) + 1
            taken = self._move(
                conn,
                transcription_id,
                State.transcribing,
                frm=(State.queued, State.transcribing),
                where=(
                    T.c.attempts == row[0],
                    or_(
                        T.c.state == State.queued.value,
                        # a planned row's work is in its chunks: it is dispatched, not claimed
                        and_(_claimable(T, now), T.c.chunks_total.is_(None)),
                    ),
                ),
                attempts=attempt,
                lease_until=now + self.lease,
                chunks_total=None,  # this attempt plans the chunks afresh
            )
        return Claim(transcription_id, attempt) if taken else None

    def renew(self, claim: Claim, state: State, counter: str = "attempts") -> bool:
        """Push the lease of a held row forward; False when it is no longer ours."""
        return self._update(
            claim.transcription_id,
            T.c.state == state.value,
            T.c[counter] == claim.attempt,
            lease_until=utcnow() + self.lease,
        )

    def end(
        self,
        claim: Claim,
        target: State,
        *,
        reason: str | None,
        error: str | None,
        owe_note: bool = False,
    ) -> bool:
        """Leave ``transcribing`` for ``target`` (skipped, failed, or queued for a retry); with
        ``owe_note``, the row owes its failure note (unless it had one)."""
        with self.engine.begin() as conn:
            return self._move(
                conn,
                claim.transcription_id,
                target,
                frm=(State.transcribing,),
                where=(T.c.attempts == claim.attempt,),
                reason=reason,
                error=error,
                lease_until=None,
                **_owing(owe_note),
            )

    def stop(
        self,
        transcription_id: int,
        target: State,
        *,
        reason: str,
        error: str,
        owe_note: bool = False,
    ) -> bool:
        """transcribing → ``target`` (failed or skipped), whoever holds it: a chunk that cannot
        be done ends its whole transcription (``owe_note`` as for :meth:`end`)."""
        with self.engine.begin() as conn:
            done = self._move(
                conn,
                transcription_id,
                target,
                frm=(State.transcribing,),
                reason=reason,
                error=error,
                lease_until=None,
                **_owing(owe_note),
            )
            if done:
                _drop_chunk_audio(conn, transcription_id)
            return done

    # ─── chunks ─────────────────────────────────────────────────────────────────────────────

    def set_plan(self, claim: Claim, plan: Plan) -> list[tuple[int, float]] | None:
        """Store the chunk plan of a held transcription and release its lease.

        Chunks already ``done`` under an identical plan (same index, offset and duration) are
        kept: a retry never pays for them again. Returns (id, seconds) of the chunks still to
        do, or None when the row is no longer ours.
        """
        with self.engine.begin() as conn:
            held = conn.execute(
                update(T)
                .where(
                    T.c.id == claim.transcription_id,
                    T.c.state == State.transcribing.value,
                    T.c.attempts == claim.attempt,
                )
                .values(
                    chunks_total=len(plan.chunks),
                    chunks_done=0,
                    seconds_done=0.0,
                    audio_seconds=round(plan.audio_seconds, 3),
                    billed_seconds=round(plan.billed_seconds, 3),
                    upload_bytes=int(plan.upload_bytes),
                    engine=plan.engine,
                    model=plan.model,
                    lease_until=None,
                    updated_at=utcnow(),
                )
            )
            if held.rowcount != 1:
                return None
            kept = _keep_done_chunks(conn, claim.transcription_id, plan.chunks)
            todo = [c for c in plan.chunks if c.idx not in kept]
            ids = [(_insert_chunk(conn, claim.transcription_id, c), c.duration) for c in todo]
            _count_done(conn, claim.transcription_id)
        return ids

    def open_chunks(
        self, transcription_id: int, *, idle_for: float | None = None
    ) -> list[tuple[int, float]]:
        """(id, seconds) of the chunks of a planned transcription that are not done and that
        nobody holds; with ``idle_for``, only those untouched for that many seconds, which are
        touched now (so that the recovery sweep re-sends a lost chunk once a period, not every
        chunk still waiting for its account's slot)."""
        now = utcnow()
        stmt = (
            select(C.c.id, C.c.duration_seconds)
            .where(
                C.c.transcription_id == transcription_id,
                C.c.state != ChunkState.done.value,
                _claimable(C, now),
            )
            .order_by(C.c.idx)
        )
        if idle_for is not None:
            stmt = stmt.where(C.c.updated_at <= now - timedelta(seconds=idle_for))
        with self.engine.begin() as conn:
            found = [(int(i), float(d)) for i, d in conn.execute(stmt)]
            if idle_for is not None and found:
                touched = [i for i, _ in found]
                conn.execute(update(C).where(C.c.id.in_(touched)).values(updated_at=now))
        return found

    def chunk_work(self, chunk_id: int) -> ChunkWork | None:
        """What a chunk's message needs to know before it waits for a slot (not its audio);
        None when there is nothing left to do: the chunk is done or its transcription ended."""
        stmt = (
            select(
                T.c.account_id, C.c.transcription_id, C.c.idx, C.c.duration_seconds, T.c.inbox_id
            )
            .join(C, C.c.transcription_id == T.c.id)
            .where(
                C.c.id == chunk_id,
                C.c.state != ChunkState.done.value,
                T.c.state == State.transcribing.value,
            )
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        inbox = None if row[4] is None else int(row[4])
        return ChunkWork(chunk_id, int(row[0]), int(row[1]), int(row[2]), float(row[3]), inbox)

    def chunk_audio(self, chunk_id: int) -> tuple[bytes, str] | None:
        """The encoded audio of a chunk not done yet, and its file extension."""
        with self.engine.connect() as conn:
            row = conn.execute(select(C.c.audio, C.c.audio_ext).where(C.c.id == chunk_id)).first()
        if row is None or row[0] is None:
            return None
        return bytes(row[0]), str(row[1] or "ogg")

    def claim_chunk(self, chunk_id: int) -> ChunkClaim | None:
        """pending → transcribing (or take over an expired lease), while its transcription is
        being transcribed; None: done, held by someone else, or its transcription ended."""
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(C.c.attempts, C.c.transcription_id, T.c.state)
                .join(T, T.c.id == C.c.transcription_id)
                .where(C.c.id == chunk_id)
            ).first()
            if row is None or row[2] != State.transcribing.value:
                return None
            check_chunk(ChunkState.pending, ChunkState.transcribing)
            attempt = int(row[0]) + 1
            result = conn.execute(
                update(C)
                .where(
                    C.c.id == chunk_id,
                    C.c.attempts == row[0],
                    C.c.state != ChunkState.done.value,
                    _claimable(C, now),
                )
                .values(
                    state=ChunkState.transcribing.value,
                    attempts=attempt,
                    lease_until=now + self.lease,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                return None
        return ChunkClaim(chunk_id, int(row[1]), attempt)

    def renew_chunk(self, claim: ChunkClaim) -> bool:
        """Push the lease of a held chunk forward; False when it is no longer ours."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(C)
                .where(
                    C.c.id == claim.chunk_id,
                    C.c.state == ChunkState.transcribing.value,
                    C.c.attempts == claim.attempt,
                )
                .values(lease_until=utcnow() + self.lease)
            )
            return bool(result.rowcount == 1)

    def _move_chunk(
        self, conn: Connection, claim: ChunkClaim, target: ChunkState, **values: Any
    ) -> bool:
        """Compare-and-set a held chunk from ``transcribing`` to ``target``."""
        check_chunk(ChunkState.transcribing, target)
        result = conn.execute(
            update(C)
            .where(
                C.c.id == claim.chunk_id,
                C.c.state == ChunkState.transcribing.value,
                C.c.attempts == claim.attempt,
            )
            .values(state=target.value, lease_until=None, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount == 1)

    def finish_chunk(
        self, claim: ChunkClaim, *, result_json: str, language: str | None, calls: int = 1
    ) -> bool | None:
        """transcribing → done with the engine's result. Returns True when this was the last
        chunk of its transcription, False when others remain, None when the chunk was no
        longer ours (its result is dropped). ``calls``: how many times the engine was sent
        the chunk (2 when it was translated too): each is paid."""
        with self.engine.begin() as conn:
            # chunks finishing at once take turns here: each counts the others' commits, so
            # exactly one sees the last chunk done (READ COMMITTED would let both miss it)
            _lock_transcription(conn, claim.transcription_id)
            if not self._move_chunk(
                conn,
                claim,
                ChunkState.done,
                result_json=result_json,
                language=language,
                audio=None,
                error=None,
            ):
                return None
            _add_spent(conn, claim, calls)
            done, total = _count_done(conn, claim.transcription_id)
        return total is not None and done >= total

    def release_chunk(self, claim: ChunkClaim, error: str) -> bool:
        """transcribing → pending after a transient error: it is tried again later. The error
        is noted on the transcription too, for the admin API."""
        with self.engine.begin() as conn:
            released = self._move_chunk(conn, claim, ChunkState.pending, error=error)
            conn.execute(
                update(T)
                .where(T.c.id == claim.transcription_id)
                .values(error=error, updated_at=utcnow())
            )
            return released

    def chunks_left(self, transcription_id: int) -> int:
        """How many chunks of a planned transcription are not done."""
        stmt = select(func.count()).where(
            C.c.transcription_id == transcription_id, C.c.state != ChunkState.done.value
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def done_chunks(self, transcription_id: int) -> list[TranscriptChunk]:
        """The finished chunks of a transcription, in order."""
        stmt = (
            select(TranscriptChunk)
            .where(
                C.c.transcription_id == transcription_id,
                C.c.state == ChunkState.done.value,
            )
            .order_by(C.c.idx)
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(stmt).scalars())

    def complete(
        self,
        transcription_id: int,
        *,
        text: str,
        language: str | None,
        duration: float,
        translation: Translation | None = None,
        turns_json: str | None = None,
    ) -> bool:
        """transcribing → transcribed once every chunk is done; True for the one caller that
        made the move (two last chunks finishing at once both try). ``translation``: the
        engine's, made chunk by chunk; ``turns_json``: a stereo call's speaker turns."""
        with self.engine.begin() as conn:
            _lock_transcription(conn, transcription_id)
            _count_done(conn, transcription_id)  # the progress stored is recounted, not trusted
            moved = self._move(
                conn,
                transcription_id,
                State.transcribed,
                frm=(State.transcribing,),
                where=(T.c.chunks_total.is_not(None), T.c.chunks_done >= T.c.chunks_total),
                text=text,
                language=language,
                duration_seconds=round(duration, 3),
                translation=translation.text if translation else None,
                translation_language=translation.language if translation else None,
                turns_json=turns_json,
                error=None,
                reason=None,
                lease_until=None,
            )
            if moved:
                _drop_chunk_audio(conn, transcription_id)
            return moved

    def set_extras(self, claim: Claim, extras: ExtrasMade) -> bool:
        """Store what the chat model made for a held ``transcribed`` row (or why it could not)
        and mark its extras settled: a later delivery attempt posts them without asking
        again. Tokens add up (a summary and a translation are two calls)."""
        values: dict[str, Any] = {
            "extras_at": utcnow(),
            "extras_error": extras.error,
            "chat_input_tokens": T.c.chat_input_tokens + extras.input_tokens,
            "chat_output_tokens": T.c.chat_output_tokens + extras.output_tokens,
        }
        if extras.summary is not None:
            values["summary"] = extras.summary
        if extras.translation is not None:
            values["translation"] = extras.translation.text
            values["translation_language"] = extras.translation.language
        if extras.chat_model is not None:
            values["chat_model"] = extras.chat_model
        return self._update(claim.transcription_id, *self._held_delivery(claim), **values)

    # ─── delivery ───────────────────────────────────────────────────────────────────────────

    def _claim_write(
        self, transcription_id: int, counter: str, lease: str, *where: Any
    ) -> Claim | None:
        """Hold a row for one attempt of a write to Chatwoot: compare-and-set its attempt
        ``counter`` while ``where`` holds and its ``lease`` column is free."""
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(T.c[counter]).where(T.c.id == transcription_id, *where)
            ).first()
            if row is None:
                return None
            attempt = int(row[0]) + 1
            result = conn.execute(
                update(T)
                .where(
                    T.c.id == transcription_id,
                    *where,
                    T.c[counter] == row[0],
                    or_(T.c[lease].is_(None), T.c[lease] < now),
                )
                .values({counter: attempt, lease: now + self.lease, "updated_at": now})
            )
            if result.rowcount != 1:
                return None
        return Claim(transcription_id, attempt)

    def claim_delivery(self, transcription_id: int) -> Claim | None:
        """Hold a ``transcribed`` row for one delivery attempt."""
        return self._claim_write(
            transcription_id,
            "delivery_attempts",
            "lease_until",
            T.c.state == State.transcribed.value,
        )

    def _held_delivery(self, claim: Claim) -> tuple[Any, Any]:
        return (
            T.c.state == State.transcribed.value,
            T.c.delivery_attempts == claim.attempt,
        )

    def note_posted(self, claim: Claim, note_id: int | None) -> bool:
        return self._update(
            claim.transcription_id,
            *self._held_delivery(claim),
            note_message_id=note_id,
            delivered_at=utcnow(),
        )

    def attribute_set(self, claim: Claim) -> bool:
        return self._update(claim.transcription_id, *self._held_delivery(claim), attribute_set=True)

    def _end_delivery(self, claim: Claim, target: State, **values: Any) -> bool:
        with self.engine.begin() as conn:
            return self._move(
                conn,
                claim.transcription_id,
                target,
                frm=(State.transcribed,),
                where=(T.c.delivery_attempts == claim.attempt,),
                lease_until=None,
                **values,
            )

    def delivered(self, claim: Claim) -> bool:
        return self._end_delivery(claim, State.delivered, error=None, reason=None)

    def delivery_failed(
        self, claim: Claim, *, reason: str, error: str, owe_note: bool = False
    ) -> bool:
        """transcribed → failed; with ``owe_note``, its failure note is owed unless the
        transcript note was posted (then the agents have the words)."""
        return self._end_delivery(
            claim, State.failed, reason=reason, error=error, **_owing(owe_note)
        )

    def delivery_later(self, claim: Claim, error: str) -> bool:
        """Give the row back after a transient delivery error; it stays ``transcribed``."""
        return self._update(
            claim.transcription_id, *self._held_delivery(claim), error=error, lease_until=None
        )

    # ─── failure notes ──────────────────────────────────────────────────────────────────────

    def claim_failure_note(self, transcription_id: int) -> Claim | None:
        """Hold the failure note a failed or skipped row owes, for one attempt to post it;
        None: nothing owed, or someone else holds it."""
        return self._claim_write(
            transcription_id, "failure_note_attempts", "failure_note_lease", *_owes_note()
        )

    def renew_failure_note(self, claim: Claim) -> bool:
        """Push the lease of a held failure note forward; False when it is no longer ours."""
        return self._update(
            claim.transcription_id,
            *_held_note(claim),
            failure_note_lease=utcnow() + self.lease,
        )

    def failure_note_posted(self, claim: Claim, note_id: int) -> bool:
        """Store the posted note's id (0: unknown) at once: it is never posted twice. Also
        when a retry cancelled it meanwhile: it was posted all the same."""
        return self._update(
            claim.transcription_id,
            T.c.failure_note_attempts == claim.attempt,
            or_(T.c.failure_note.is_(None), T.c.failure_note == FailureNote.pending.value),
            failure_note=FailureNote.posted.value,
            failure_note_id=note_id,
            failure_note_lease=None,
        )

    def failure_note_ended(self, claim: Claim, outcome: FailureNote) -> bool:
        """Not posted, for good: ``gave_up`` or ``off``."""
        return self._update(
            claim.transcription_id,
            *_held_note(claim),
            failure_note=outcome.value,
            failure_note_lease=None,
        )

    def failure_note_later(self, claim: Claim) -> bool:
        """Give the note back after a transient error; it stays owed."""
        return self._update(claim.transcription_id, *_held_note(claim), failure_note_lease=None)

    def notes_owed(self, stuck_after: float) -> list[int]:
        """Rows whose failure note was lost on its way: its lease ran out, or it has none and
        the row has not moved for ``stuck_after`` seconds. Touched, as in :meth:`lost`."""
        now = utcnow()
        stmt = select(T.c.id).where(
            *_owes_note(),
            or_(
                T.c.failure_note_lease < now,
                and_(
                    T.c.failure_note_lease.is_(None),
                    T.c.updated_at <= now - timedelta(seconds=stuck_after),
                ),
            ),
        )
        with self.engine.begin() as conn:
            ids = [int(i) for i in conn.execute(stmt.order_by(T.c.id)).scalars()]
            if ids:
                conn.execute(update(T).where(T.c.id.in_(ids)).values(updated_at=now))
        return ids

    # ─── operations ─────────────────────────────────────────────────────────────────────────

    def retry(self, transcription_id: int) -> Transcription:
        """failed/skipped → queued (or → transcribed when the transcript exists: never pay
        twice). Raises :class:`NotRetryable`.

        The row is left due at once: its lease is set to run out now, so the next recovery
        sweep of any process sends it (:meth:`lost`), also when the caller's message cannot
        reach a worker (``transcriber retry`` beside ``transcriber up``'s in-process broker).
        A failure note still pending is cancelled: the retry delivers the transcript, or ends
        again and owes one then; a posted one stays posted and is never owed again."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(Transcription, transcription_id)
            if row is None:
                raise NotRetryable("transcription not found", 404)
            current = State(row.state)
            if current not in (State.failed, State.skipped):
                raise NotRetryable(
                    "only failed or skipped transcriptions can be retried "
                    f"(this one is {row.state})",
                    409,
                )
            target = State.transcribed if row.text is not None else State.queued
            check(current, target)
            row.state = target.value
            if target is State.queued:
                row.attempts = 0
            if not row.spent_seconds:
                # nothing was paid for it yet: it is made now, so usage and the budget count
                # it in this month (when it was received stays in ``received_at``)
                row.created_at = utcnow()
            row.delivery_attempts = 0
            row.error = None
            row.reason = None
            row.lease_until = row.updated_at = utcnow()
            if row.failure_note == FailureNote.pending:
                row.failure_note = None
            session.add(row)
            session.commit()
            return row

    def lost(self, stuck_after: float) -> list[tuple[int, State]]:
        """Unfinished rows whose work was lost: lease expired, or a chunk's lease expired
        (its worker died while others may still hold the transcription), or no lease and no
        move for ``stuck_after`` seconds. They are touched, so the next sweep waits a period.

        A queued row has a lease only when :meth:`retry` made it due: it is found once, its
        lease dropped, and from then on it waits like any queued row."""
        now = utcnow()
        cutoff = now - timedelta(seconds=stuck_after)
        dead_chunk = (
            select(C.c.id)
            .where(
                C.c.transcription_id == T.c.id,
                C.c.state == ChunkState.transcribing.value,
                C.c.lease_until < now,
            )
            .exists()
        )
        stmt = select(T.c.id, T.c.state).where(
            T.c.state.in_([s.value for s in ACTIVE_STATES]),
            or_(
                T.c.lease_until < now,
                and_(T.c.lease_until.is_(None), T.c.updated_at <= cutoff),
                and_(T.c.state == State.transcribing.value, dead_chunk),
            ),
        )
        with self.engine.begin() as conn:
            rows = [(int(i), State(s)) for i, s in conn.execute(stmt.order_by(T.c.id))]
            if rows:
                ids = [i for i, _ in rows]
                conn.execute(update(T).where(T.c.id.in_(ids)).values(updated_at=now))
                conn.execute(
                    update(T)
                    .where(T.c.id.in_(ids), T.c.state == State.queued.value)
                    .values(lease_until=None)
                )
        return rows

    def rotate_secrets(
        self, rotate: Callable[[str, str, str], str], *, unsealed_only: bool = False
    ) -> int:
        """Replace every stored attachment URL (``unsealed_only``: those not sealed yet) by
        ``rotate(token, label, what)``; how many changed."""
        count = 0
        stmt = select(Transcription).where(T.c.source_url_enc != "")
        if unsealed_only:
            stmt = stmt.where(~T.c.source_url_enc.startswith(SEALED))
        with Session(self.engine) as session:
            for row in session.execute(stmt).scalars():
                label = attachment_label(row.account_id, row.attachment_id)
                changed = rotate(row.source_url_enc, label, f"transcription {row.id} source_url")
                if changed != row.source_url_enc:
                    row.source_url_enc = changed
                    session.add(row)
                    count += 1
            session.commit()
        return count


def _owes_note() -> tuple[Any, Any]:
    """A row that owes its failure note (and still ended so: a retry moved it on)."""
    return (T.c.failure_note == FailureNote.pending.value, T.c.state.in_(_NOTED_STATES))


def _held_note(claim: Claim) -> tuple[Any, Any]:
    """The failure note ``claim`` holds, still owed."""
    return (
        T.c.failure_note == FailureNote.pending.value,
        T.c.failure_note_attempts == claim.attempt,
    )


# ─── chunk helpers (on the caller's connection) ─────────────────────────────────────────────


def _keep_done_chunks(
    conn: Connection, transcription_id: int, chunks: Sequence[PlannedChunk]
) -> set[int]:
    """Delete the chunks that do not match ``chunks``; the indexes of the done ones kept."""
    plan = {c.idx: (round(c.offset, 3), round(c.duration, 3), c.channel) for c in chunks}
    kept: set[int] = set()
    stale: list[int] = []
    rows = conn.execute(
        select(
            C.c.id, C.c.idx, C.c.state, C.c.offset_seconds, C.c.duration_seconds, C.c.channel
        ).where(C.c.transcription_id == transcription_id)
    )
    for chunk_id, idx, state, offset, duration, channel in rows:
        same = plan.get(idx) == (round(offset, 3), round(duration, 3), channel)
        if same and state == ChunkState.done.value:
            kept.add(int(idx))
        else:
            stale.append(int(chunk_id))
    if stale:
        conn.execute(C.delete().where(C.c.id.in_(stale)))
    return kept


def _insert_chunk(conn: Connection, transcription_id: int, chunk: PlannedChunk) -> int:
    now = utcnow()
    result = conn.execute(
        C.insert()
        .values(
            transcription_id=transcription_id,
            idx=chunk.idx,
            state=ChunkState.pending.value,
            attempts=0,
            offset_seconds=round(chunk.offset, 3),
            duration_seconds=round(chunk.duration, 3),
            billed_seconds=round(chunk.billed_seconds, 3),
            lead_overlap=chunk.lead_overlap,
            source_duration=chunk.source_duration,
            timemap_json=chunk.timemap_json,
            channel=chunk.channel,
            audio=chunk.path.read_bytes(),
            audio_ext=chunk.path.suffix.lstrip(".").lower()[:16] or None,
            created_at=now,
            updated_at=now,
        )
        .returning(C.c.id)
    )
    return int(result.scalar_one())


def _lock_transcription(conn: Connection, transcription_id: int) -> None:
    """Hold the transcription's row until the transaction ends. A write, not ``SELECT … FOR
    UPDATE``: it takes PostgreSQL's row lock and SQLite's write lock before anything is read
    (a SQLite transaction that reads first cannot upgrade once another one has written)."""
    conn.execute(update(T).where(T.c.id == transcription_id).values(updated_at=utcnow()))


def _count_done(conn: Connection, transcription_id: int) -> tuple[int, int | None]:
    """Store the progress (chunks and seconds done) of a transcription; (done, total)."""
    done, seconds = conn.execute(
        select(func.count(), func.coalesce(func.sum(C.c.duration_seconds), 0.0)).where(
            C.c.transcription_id == transcription_id, C.c.state == ChunkState.done.value
        )
    ).one()
    conn.execute(
        update(T)
        .where(T.c.id == transcription_id)
        .values(chunks_done=int(done), seconds_done=round(float(seconds), 3), updated_at=utcnow())
    )
    total = conn.execute(select(T.c.chunks_total).where(T.c.id == transcription_id)).scalar()
    return int(done), None if total is None else int(total)


def _add_spent(conn: Connection, claim: ChunkClaim, calls: int) -> None:
    """The engine was paid ``calls`` times for the chunk: add its billed seconds to what the
    transcription spent (kept through failures and retries: usage and budgets count it)."""
    billed = select(C.c.billed_seconds).where(C.c.id == claim.chunk_id).scalar_subquery()
    conn.execute(
        update(T)
        .where(T.c.id == claim.transcription_id)
        .values(spent_seconds=T.c.spent_seconds + calls * func.coalesce(billed, 0.0))
    )


def _drop_chunk_audio(conn: Connection, transcription_id: int) -> None:
    """The chunks' audio is only kept while it may still be sent."""
    conn.execute(
        update(C)
        .where(C.c.transcription_id == transcription_id, C.c.audio.is_not(None))
        .values(audio=None)
    )


__all__ = [
    "ChunkClaim",
    "ChunkWork",
    "Claim",
    "ExtrasMade",
    "Ledger",
    "NotRetryable",
    "Plan",
    "PlannedChunk",
    "Translation",
]
