"""The delivery step (``adapter.jobs.deliver``) through the worker: a Chatwoot outage retries
only the delivery, up to ``TRANSCRIBER_DELIVERY_MAX_ATTEMPTS`` (not ``TRANSCRIBER_MAX_ATTEMPTS``);
the transcript is not paid for twice. (A long outage, Chatwoot down and back:
``tests/jobs/test_restarts.py``.)"""

from __future__ import annotations

from adapter.jobs.deliver import policy
from adapter.store import State
from tests.helpers import sqlite_only
from tests.jobs.pipeline import Pipeline


def test_chatwoot_down_during_delivery_retries_only_delivery(pipeline: Pipeline) -> None:
    payload = pipeline.voice_note()
    pipeline.chatwoot.fail(503, times=2, path="/api/")
    row = pipeline.transcribe(payload)
    assert row.state == State.delivered, row.error
    assert (row.attempts, row.delivery_attempts) == (1, 3)
    assert pipeline.engine_calls() == 1
    assert len(pipeline.chatwoot.notes(321)) == 1


@sqlite_only
def test_delivery_gives_up_after_its_own_attempts_and_keeps_the_transcript(
    pipeline: Pipeline,
) -> None:
    pipeline.reconfigure(max_attempts=2, delivery_max_attempts=4, retry_max_seconds=0.1)
    backoff = policy(pipeline.runtime)
    assert (backoff.max_attempts, backoff.cap) == (4, 0.1)  # the steps' backoff, its own limit
    payload = pipeline.voice_note()
    pipeline.chatwoot.fail(503, times=10, path="/api/")
    row = pipeline.transcribe(payload)
    assert row.state == State.failed
    assert (row.attempts, row.delivery_attempts) == (1, 4)
    assert row.error is not None and "delivery gave up after 4 attempts" in row.error
    assert row.text  # kept: `transcriber retry` delivers it without a second engine call
    assert pipeline.engine_calls() == 1
    assert pipeline.chatwoot.notes(321) == []
