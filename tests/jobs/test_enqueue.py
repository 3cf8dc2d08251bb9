"""Messages in bulk (``adapter.jobs.enqueue.send_many``): one Redis pipeline for many
messages, and what arrives are ordinary Dramatiq messages a worker runs."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from adapter.jobs.broker import middleware
from adapter.jobs.enqueue import send_many


@pytest.mark.redis
def test_bulk_messages_on_redis_are_ordinary_dramatiq_messages(redis_url: str) -> None:
    seen: list[int] = []
    enqueued: list[str] = []

    class Recorder(dramatiq.Middleware):
        def after_enqueue(
            self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None
        ) -> None:
            enqueued.append(message.message_id)

    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=redis_url, namespace="dramatiq", middleware=[*middleware(), Recorder()]
    )
    try:

        @dramatiq.actor(broker=broker, queue_name="transcribe", actor_name="transcribe")
        def transcribe(transcription_id: int) -> None:
            seen.append(transcription_id)

        assert send_many(transcribe, list(range(1, 51))) == 50
        broker.scripts["dispatch"].sha = "0" * 40  # as if Redis had lost the script
        assert send_many(transcribe, [51, 52]) == 2
        assert len(enqueued) == 52
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
        worker.start()
        try:
            broker.join("transcribe", timeout=30_000)
            worker.join()
        finally:
            worker.stop()
        assert sorted(seen) == list(range(1, 53))
    finally:
        broker.close()
