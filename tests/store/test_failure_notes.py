"""The ledger's failure notes and due retries on SQLite and PostgreSQL: a row ending failed or
skipped owes its note in the same UPDATE, at most one is ever posted, a note is claimed by
compare-and-set under a lease, the sweep finds the lost ones, and a retried row is due for the
next sweep of any process."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from adapter.store import Claim, FailureNote, Ledger, State, Transcription, utcnow
from tests.store.test_ledger import ledger, plan, queued

__all__ = ["ledger"]  # the fixture

_attachments = itertools.count(100)


def ended(ledger: Ledger, target: State = State.failed, *, owe: bool = True) -> int:
    """A transcription that ended ``target`` (with ``owe``: owing its failure note)."""
    tid = queued(ledger, next(_attachments))
    claim = ledger.claim(tid)
    assert claim is not None
    assert ledger.end(claim, target, reason="engine_rejected", error="401", owe_note=owe)
    return tid


def note_of(ledger: Ledger, tid: int) -> tuple[str | None, int, int | None]:
    row = ledger.get(tid)
    assert row is not None
    return row.failure_note, row.failure_note_attempts, row.failure_note_id


def posted(ledger: Ledger, tid: int, note_id: int = 501) -> None:
    claim = ledger.claim_failure_note(tid)
    assert claim is not None
    assert ledger.failure_note_posted(claim, note_id)


def test_an_ended_row_owes_its_note_and_it_is_posted_once(ledger: Ledger) -> None:
    assert note_of(ledger, ended(ledger, owe=False)) == (None, 0, None)
    tid = ended(ledger)
    assert note_of(ledger, tid) == (FailureNote.pending, 0, None)
    claim = ledger.claim_failure_note(tid)
    assert claim == Claim(tid, 1)
    assert ledger.claim_failure_note(tid) is None  # held
    assert ledger.renew_failure_note(claim)
    assert ledger.failure_note_posted(claim, 501)
    assert note_of(ledger, tid) == (FailureNote.posted, 1, 501)
    assert ledger.claim_failure_note(tid) is None  # nothing owed
    assert not ledger.renew_failure_note(claim)
    assert ledger.notes_owed(stuck_after=0) == []


def test_skipped_rows_owe_one_too(ledger: Ledger) -> None:
    tid = ended(ledger, State.skipped)
    assert note_of(ledger, tid)[0] == FailureNote.pending


def test_a_holder_that_lost_its_lease_cannot_post(ledger: Ledger) -> None:
    tid = ended(ledger)
    first = ledger.claim_failure_note(tid)
    assert first is not None
    assert ledger.notes_owed(stuck_after=3600) == []  # held, its lease alive
    expire_note_leases(ledger)
    assert ledger.notes_owed(stuck_after=3600) == [tid]  # its holder died
    second = ledger.claim_failure_note(tid)
    assert second is not None and second.attempt == 2
    assert not ledger.failure_note_posted(first, 7)
    assert not ledger.failure_note_later(first)
    assert ledger.failure_note_posted(second, 8)
    assert note_of(ledger, tid) == (FailureNote.posted, 2, 8)


def expire_note_leases(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            update(Transcription.__table__).values(  # type: ignore[attr-defined]
                failure_note_lease=utcnow() - timedelta(seconds=1)
            )
        )


def test_a_retry_never_owes_a_second_note(ledger: Ledger) -> None:
    tid = ended(ledger)
    posted(ledger, tid)
    assert ledger.retry(tid).failure_note == FailureNote.posted
    claim = ledger.claim(tid)
    assert claim is not None
    assert ledger.end(claim, State.failed, reason="engine_rejected", error="401", owe_note=True)
    assert note_of(ledger, tid) == (FailureNote.posted, 1, 501)


def test_a_retry_cancels_a_pending_note_and_a_new_end_owes_it_afresh(ledger: Ledger) -> None:
    tid = ended(ledger)
    claim = ledger.claim_failure_note(tid)
    assert claim is not None
    assert ledger.failure_note_ended(claim, FailureNote.gave_up)
    assert ledger.retry(tid).failure_note == FailureNote.gave_up
    again = ledger.claim(tid)
    assert again is not None
    assert ledger.end(again, State.skipped, reason="too_large", error="big", owe_note=True)
    assert note_of(ledger, tid) == (FailureNote.pending, 0, None)  # owed afresh
    assert ledger.retry(tid).failure_note is None  # cancelled: nobody is told of a retried row
    assert ledger.claim_failure_note(tid) is None


def test_a_note_posted_while_its_row_was_retried_still_counts(ledger: Ledger) -> None:
    tid = ended(ledger)
    claim = ledger.claim_failure_note(tid)
    assert claim is not None
    ledger.retry(tid)  # cancels the pending note: its holder is already posting it
    assert not ledger.renew_failure_note(claim)
    assert ledger.failure_note_posted(claim, 9)
    assert note_of(ledger, tid) == (FailureNote.posted, 1, 9)


def test_a_failed_delivery_owes_a_note_unless_the_transcript_note_was_posted(
    ledger: Ledger, tmp_path: Path
) -> None:
    results = []
    for attachment_id, note_posted in ((1, False), (2, True)):
        tid = queued(ledger, attachment_id)
        claim = ledger.claim(tid)
        assert claim is not None
        ledger.set_plan(claim, plan(tmp_path))
        assert ledger.complete(tid, text="hello", language="en", duration=1.0)
        held = ledger.claim_delivery(tid)
        assert held is not None
        if note_posted:
            assert ledger.note_posted(held, 77)  # then the attribute call failed for good
        assert ledger.delivery_failed(held, reason="helpdesk_rejected", error="404", owe_note=True)
        results.append(note_of(ledger, tid)[0])
    assert results == [FailureNote.pending, None]


def test_the_sweep_finds_notes_not_moving_and_not_those_of_retried_rows(ledger: Ledger) -> None:
    tid = ended(ledger)
    assert ledger.notes_owed(stuck_after=3600) == []  # too recent
    assert ledger.notes_owed(stuck_after=0) == [tid]
    other = ended(ledger)
    ledger.retry(other)
    assert ledger.notes_owed(stuck_after=0) == [tid]


def test_a_retried_row_is_due_for_the_next_sweep_once(ledger: Ledger) -> None:
    tid = ended(ledger)
    assert ledger.lost(stuck_after=3600) == []
    row = ledger.retry(tid)
    assert (row.state, row.lease_until is not None) == (State.queued, True)
    assert ledger.lost(stuck_after=3600) == [(tid, State.queued)]  # due at once
    assert ledger.lost(stuck_after=3600) == []  # sent once: then it waits like any queued row
    again = ledger.get(tid)
    assert again is not None and again.lease_until is None
    assert ledger.claim(tid) is not None


def test_a_retried_delivery_is_due_too(ledger: Ledger, tmp_path: Path) -> None:
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    ledger.set_plan(claim, plan(tmp_path))
    assert ledger.complete(tid, text="", language=None, duration=3.0)
    held = ledger.claim_delivery(tid)
    assert held is not None
    assert ledger.delivery_failed(held, reason="helpdesk_rejected", error="401")
    assert ledger.retry(tid).state == State.transcribed
    assert ledger.lost(stuck_after=3600) == [(tid, State.transcribed)]
    assert ledger.claim_delivery(tid) is not None  # the due lease does not stand in the way
