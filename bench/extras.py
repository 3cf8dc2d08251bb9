"""What summaries and translation add to webhook-to-note time, with a stand-in chat model.

    python bench/extras.py [--notes 20] [--chat-seconds 0.8]

One process, everything on 127.0.0.1: a migrated SQLite database in a temporary directory, the
in-process broker with two worker threads running the real actors, the receiver's app (a
Starlette test client), the Chatwoot stand-in and the OpenAI stand-in of ``tests/standins``.
The stand-in engine answers at once (its Spanish transcript) and each chat call after
``--chat-seconds`` (a short summary by gpt-4o-mini takes about a second; set what your model
takes). Each voice note is the shared ``es1.ogg`` (Spanish, 9 s), sent one at a time;
webhook-to-note is the row's ``delivered_at - received_at``, as the console measures it.

Four account set-ups, ``--notes`` voice notes each:

- ``plain``: the transcript only;
- ``summary``: ``--summary-min-seconds 1``;
- ``translation``: ``--translate-to en`` (the chat model translates);
- ``both``: a summary and a translation.

Prints the median and p95 webhook-to-note time of each and what each adds to ``plain``
(medians), and the chat calls made per note. Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter import accounts as acc
from adapter.jobs.broker import middleware
from adapter.runtime import Runtime
from adapter.store import migrate
from adapter.web.app import create_app
from adapter.wiring import build_runtime
from tests.fixtures import FIXTURES
from tests.helpers import drain, make_settings, signed_headers, stand_in_account
from tests.standins.chatwoot_server import ChatwootStandIn, fixture_payload
from tests.standins.openai_server import OpenAIStandIn, RecordedRequest

SETUPS: dict[str, dict[str, Any]] = {
    "plain": {},
    "summary": {"summary_min_seconds": 1},
    "translation": {"translate_to": "en"},
    "both": {"summary_min_seconds": 1, "translate_to": "en"},
}
SPANISH = (FIXTURES / "audio" / "es1.ogg").read_bytes()


class SlowStandIn(OpenAIStandIn):
    """The OpenAI stand-in, answering chat after ``chat_seconds``."""

    def __init__(self, *, chat_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chat_seconds = chat_seconds

        def answer(request: RecordedRequest) -> str:
            time.sleep(self.chat_seconds)
            return "- The customer asks whether the order has left the warehouse."

        self.set_chat_reply(answer)


@contextlib.contextmanager
def pipeline(work: Path, chat_seconds: float) -> Iterator[Any]:
    url = f"sqlite:///{work / 'bench.db'}"
    migrate(url)
    settings = make_settings(url, work, _fernet_key())
    broker = StubBroker(middleware=middleware())
    broker.emit_after("process_boot")
    rt = build_runtime(
        settings, component="bench", broker=(broker, StubBackend()), observability=False
    )
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=20)
    worker.start()
    openai = SlowStandIn(chat_seconds=chat_seconds)
    with ChatwootStandIn(account_id=3) as chatwoot, openai, TestClient(create_app(rt)) as client:
        openai.set_transcript(
            "chunk-000.ogg", "Hola, quiero saber si mi pedido ya salió.", language="spanish"
        )
        acc.create_account(rt.accounts, rt.keyring, 3, stand_in_account(chatwoot, openai))
        try:
            yield rt, worker, chatwoot, openai, client
        finally:
            worker.stop(timeout=5000)
            broker.close()
            rt.close()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def one_note(
    rt: Runtime, worker: dramatiq.Worker, chatwoot: Any, client: TestClient, n: int
) -> float:
    """Send one Spanish voice note; its webhook-to-note seconds."""
    conversation = 1000 + n
    chatwoot.add_conversation(conversation, channel="Channel::Whatsapp")
    url = chatwoot.add_blob("voice.ogg", SPANISH)
    body = fixture_payload("whatsapp_voice_note_ogg_opus.json", account_id=3)
    body["conversation"]["id"] = conversation
    body["id"] = 50_000 + n
    for i, attachment in enumerate(body["attachments"]):
        attachment["data_url"] = url
        attachment["id"] = 90_000 + n * 10 + i
    raw = json.dumps(body).encode()
    answer = client.post(
        "/webhooks/chatwoot/3", content=raw, headers=signed_headers(raw, delivery=str(uuid.uuid4()))
    )
    [tid] = answer.json()["transcriptions"]
    drain(rt.broker, worker, 120)  # type: ignore[arg-type]
    row = rt.ledger.get(tid)
    if row is None or row.delivered_at is None:
        raise SystemExit(f"voice note {n} was not delivered: {row.error if row else 'no row'}")
    return (row.delivered_at - row.received_at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=20)
    parser.add_argument("--chat-seconds", type=float, default=0.8)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    calls: dict[str, float] = {}
    for name, changes in SETUPS.items():
        with (
            tempfile.TemporaryDirectory() as tmp,
            pipeline(Path(tmp), args.chat_seconds) as (rt, worker, chatwoot, openai, client),
        ):
            if changes:
                acc.update_account(rt.accounts, rt.keyring, 3, acc.parse_changes(changes))
            one_note(rt, worker, chatwoot, client, -1)  # warm-up, not measured
            before = len(openai.chat_requests)
            results[name] = [one_note(rt, worker, chatwoot, client, n) for n in range(args.notes)]
            calls[name] = (len(openai.chat_requests) - before) / args.notes
    base = statistics.median(results["plain"])
    print(
        f"webhook → note, {args.notes} Spanish voice notes each; instant engine, "
        f"chat model {args.chat_seconds} s per call"
    )
    print(f"{'set-up':12} {'median ms':>10} {'p95 ms':>8} {'adds ms':>8} {'chat calls/note':>16}")
    for name, seconds in results.items():
        ordered = sorted(seconds)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        median = statistics.median(ordered)
        print(
            f"{name:12} {median * 1000:10.0f} {p95 * 1000:8.0f} "
            f"{(median - base) * 1000:8.0f} {calls[name]:16.1f}"
        )


if __name__ == "__main__":
    main()
