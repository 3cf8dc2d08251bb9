"""Group commit (``adapter.web.batcher``): many webhooks, one transaction, each answered as if
alone.

The ``Batcher`` on its own (order, failures, cancellation, a second lane), then the receiver
under a real uvicorn server on 127.0.0.1 (concurrent clients, a poisoned webhook, a database
that is down, shutdown while requests wait for their batch). No timings are asserted: whatever
batches the load forms, the answers, rows and broker messages must be the same as for one
request at a time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from adapter.runtime import Runtime
from adapter.store import intake
from adapter.web import webhooks
from adapter.web.app import create_app
from adapter.web.batcher import Batcher
from adapter.web.webhooks import Outcome, Webhook, process_batch
from tests.helpers import (
    Clock,
    deliveries,
    queued_ids,
    signed_headers,
    swap_database,
    transcriptions,
    wait_until,
)
from tests.web.payloads import ACCOUNT, body_of, voice_note

Request = tuple[bytes, dict[str, str]]


async def turn() -> None:
    """Let every task that is ready run up to its next ``await``: one turn of the event loop
    (a zero sleep: the one way asyncio offers, not a timer)."""
    await asyncio.sleep(0)


def _gather(batcher: Batcher[int, str], items: Sequence[int]) -> list[str]:
    async def go() -> list[str]:
        return list(await asyncio.gather(*(batcher.submit(i) for i in items)))

    return asyncio.run(go())


# ─── the batcher ───────────────────────────────────────────────────────────────────────────────


def test_batcher_gathers_what_waits_and_keeps_the_order() -> None:
    sizes: list[int] = []

    def handle(items: Sequence[int]) -> list[str]:
        sizes.append(len(items))
        return [f"r{i}" for i in items]

    batcher: Batcher[int, str] = Batcher(handle, lambda i: "failed", max_batch=64)
    assert _gather(batcher, range(150)) == [f"r{i}" for i in range(150)]
    assert sizes == [64, 64, 22]  # everything submitted before the first batch began, in order


@pytest.mark.parametrize(
    "handle",
    [
        lambda items: 1 / 0,  # raises
        lambda items: ["only one"],  # a result missing
    ],
)
def test_batcher_answers_every_item_when_the_handler_fails(
    handle: Callable[[Sequence[int]], list[str]],
) -> None:
    batcher: Batcher[int, str] = Batcher(handle, lambda i: f"failed {i}")
    assert _gather(batcher, range(3)) == ["failed 0", "failed 1", "failed 2"]
    # and it goes on working afterwards
    ok: Batcher[int, str] = Batcher(lambda items: [str(i) for i in items], lambda i: "failed")
    assert _gather(ok, [7]) == ["7"]


def test_a_cancelled_request_still_has_its_item_handled() -> None:
    handled: list[int] = []
    gate = threading.Event()

    def handle(items: Sequence[int]) -> list[str]:
        assert gate.wait(30)
        handled.extend(items)
        return [str(i) for i in items]

    batcher: Batcher[int, str] = Batcher(handle, lambda i: "failed")

    async def go() -> list[str]:
        first = asyncio.ensure_future(batcher.submit(1))
        others = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
        await turn()  # all three wait in the queue, and the drain task has taken them
        first.cancel()
        await turn()
        gate.set()
        return list(await asyncio.gather(*others))

    assert asyncio.run(go()) == ["2", "3"]
    assert handled == [1, 2, 3]


def test_two_lanes_start_only_for_a_batch_as_big() -> None:
    in_flight: list[int] = []
    peak: list[int] = []
    started = threading.Condition()
    gate = threading.Event()

    def handle(items: Sequence[int]) -> list[str]:
        with started:
            in_flight.append(len(items))
            peak.append(len(in_flight))
            started.notify_all()
        assert gate.wait(30)
        with started:
            in_flight.remove(len(items))
        return [str(i) for i in items]

    def batches_held(count: int) -> None:
        wait_until(lambda: len(peak) == count, 30, f"{count} batch(es) held", on=started)

    batcher: Batcher[int, str] = Batcher(handle, lambda i: "failed", max_in_flight=2)

    async def go() -> list[str]:
        waiting = [asyncio.ensure_future(batcher.submit(i)) for i in range(10)]
        await asyncio.to_thread(batches_held, 1)  # the first batch (all ten) in its thread
        more = [asyncio.ensure_future(batcher.submit(i)) for i in range(10, 15)]
        await turn()
        assert batcher.pending() == 5  # five waiting: not worth a second lane next to ten
        more += [asyncio.ensure_future(batcher.submit(i)) for i in range(15, 20)]
        await asyncio.to_thread(batches_held, 2)  # ten waiting: a second batch as big runs
        assert batcher.pending() == 0
        gate.set()
        return list(await asyncio.gather(*waiting, *more))

    assert asyncio.run(go()) == [str(i) for i in range(20)]
    assert peak == [1, 2]  # the second lane ran beside the first


# ─── the receiver under a real server ──────────────────────────────────────────────────────────


class Listener(socket.socket):
    """The server's listening socket, bound before the server starts (connections wait in the
    backlog until uvicorn accepts them: nothing to wait for); ``closed`` is set when the
    server closes it, i.e. stops listening."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = threading.Event()

    def close(self) -> None:
        super().close()
        self.closed.set()


