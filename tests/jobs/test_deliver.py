"""The delivery step (``adapter.jobs.deliver``) through the worker: a Chatwoot outage retries
only the delivery; the transcript is not paid for twice."""

from __future__ import annotations

from adapter.store import State
from tests.jobs.pipeline import Pipeline


def test_chatwoot_down_during_delivery_retries_only_delivery(pipeline: Pipeline) -> None:
    payload = pipeline.voice_note()
    pipeline.chatwoot.fail(503, times=2, path="/api/")
    row = pipeline.transcribe(payload)
    assert row.state == State.delivered, row.error
    assert (row.attempts, row.delivery_attempts) == (1, 3)
    assert pipeline.engine_calls() == 1
    assert len(pipeline.chatwoot.notes(321)) == 1
