"""Work outside the actors (``adapter.jobs.recovery``): a transcription whose message was lost
is sent again, and ``retry`` after a failed delivery only delivers again."""

from __future__ import annotations

import dramatiq
import pytest
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.jobs.recovery import recover, retry_one
from adapter.runtime import Runtime
from adapter.store import State
from tests.helpers import OpenAIStandIn, stand_in_account
from tests.jobs.pipeline import EN1, Pipeline, send, telegram
from tests.standins.chatwoot_server import ChatwootStandIn


def test_lost_work_is_sent_again(
    request: pytest.FixtureRequest,
    client: TestClient,
    runtime: Runtime,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    acc.create_account(
        runtime.accounts, runtime.keyring, 3, stand_in_account(chatwoot, openai_server)
    )
    [tid] = send(client, telegram(chatwoot, EN1))
    runtime.broker.flush_all()  # the broker forgot the message before any worker ran
    worker: dramatiq.Worker = request.getfixturevalue("worker")
    pipeline = Pipeline(client, runtime, worker, chatwoot, openai_server)
    assert recover(runtime) == []  # too recent to count as lost
    assert recover(runtime, stuck_after=0) == [tid]
    [row] = pipeline.finished([tid])
    assert row.state == State.delivered, row.error
    assert len(chatwoot.notes(321)) == 1
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