@contextmanager
def running_server(rt: Runtime, clock: Clock) -> Iterator[tuple[str, uvicorn.Server, Listener]]:
    """``create_app`` under uvicorn on 127.0.0.1 in a thread, as ``transcriber serve`` runs it."""
    listener = Listener(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    config = uvicorn.Config(
        create_app(rt, clock=clock), log_config=None, access_log=False, timeout_graceful_shutdown=30
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="uvicorn-test", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", server, listener
    finally:
        server.should_exit = True
        thread.join(60)
        listener.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def post_all(
    base_url: str, requests: Sequence[Request], path: str = f"/webhooks/chatwoot/{ACCOUNT}"
) -> list[httpx.Response]:
    """Send every request at once (one connection each) and return the answers in order."""

    async def go() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=base_url, trust_env=False, limits=limits, timeout=60
        ) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(path, content=body, headers=headers)
                        for body, headers in requests
                    )
                )
            )

    return asyncio.run(go())


def signed(payload: dict[str, Any], delivery: str | None = None) -> Request:
    body = body_of(payload)
    return body, signed_headers(body, delivery=delivery)


def test_concurrent_webhooks_are_each_recorded_and_enqueued_once(
    runtime: Runtime, clock: Clock, account: int
) -> None:
    requests = [signed(voice_note(n), delivery=f"d-{n}") for n in range(200)]
    with running_server(runtime, clock) as (url, _, _):
        answers = post_all(url, requests)
    assert Counter(a.status_code for a in answers) == {202: 200}
    assert Counter(a.json()["status"] for a in answers) == {"accepted": 200}
    answered = [a.json()["transcriptions"] for a in answers]
    assert all(len(ids) == 1 for ids in answered)
    rows = transcriptions(runtime)
    assert len(rows) == 200
    by_id = {row.id: row for row in rows if row.id is not None}
    for n, [transcription_id] in enumerate(answered):
        assert by_id[transcription_id].attachment_id == 900_000 + n  # each answer names its row
    assert sorted(queued_ids(runtime)) == sorted(by_id)  # one message per row, ids only
    assert len(deliveries(runtime)) == 200


def test_concurrent_copies_of_one_delivery_create_one_row(
    runtime: Runtime, clock: Clock, account: int
) -> None:
    same = signed(voice_note(1), delivery="7b1e4f0e-55a4-4d39-9a43-00000000abcd")
    unsigned_copies = [signed(voice_note(2)) for _ in range(10)]  # deduplicated by body hash
    with running_server(runtime, clock) as (url, _, _):
        answers = post_all(url, [same] * 20 + unsigned_copies)
    assert {a.status_code for a in answers} == {202}
    for group in (answers[:20], answers[20:]):
        statuses = Counter(a.json()["status"] for a in group)
        assert statuses == {"accepted": 1, "duplicate": len(group) - 1}
        assert len({tuple(a.json()["transcriptions"]) for a in group}) == 1  # the same ids
    assert len(transcriptions(runtime)) == 2
    assert len(queued_ids(runtime)) == 2
    assert len(deliveries(runtime)) == 2


