"""The ledger on SQLite and PostgreSQL: claims are compare-and-set, chunks join once, retries
never pay twice, and no state change happens that the table does not allow."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from adapter.store import (
    Delivery,
    IllegalTransition,
    Ledger,
    NotRetryable,
    Plan,
    PlannedChunk,
    State,
    Transcription,
    get_engine,
    utcnow,
)
from adapter.store.models import TranscriptChunk
from channels.base import AudioAttachment, Decision

LEASE = 30.0


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    return Ledger(get_engine(database_url), lease_seconds=LEASE)


def delivery(attachment_id: int, key: str | None = None) -> Delivery:
    attachment = AudioAttachment(
        attachment_id, f"https://chat.example.test/blob/{attachment_id}", "v.ogg", None, "ogg", 10
    )
    decision = Decision("accepted", "audio", "message_created", "telegram", 7, 70, (attachment,))
    return Delivery(3, key or f"id:{attachment_id}", decision)


def queued(ledger: Ledger, attachment_id: int = 1) -> int:
    [result] = ledger.record([delivery(attachment_id)], lambda url, label: "enc:" + url)
    [tid] = result.new_ids
    return tid


def plan(tmp_path: Path, *durations: float) -> Plan:
    chunks = []
    offset = 0.0
    for idx, seconds in enumerate(durations):
        path = tmp_path / f"chunk-{idx:03d}.ogg"
        path.write_bytes(b"OggS" + bytes([idx]) * 100)
        chunks.append(PlannedChunk(idx, offset, seconds, seconds, 0.0, sum(durations), "[]", path))
        offset += seconds
    return Plan(chunks, sum(durations), sum(durations), 100 * len(durations), "openai", "m")


def expire_leases(ledger: Ledger) -> None:
    past = utcnow() - timedelta(seconds=1)
    with ledger.engine.begin() as conn:
        conn.execute(
            update(Transcription.__table__).values(lease_until=past)  # type: ignore[attr-defined]
        )
        conn.execute(
            update(TranscriptChunk.__table__).values(lease_until=past)  # type: ignore[attr-defined]
        )


def test_a_queued_row_is_claimed_once(ledger: Ledger) -> None:
    tid = queued(ledger)
    first = ledger.claim(tid)
    assert first is not None and first.attempt == 1
    assert ledger.claim(tid) is None  # held
    expire_leases(ledger)
    second = ledger.claim(tid)  # the holder died: its lease ran out
    assert second is not None and second.attempt == 2
    # the first holder can no longer end the attempt it lost
    assert not ledger.end(first, State.failed, reason="internal", error="late")
    assert ledger.end(second, State.skipped, reason="no_key", error="no key")
    row = ledger.get(tid)
    assert row is not None and (row.state, row.reason) == (State.skipped, "no_key")


def test_chunks_join_exactly_once(ledger: Ledger, tmp_path: Path) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    todo = ledger.set_plan(claim, plan(tmp_path, 300, 300, 120))
    assert todo is not None and [round(s) for _, s in todo] == [300, 300, 120]
    assert ledger.claim(tid) is None  # planned: dispatched, never claimed again
    claims = [ledger.claim_chunk(chunk_id) for chunk_id, _ in todo]
    assert all(c is not None for c in claims)
    assert ledger.claim_chunk(todo[0][0]) is None  # held
    assert ledger.open_chunks(tid) == []
    lasts = [
        ledger.finish_chunk(c, result_json=f'{{"n": {i}}}', language="en")
        for i, c in enumerate(claims)
        if c is not None
    ]
    assert lasts == [False, False, True]
    row = ledger.get(tid)
    assert row is not None and (row.chunks_done, row.chunks_total) == (3, 3)
    assert ledger.complete(tid, text="all", language="en", duration=720.0)
    assert not ledger.complete(tid, text="twice", language="en", duration=720.0)
    assert all(c.audio is None for c in ledger.done_chunks(tid))  # audio kept only while needed


def test_a_released_chunk_is_open_again_and_a_late_result_is_dropped(
    ledger: Ledger, tmp_path: Path
) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    [(chunk_id, _)] = ledger.set_plan(claim, plan(tmp_path, 60)) or []
    first = ledger.claim_chunk(chunk_id)
    assert first is not None
    assert ledger.release_chunk(first, "engine timed out")
    assert [i for i, _ in ledger.open_chunks(tid)] == [chunk_id]
    second = ledger.claim_chunk(chunk_id)
    assert second is not None and second.attempt == 2
    assert ledger.finish_chunk(first, result_json="{}", language=None) is None
    assert ledger.finish_chunk(second, result_json="{}", language=None) is True


def test_a_retry_keeps_the_chunks_already_paid_for(ledger: Ledger, tmp_path: Path) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    todo = ledger.set_plan(claim, plan(tmp_path, 300, 300)) or []
    done = ledger.claim_chunk(todo[0][0])
    assert done is not None
    ledger.finish_chunk(done, result_json="{}", language="en")
    assert ledger.stop(tid, State.failed, reason="engine_unavailable", error="gave up")
    ledger.retry(tid)
    again = ledger.claim(tid)
    assert again is not None
    replanned = ledger.set_plan(again, plan(tmp_path, 300, 300)) or []
    assert [i for i, _ in replanned] != [todo[0][0]] and len(replanned) == 1
    row = ledger.get(tid)
    assert row is not None and row.chunks_done == 1  # progress counts the kept chunk


def test_retry_rules(ledger: Ledger) -> None:
    with pytest.raises(NotRetryable) as missing:
        ledger.retry(999)
    assert missing.value.status == 404
    tid = queued(ledger)
    with pytest.raises(NotRetryable) as busy:
        ledger.retry(tid)
    assert busy.value.status == 409
    claim = ledger.claim(tid)
    assert claim is not None
    ledger.end(claim, State.failed, reason="internal", error="boom")
    row = ledger.retry(tid)
    assert (row.state, row.attempts, row.error, row.reason) == (State.queued, 0, None, None)


def test_a_failed_delivery_is_retried_without_transcribing_again(
    ledger: Ledger, tmp_path: Path
) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    ledger.set_plan(claim, plan(tmp_path))  # silence: no chunks at all
    assert ledger.complete(tid, text="", language=None, duration=3.0)
    held = ledger.claim_delivery(tid)
    assert held is not None
    assert ledger.delivery_failed(held, reason="helpdesk_rejected", error="401")
    assert ledger.retry(tid).state == State.transcribed


def test_illegal_moves_are_refused_before_any_write(ledger: Ledger) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    with pytest.raises(IllegalTransition):
        ledger.end(claim, State.delivered, reason=None, error=None)
    row = ledger.get(tid)
    assert row is not None and row.state == State.transcribing


def test_lost_work_is_found_by_its_lease(ledger: Ledger) -> None:
    tid = queued(ledger)
    assert ledger.lost(stuck_after=3600) == []
    assert ledger.claim(tid) is not None
    assert ledger.lost(stuck_after=0) == []  # held, lease alive
    expire_leases(ledger)
    assert ledger.lost(stuck_after=3600) == [(tid, State.transcribing)]


def test_counts_list_every_state(ledger: Ledger) -> None:
    queued(ledger, 1)
    queued(ledger, 2)
    counts = ledger.counts()
    assert set(counts) == {s.value for s in State}
    assert counts["queued"] == 2
    assert [r.attachment_id for r in ledger.recent(limit=1)] == [2]
    assert len(ledger.ids_in_state(State.queued, account_id=3)) == 2
    assert ledger.ids_in_state(State.queued, account_id=4) == []


def test_a_stale_progress_count_does_not_block_the_join(ledger: Ledger, tmp_path: Path) -> None:
    """Whatever ``chunks_done`` says, ``complete`` counts the done chunks itself."""
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    todo = ledger.set_plan(claim, plan(tmp_path, 30, 30)) or []
    for chunk_id, _ in todo:
        held = ledger.claim_chunk(chunk_id)
        assert held is not None
        ledger.finish_chunk(held, result_json="{}", language=None)
    with ledger.engine.begin() as conn:
        conn.execute(
            update(Transcription.__table__).values(chunks_done=1)  # type: ignore[attr-defined]
        )
    assert ledger.chunks_left(tid) == 0
    assert ledger.complete(tid, text="both", language=None, duration=60.0)


def test_the_recovery_sweep_resends_only_chunks_that_look_lost(
    ledger: Ledger, tmp_path: Path
) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    todo = ledger.set_plan(claim, plan(tmp_path, 30, 30, 30)) or []
    held = ledger.claim_chunk(todo[0][0])
    assert held is not None
    assert ledger.open_chunks(tid, idle_for=3600) == []  # just sent: not lost
    lost = ledger.open_chunks(tid, idle_for=0)
    assert [i for i, _ in lost] == [i for i, _ in todo[1:]]  # the held one is not open
    assert ledger.open_chunks(tid, idle_for=3600) == []  # touched: not again this period


def test_a_dead_chunk_worker_is_found_while_the_transcription_is_held_elsewhere(
    ledger: Ledger, tmp_path: Path
) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    todo = ledger.set_plan(claim, plan(tmp_path, 30, 30)) or []
    dead = ledger.claim_chunk(todo[0][0])
    assert dead is not None
    assert ledger.lost(stuck_after=3600) == []
    with ledger.engine.begin() as conn:  # its worker died: only the chunk's lease runs out
        conn.execute(
            update(TranscriptChunk.__table__)  # type: ignore[attr-defined]
            .where(TranscriptChunk.__table__.c.id == dead.chunk_id)  # type: ignore[attr-defined]
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert ledger.lost(stuck_after=3600) == [(tid, State.transcribing)]
    assert todo[0][0] in [i for i, _ in ledger.open_chunks(tid, idle_for=0)]
