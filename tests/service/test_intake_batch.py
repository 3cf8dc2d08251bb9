"""Group commit of the webhook intake: many webhooks, one transaction, each answered as if alone.

Over a real uvicorn server on 127.0.0.1 (concurrent clients, shutdown while requests wait) and
directly on ``process_batch`` (a batch of a known make-up: copies, echoes, a poisoned row, a
database that is down). No timings are asserted: whatever batches the load forms, the answers,
rows and broker messages must be the same as for one request at a time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dramatiq
import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from dramatiq.brokers.redis import RedisBroker
from sqlmodel import Session, select

from adapter.jobs.enqueue import send_many
from adapter.runtime import Runtime
from adapter.store import Transcription, WebhookDelivery, intake
from adapter.web import webhooks
from adapter.web.batcher import Batcher
from adapter.web.webhooks import Outcome, Webhook, process_batch
from tests.conftest import FIXTURES
from tests.service.conftest import Clock, signed_headers, swap_database

VOICE_NOTE = json.loads((FIXTURES / "chatwoot" / "whatsapp_voice_note_ogg_opus.json").read_text())
TEXT_ONLY = json.loads((FIXTURES / "chatwoot" / "text_only_whatsapp.json").read_text())
ACCOUNT = 3


def voice_note(n: int, *, event: str = "message_created") -> dict[str, Any]:
    """The WhatsApp voice note as message ``n``: its own message id, attachment id and URL."""
    payload: dict[str, Any] = copy.deepcopy(VOICE_NOTE)
    payload["event"] = event
    message_id, attachment_id = 700_000 + n, 900_000 + n
    payload["id"] = message_id
    for message in [payload, *payload["conversation"].get("messages", [])]:
        message["id"] = message_id
        for attachment in message.get("attachments", []):
            attachment["id"] = attachment_id
            attachment["message_id"] = message_id
            attachment["data_url"] = f"https://chatwoot.example.test/voice/{n}.ogg?sig={n}"
    return payload


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def webhook(
    payload: dict[str, Any],
    *,
    delivery: str | None = None,
    account_id: int = ACCOUNT,
    secret: str | None = None,
) -> Webhook:
    """A signed webhook as the receiver hands it to the writer."""
    body = body_of(payload)
    headers = (
        signed_headers(body, delivery=delivery)
        if secret is None
        else signed_headers(body, delivery=delivery, secret=secret)
    )
    return Webhook(account_id, body, lower(headers), time.time())


def lower(headers: dict[str, str]) -> dict[str, str]:
    """Header names as the receiver looks them up (Starlette's headers are case-blind)."""
    return {name.lower(): value for name, value in headers.items()}


def transcriptions(rt: Runtime) -> list[Transcription]:
    with Session(rt.ledger.engine) as session:
        return list(session.exec(select(Transcription).order_by(Transcription.id)))  # type: ignore[arg-type]


def deliveries(rt: Runtime) -> list[WebhookDelivery]:
    with Session(rt.ledger.engine) as session:
        return list(session.exec(select(WebhookDelivery)))


def queued_ids(rt: Runtime) -> list[int]:
    """The argument of every message waiting on the StubBroker's transcribe queue."""
    queue = rt.broker.queues["transcribe"]
    ids: list[int] = []
    for data in list(queue.queue):
        message = dramatiq.Message.decode(data)
        assert message.actor_name == "transcribe" and message.kwargs == {}
        [transcription_id] = message.args
        ids.append(int(transcription_id))
    return ids


# ─── a real server ─────────────────────────────────────────────────────────────────────────────


@contextmanager
def running_server(rt: Runtime, clock: Clock) -> Iterator[tuple[str, uvicorn.Server]]:
    """``create_app`` under uvicorn on 127.0.0.1 in a thread, as ``transcriber serve`` runs it."""
    from adapter.web.app import create_app

    config = uvicorn.Config(
        create_app(rt, clock=clock),
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(60)
        assert not thread.is_alive(), "uvicorn did not stop"


Request = tuple[bytes, dict[str, str]]


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


# ─── over HTTP ─────────────────────────────────────────────────────────────────────────────────


def test_concurrent_webhooks_are_each_recorded_and_enqueued_once(
    runtime: Runtime, clock: Clock, account: int
) -> None:
    requests = [signed(voice_note(n), delivery=f"d-{n}") for n in range(200)]
    with running_server(runtime, clock) as (url, _):
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
    with running_server(runtime, clock) as (url, _):
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
    with running_server(runtime, clock) as (url, _):
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
    with running_server(runtime, clock) as (url, _):
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

    def held(rt: Runtime, batch: Sequence[Webhook], cache: Any = None) -> list[Outcome]:
        entered.set()
        assert release.wait(60)
        return process_batch(rt, batch, cache)

    class Counting:  # counts the webhooks the endpoint has begun to handle
        received = 0

        def incr(self, stat: str, count: int = 1) -> None:
            if stat == "webhook.received":
                Counting.received += count

    monkeypatch.setattr(webhooks, "process_batch", held)
    monkeypatch.setattr(webhooks, "metrics", Counting())
    requests = [signed(voice_note(n), delivery=f"s-{n}") for n in range(25)]
    answers: list[httpx.Response] = []
    with running_server(runtime, clock) as (url, server):
        port = int(url.rsplit(":", 1)[1])
        sender = threading.Thread(target=lambda: answers.extend(post_all(url, requests)))
        sender.start()
        assert entered.wait(30)  # the first batch is in the writer, held
        deadline = time.monotonic() + 30
        while Counting.received < 25:  # every webhook is in the server, most of them queued
            assert time.monotonic() < deadline
            time.sleep(0.02)
        server.should_exit = True  # a shutdown begins while webhooks wait
        deadline = time.monotonic() + 30
        while _accepts(port):  # until the server stops listening
            assert time.monotonic() < deadline
            time.sleep(0.02)
        release.set()
        sender.join(60)
    assert len(answers) == 25
    assert {a.status_code for a in answers} == {202}
    assert len(transcriptions(runtime)) == 25
    assert len(queued_ids(runtime)) == 25


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# ─── one batch of a known make-up ──────────────────────────────────────────────────────────────


def test_copies_inside_one_batch_answer_the_first_ones_ids(runtime: Runtime, account: int) -> None:
    two = json.loads((FIXTURES / "chatwoot" / "two_audio_attachments_email.json").read_text())
    batch = [
        webhook(two, delivery="same"),
        webhook(voice_note(5)),  # no delivery header: the body hash is the key
        webhook(two, delivery="same"),
        webhook(voice_note(5)),
        webhook(TEXT_ONLY, delivery="text"),
        webhook(TEXT_ONLY, delivery="text"),
        webhook(two, delivery="same"),
    ]
    outcomes = process_batch(runtime, batch)
    assert [o.status for o in outcomes] == [202] * 7
    assert [o.body["status"] for o in outcomes] == [
        "accepted",
        "accepted",
        "duplicate",
        "duplicate",
        "ignored",
        "duplicate",
        "duplicate",
    ]
    first = outcomes[0].body["transcriptions"]
    assert len(first) == 2
    assert outcomes[2].body["transcriptions"] == outcomes[6].body["transcriptions"] == first
    assert outcomes[3].body["transcriptions"] == outcomes[1].body["transcriptions"]
    assert outcomes[5].body["transcriptions"] == []
    assert len(transcriptions(runtime)) == 3
    assert sorted(queued_ids(runtime)) == sorted(first + outcomes[1].body["transcriptions"])
    stored = {d.delivery_key: d for d in deliveries(runtime)}
    assert len(stored) == 3
    assert stored["id:same"].transcription_ids == ",".join(map(str, first))
    assert stored["id:same"].status == "accepted"
    # the same copies later, each alone: the same answers
    again = process_batch(runtime, [webhook(two, delivery="same")])
    assert again[0].body == {"status": "duplicate", "transcriptions": first}


def test_an_echo_inside_one_batch_is_not_transcribed_twice(runtime: Runtime, account: int) -> None:
    created = webhook(voice_note(8), delivery="created")
    updated = webhook(voice_note(8, event="message_updated"), delivery="updated")
    outcomes = process_batch(runtime, [created, updated])
    assert [o.body["status"] for o in outcomes] == ["accepted", "duplicate"]
    assert outcomes[0].body["transcriptions"] == outcomes[1].body["transcriptions"]
    assert len(transcriptions(runtime)) == 1
    assert len(queued_ids(runtime)) == 1
    stored = {d.delivery_key: d for d in deliveries(runtime)}
    assert stored["id:updated"].status == "duplicate"
    assert stored["id:updated"].transcription_ids == str(outcomes[0].body["transcriptions"][0])


def test_rejections_inside_a_batch_keep_their_own_status(runtime: Runtime, account: int) -> None:
    from adapter import accounts as acc

    acc.create_account(
        runtime.accounts,
        runtime.keyring,
        4,
        acc.parse_changes(
            {
                "chatwoot_url": "https://other.example.test",
                "api_token": "cw-api-token-other",
                "webhook_secret": "whsec-other-0123456789",
            }
        ),
    )
    acc.set_enabled(runtime.accounts, 4, False)
    batch = [
        webhook(voice_note(1), delivery="ok"),
        webhook(voice_note(2), delivery="bad-signature", secret="not-the-secret"),
        webhook(voice_note(3), delivery="unknown", account_id=99),
        webhook(voice_note(4), delivery="disabled", account_id=4, secret="whsec-other-0123456789"),
        Webhook(
            ACCOUNT,
            b"[1, 2]",
            lower(signed_headers(b"[1, 2]", delivery="not-json")),
            time.time(),
        ),
        webhook(voice_note(6), delivery="stale"),
    ]
    batch[5] = Webhook(
        ACCOUNT, batch[5].body, batch[5].headers, batch[5].now + 3600
    )  # arrived an hour after signing
    outcomes = process_batch(runtime, batch)
    assert [o.status for o in outcomes] == [202, 401, 404, 404, 400, 401]
    assert [d.delivery_key for d in deliveries(runtime)] == ["id:ok"]
    assert len(queued_ids(runtime)) == 1


def test_a_poisoned_row_fails_alone_inside_one_batch(
    runtime: Runtime, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapter.secrets import Keyring

    real_encrypt = Keyring.encrypt

    def encrypt(self: Keyring, value: str, *, register: bool = True) -> str:
        if value.endswith("/voice/2.ogg?sig=2"):
            raise ValueError("an unexpected bug on one attachment")
        return real_encrypt(self, value, register=register)

    monkeypatch.setattr(Keyring, "encrypt", encrypt)
    outcomes = process_batch(runtime, [webhook(voice_note(n), delivery=f"b-{n}") for n in range(5)])
    assert [o.status for o in outcomes] == [202, 202, 503, 202, 202]
    assert "error" in outcomes[2].body
    assert sorted(r.attachment_id for r in transcriptions(runtime)) == [
        900_000,
        900_001,
        900_003,
        900_004,
    ]
    assert len(queued_ids(runtime)) == 4
    assert len(deliveries(runtime)) == 4  # the failed one left nothing behind: it may come again


def test_database_down_fails_the_whole_batch_without_retrying_each(
    runtime: Runtime, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = webhooks._try_record

    def counted(rt: Runtime, group: Sequence[Any]) -> Any:
        calls.append(len(group))
        return real(rt, group)

    monkeypatch.setattr(webhooks, "_try_record", counted)
    swap_database(runtime, None)
    try:
        outcomes = process_batch(runtime, [webhook(voice_note(n)) for n in range(6)])
    finally:
        swap_database(runtime, runtime.settings.database_url)
    assert [o.status for o in outcomes] == [503] * 6
    assert calls == []  # no connection: nothing ran, and no one-by-one retries
    assert process_batch(runtime, [webhook(voice_note(1))])[0].status == 202


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_stale_pooled_connections_are_replaced(runtime: Runtime, account: int) -> None:
    assert process_batch(runtime, [webhook(voice_note(1))])[0].status == 202
    outsider = sa.create_engine(runtime.ledger.engine.url, poolclass=sa.pool.NullPool)
    with outsider.connect() as conn:  # the server drops every pooled connection (a restart)
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    outsider.dispose()
    outcomes = process_batch(runtime, [webhook(voice_note(n)) for n in range(2, 6)])
    assert [o.body["status"] for o in outcomes] == ["accepted"] * 4


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_concurrent_batches_sharing_keys_neither_deadlock_nor_double(
    runtime: Runtime, account: int
) -> None:
    # two writers (as with two batches in flight, or two processes) get the same deliveries
    # in opposite orders: one records each, the other answers duplicate with its ids
    batch = [webhook(voice_note(n), delivery=f"k-{n}") for n in range(40)]
    results: dict[str, list[Outcome]] = {}
    start = threading.Barrier(2)

    def run(name: str, items: list[Webhook]) -> None:
        start.wait()
        results[name] = process_batch(runtime, items)

    threads = [
        threading.Thread(target=run, args=("a", batch)),
        threading.Thread(target=run, args=("b", batch[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    a, b = results["a"], results["b"][::-1]
    for one, other in zip(a, b, strict=True):
        assert one.status == other.status == 202
        assert {one.body["status"], other.body["status"]} == {"accepted", "duplicate"}
        assert one.body["transcriptions"] == other.body["transcriptions"]
    assert len(transcriptions(runtime)) == 40
    assert len(queued_ids(runtime)) == 40


# ─── the batcher ───────────────────────────────────────────────────────────────────────────────


def _gather(batcher: Batcher[int, str], items: Sequence[int]) -> list[str]:
    async def go() -> list[str]:
        return list(await asyncio.gather(*(batcher.submit(i) for i in items)))

    return asyncio.run(go())


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
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        gate.set()
        return list(await asyncio.gather(*others))

    assert asyncio.run(go()) == ["2", "3"]
    assert handled == [1, 2, 3]


def test_two_lanes_start_only_for_a_batch_as_big() -> None:
    in_flight: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()
    gate = threading.Event()

    def handle(items: Sequence[int]) -> list[str]:
        with lock:
            in_flight.append(len(items))
            peak.append(len(in_flight))
        assert gate.wait(30)
        with lock:
            in_flight.remove(len(items))
        return [str(i) for i in items]

    batcher: Batcher[int, str] = Batcher(handle, lambda i: "failed", max_in_flight=2)

    async def go() -> list[str]:
        waiting = [asyncio.ensure_future(batcher.submit(i)) for i in range(10)]
        await asyncio.sleep(0.05)  # the first batch (all ten) is held in its thread
        more = [asyncio.ensure_future(batcher.submit(i)) for i in range(10, 15)]
        await asyncio.sleep(0.05)  # five waiting: not worth a second lane next to ten
        assert batcher.pending() == 5
        more += [asyncio.ensure_future(batcher.submit(i)) for i in range(15, 20)]
        await asyncio.sleep(0.05)  # ten waiting: a second batch as big runs beside the first
        assert batcher.pending() == 0
        gate.set()
        return list(await asyncio.gather(*waiting, *more))

    assert asyncio.run(go()) == [str(i) for i in range(20)]
    assert max(peak) == 2


# ─── messages in bulk on Redis ─────────────────────────────────────────────────────────────────


@pytest.mark.redis
def test_bulk_messages_on_redis_are_ordinary_dramatiq_messages(redis_url: str) -> None:
    from adapter.jobs.broker import middleware

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
