"""Work outside the actors (``adapter.jobs.recovery``): a transcription whose message was lost
is sent again, and ``retry`` after a failed delivery only delivers again. Leases
(``adapter.jobs.lease``): the defaults take a dead worker's work back within two minutes; a
voice note whose worker died in its engine call is found by its lease, not the stuck threshold;
a planned transcription's lease is held while one of its chunks is."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.jobs import chunk as chunk_step
from adapter.jobs.lease import let_go, plan_claim, renew_period, renewing_chunk
from adapter.jobs.recovery import recover, retry_one, takeback_within
from adapter.jobs.transcribe import transcribe as transcribe_step
from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.store import State, TranscriptChunk, Transcription
from tests.helpers import OpenAIStandIn, stand_in_account
from tests.jobs.pipeline import EN1, Pipeline, send, telegram
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.store.test_ledger import plan, queued


@pytest.fixture
def unsent(
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> int:
    """A voice note of account 3 (on the stand-ins), recorded, whose message the broker forgot
    before any worker ran: its transcription's id."""
    acc.create_account(
        runtime.accounts, runtime.keyring, 3, stand_in_account(chatwoot, openai_server)
    )
    [tid] = send(client, telegram(chatwoot, EN1))
    runtime.broker.flush_all()
    return tid


def pipeline_now(request: pytest.FixtureRequest) -> Pipeline:
    """The pipeline of ``unsent``'s runtime, its worker started only now."""
    parts = ("client", "runtime", "worker", "chatwoot", "openai_server")
    return Pipeline(*(request.getfixturevalue(name) for name in parts))


def test_lost_work_is_sent_again(
    request: pytest.FixtureRequest, runtime: Runtime, unsent: int
) -> None:
    pipeline = pipeline_now(request)
    tid = unsent
    assert recover(runtime) == []  # too recent to count as lost
    assert recover(runtime, stuck_after=0) == [tid]
    [row] = pipeline.finished([tid])
    assert row.state == State.delivered, row.error
    assert len(pipeline.chatwoot.notes(321)) == 1
    assert pipeline.engine_calls() == 1


def test_retry_after_a_rejected_token_only_delivers_again(pipeline: Pipeline) -> None:
    rt, chatwoot = pipeline.runtime, pipeline.chatwoot
    payload = pipeline.voice_note()
    acc.update_account(
        rt.accounts, rt.keyring, 3, acc.parse_changes({"api_token": "wrong-token-123456"})
    )
    [tid] = pipeline.send(payload)
    [row] = pipeline.finished([tid])
    assert row.state == State.failed
    assert row.text  # the paid transcript is kept: `transcriber retry` only re-delivers
    assert "wrong-token-123456" not in (row.error or "")
    acc.update_account(
        rt.accounts, rt.keyring, 3, acc.parse_changes({"api_token": chatwoot.api_token})
    )
    retry_one(rt, tid)
    [row] = pipeline.finished([tid])
    assert row.state == State.delivered
    assert pipeline.engine_calls() == 1


# ─── leases ──────────────────────────────────────────────────────────────────────────────────


def test_the_defaults_take_a_dead_workers_work_back_within_two_minutes() -> None:
    settings = Settings()
    assert renew_period(settings) == settings.lease_seconds / 3 == 20
    # its last beat's lease runs out, then the next sweep (its period, jittered) sends it
    assert takeback_within(settings) == 60 + 10 * 1.2 <= 120
    # the stuck threshold is for work without a lease only: it never delays a takeback
    assert settings.stuck_after_seconds > takeback_within(settings)


def a_lease_later(rt: Runtime) -> None:
    """Every row as it is once a lease has passed with no beat: leases run out, and what was
    claimed or moved was so a lease ago."""
    past = timedelta(seconds=rt.settings.lease_seconds + 1)
    with rt.ledger.engine.begin() as conn:
        for table in (Transcription.__table__, TranscriptChunk.__table__):  # type: ignore[attr-defined]
            for row_id, lease_until, updated_at in conn.execute(
                select(table.c.id, table.c.lease_until, table.c.updated_at)
            ):
                conn.execute(
                    update(table)
                    .where(table.c.id == row_id)
                    .values(
                        lease_until=lease_until and lease_until - past,
                        updated_at=updated_at - past,
                    )
                )


class Killed(BaseException):
    """The worker dies here: no handler runs, no lease is given back."""


def test_a_voice_note_whose_worker_died_mid_engine_call_is_found_by_its_lease(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, runtime: Runtime, unsent: int
) -> None:
    tid = unsent  # this test runs its step itself

    def die(*args: object) -> None:
        raise Killed

    monkeypatch.setattr(chunk_step, "_call_engine", die)
    with pytest.raises(Killed):  # claimed, planned, its chunk claimed: then the engine call
        transcribe_step(runtime, tid)
    monkeypatch.undo()
    held = runtime.ledger.get(tid)
    assert held is not None and held.state == State.transcribing and held.chunks_total == 1
    assert held.lease_until is not None  # the chunk's holder holds the transcription too
    assert recover(runtime) == []  # the leases still run
    a_lease_later(runtime)  # and nobody renews them: the holder is dead
    assert recover(runtime) == [tid]  # found by its lease, long before the stuck threshold

    pipeline = pipeline_now(request)
    [row] = pipeline.finished([tid])
    assert row.state == State.delivered, row.error
    assert row.lease_until is None
    assert len(pipeline.chatwoot.notes(321)) == 1
    assert pipeline.engine_calls() == 1


def test_a_transcriptions_lease_is_given_back_once_none_of_its_chunks_is_held(
    runtime: Runtime, tmp_path: Path
) -> None:
    ledger = runtime.ledger
    tid = queued(ledger)
    claim = ledger.claim(tid)
    assert claim is not None
    planned = ledger.set_plan(claim, plan(tmp_path, 10.0, 10.0))
    assert planned is not None and ledger.get(tid).lease_until is None  # type: ignore[union-attr]
    [first, second] = [ledger.claim_chunk(chunk_id) for chunk_id, _ in planned]
    assert first is not None and second is not None
    held = plan_claim(ledger, tid)
    assert held == claim  # the chunks run under the attempt that planned them
    with renewing_chunk(ledger, first, held, period=60):
        assert ledger.get(tid).lease_until is not None  # type: ignore[union-attr]
    assert ledger.finish_chunk(first, result_json="{}", language=None) is False
    assert not let_go(ledger, claim)  # the second chunk is held: its holder renews the lease
    ledger.release_chunk(second, "engine unavailable (503)")  # to be retried later
    assert let_go(ledger, claim)
    row = ledger.get(tid)
    assert row is not None and row.lease_until is None
    assert (row.state, row.error) == (State.transcribing, "engine unavailable (503)")
    assert not let_go(ledger, claim)  # nothing left to give back
