"""Recording deliveries (``adapter.store.intake``), reached the way the receiver reaches it:
a batch of signed webhooks through ``process_batch``.

Copies inside one batch are resolved as consecutive requests would be; copies in concurrent
transactions collide on the unique constraints, so exactly one of them creates rows; a pooled
connection the server dropped is replaced.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from adapter.runtime import Runtime
from adapter.web.webhooks import Outcome, Webhook, process_batch
from tests.helpers import deliveries, queued_ids, transcriptions
from tests.web.payloads import load, voice_note, webhook

TEXT_ONLY = load("text_only_whatsapp.json")


def test_copies_inside_one_batch_answer_the_first_ones_ids(runtime: Runtime, account: int) -> None:
    two = load("two_audio_attachments_email.json")
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