def test_a_poisoned_webhook_fails_alone(
    runtime: Runtime, clock: Clock, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    poisoned_attachment = 900_000 + 13
    real_insert = intake._insert

    def insert(conn: Any, spec: Any, rows: Sequence[dict[str, Any]], now: Any) -> Any:
        if any(row.get("attachment_id") == poisoned_attachment for row in rows):
            raise sa.exc.IntegrityError("INSERT", {}, Exception("a row the database refuses"))
        return real_insert(conn, spec, rows, now)

    monkeypatch.setattr(intake, "_insert", insert)
    with running_server(runtime, clock) as (url, _, _):
        answers = post_all(url, [signed(voice_note(n), delivery=f"p-{n}") for n in range(30)])
    assert [n for n, a in enumerate(answers) if a.status_code != 202] == [13]
    assert answers[13].status_code == 503
    assert sorted(r.attachment_id for r in transcriptions(runtime)) == [
        900_000 + n for n in range(30) if n != 13
    ]
    assert len(queued_ids(runtime)) == 29


def test_database_down_answers_503_to_all_and_the_writer_recovers(
    runtime: Runtime, clock: Clock, account: int
) -> None:
    with running_server(runtime, clock) as (url, _, _):
        swap_database(runtime, None)
        down = post_all(url, [signed(voice_note(n), delivery=f"x-{n}") for n in range(20)])
        swap_database(runtime, runtime.settings.database_url)
        up = post_all(url, [signed(voice_note(n), delivery=f"x-{n}") for n in range(20)])
    assert {a.status_code for a in down} == {503}
    assert all("error" in a.json() for a in down)
    assert {a.status_code for a in up} == {202}
    assert {a.json()["status"] for a in up} == {"accepted"}  # nothing was half-written
    assert len(transcriptions(runtime)) == 20
    assert len(queued_ids(runtime)) == 20


def test_shutdown_answers_the_webhooks_waiting_for_their_batch(
    runtime: Runtime, clock: Clock, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    entered = threading.Event()

    def held(rt: Runtime, batch: Sequence[Webhook], **kwargs: Any) -> list[Outcome]:
        entered.set()
        assert release.wait(60)
        return process_batch(rt, batch, **kwargs)

    class Counting:  # counts the webhooks the endpoint has begun to handle
        received = 0
        changed = threading.Condition()

        def incr(self, stat: str, count: int = 1) -> None:
            if stat == "webhook.received":
                with Counting.changed:
                    Counting.received += count
                    Counting.changed.notify_all()

    monkeypatch.setattr(webhooks, "process_batch", held)
    monkeypatch.setattr(webhooks, "metrics", Counting())
    requests = [signed(voice_note(n), delivery=f"s-{n}") for n in range(25)]
    answers: list[httpx.Response] = []
    with running_server(runtime, clock) as (url, server, listener):
        sender = threading.Thread(target=lambda: answers.extend(post_all(url, requests)))
        sender.start()
        assert entered.wait(30)  # the first batch is in the writer, held
        wait_until(
            lambda: Counting.received == 25,
            30,
            "every webhook in the server, most of them queued",
            on=Counting.changed,
        )
        server.should_exit = True  # a shutdown begins while webhooks wait
        assert listener.closed.wait(30)  # the server no longer listens
        release.set()
        sender.join(60)
    assert len(answers) == 25
    assert {a.status_code for a in answers} == {202}
    assert len(transcriptions(runtime)) == 25
    assert len(queued_ids(runtime)) == 25
