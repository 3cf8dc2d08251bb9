"""The runtime's queue (``Actors``): ordinary Dramatiq messages carrying ids, a chunk's time
limit on its message, and a broker that fails is logged, never raised into the receiver."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from adapter.jobs.actors import CHUNK_TIME_LIMIT_MS, Actors
from adapter.jobs.broker import middleware


@pytest.mark.redis
def test_messages_on_redis_are_ordinary_dramatiq_messages(redis_url: str) -> None:
    sent: list[dramatiq.Message[Any]] = []

    class Recorder(dramatiq.Middleware):
        def after_enqueue(
            self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None
        ) -> None:
            sent.append(message)

    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=redis_url, namespace="dramatiq", middleware=[*middleware(), Recorder()]
    )
    try:
        queue = Actors(broker)
        assert queue.transcribe_many(list(range(1, 31))) == 30
        queue.chunk(7, time_limit_ms=90_000)
        queue.chunk(8, time_limit_ms=10 * CHUNK_TIME_LIMIT_MS)
        queue.deliver(9, delay_ms=60_000)
        assert [m.args for m in sent[:30]] == [(n,) for n in range(1, 31)]
        assert {m.queue_name for m in sent} == {"transcribe", "chunk", "deliver.DQ"}  # delayed
        chunks = [m for m in sent if m.queue_name == "chunk"]
        assert [m.options["time_limit"] for m in chunks] == [90_000, CHUNK_TIME_LIMIT_MS]
        assert broker.do_qsize("transcribe") == 30
        assert broker.do_qsize("deliver") == 1  # delayed, waiting on the delay queue
    finally:
        broker.close()


def test_a_broker_that_fails_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Down(dramatiq.brokers.stub.StubBroker):
        def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
            raise ConnectionError("redis went away")

    queue = Actors(Down(middleware=middleware()))
    with caplog.at_level(logging.ERROR):
        assert queue.transcribe_many([1, 2]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        "could not enqueue transcription 1",
        "could not enqueue transcription 2",
    ]
