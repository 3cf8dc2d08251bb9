"""Reconciliation and backfill against the stand-in Chatwoot: API calls, seconds, throughput.

    python bench/reconcile.py [--conversations 2000] [--active 50] [--backfill 2000]

1. **Reconcile**: an account of ``--conversations`` conversations, of which ``--active`` had a
   voice note in the last scan window and the rest were quiet for days. One reconciler pass
   (the real code: ``adapter.scan.reconciler.reconcile``) on a fresh SQLite database, with no
   request pacing. Printed: API calls, calls per active conversation, calls per conversation
   of the account, seconds. The cost must follow the active ones: the walk stops at the first
   conversation older than the window.
2. **Backfill**: ``--backfill`` conversations with a voice note each, all inside the window;
   one walk as ``transcriber backfill`` makes it (``source: backfill``), then a second one.
   Printed: conversations per second for each (goal: at least 50 a second when Chatwoot is not
   the limit), the second run's API calls (it passes every conversation unread), and the peak
   memory allocated while the reader lists every conversation of the account (``tracemalloc``;
   the stand-in answering in the same process is included): run it with ``--backfill 2000`` and
   ``--backfill 10000`` to see that it does not grow with the account.

Nothing asserts; the transcriptions are queued on an in-process stub broker and never run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter import accounts as acc
from adapter.helpdesk.reader import ChatwootReader, Pacer
from adapter.runtime import Runtime
from adapter.scan.reconciler import reconcile
from adapter.scan.walk import Target, Walk, walk_for
from adapter.scan.window import Window
from adapter.settings import Settings
from adapter.standins import ChatwootStandIn
from adapter.store import migrate, utcnow
from adapter.wiring import build_runtime

DAY = 86_400


def runtime(directory: Path) -> Runtime:
    url = f"sqlite:///{directory / 'bench.db'}"
    migrate(url)
    settings = Settings(
        TRANSCRIBER_DATABASE_URL=url,
        TRANSCRIBER_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        TRANSCRIBER_WORK_DIR=str(directory / "work"),
        TRANSCRIBER_CHATWOOT_REQUESTS_PER_SECOND=0,
    )
    broker = StubBroker()
    broker.emit_after("process_boot")
    return build_runtime(
        settings, component="bench", broker=(broker, StubBackend()), observability=False
    )


def populate(chatwoot: ChatwootStandIn, first: int, count: int, at: float) -> None:
    """``count`` conversations from id ``first``, each with one voice note at ``at`` - i."""
    url = chatwoot.add_blob("voice.oga", b"OggS" + bytes(2044), content_type="audio/ogg")
    for i in range(count):
        conversation = first + i
        chatwoot.add_conversation(conversation, channel="Channel::Whatsapp")
        attachment = {"file_type": "audio", "data_url": url, "file_size": 2048}
        chatwoot.add_message(conversation, attachments=[attachment], created_at=at - i)


def add_account(rt: Runtime, chatwoot: ChatwootStandIn) -> None:
    changes = acc.parse_changes(
        {
            "chatwoot_url": chatwoot.base_url,
            "api_token": chatwoot.api_token,
            "webhook_secret": "bench-secret",
            "user_token": chatwoot.user_token,
        }
    )
    acc.create_account(rt.accounts, rt.keyring, chatwoot.account_id, changes)


def api_calls(chatwoot: ChatwootStandIn) -> int:
    return sum(1 for r in chatwoot.requests if r.path.startswith("/api/"))


def bench_reconcile(total: int, active: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, ChatwootStandIn(account_id=1) as chatwoot:
        now = time.time()
        populate(chatwoot, 1, total - active, now - 5 * DAY)  # quiet for days
        populate(chatwoot, 100_000, active, now - 120)  # a voice note each, minutes ago
        rt = runtime(Path(tmp))
        add_account(rt, chatwoot)
        before = api_calls(chatwoot)
        started = time.perf_counter()
        (result,) = reconcile(rt)
        seconds = time.perf_counter() - started
        calls = api_calls(chatwoot) - before
        rt.close()
    print(f"reconcile: {total} conversations, {active} active in the window")
    print(f"  status {result.status}, queued {result.counts.queued}, {seconds:.2f} s")
    print(
        f"  API calls {calls}: {calls / active:.2f} per active conversation, "
        f"{calls / total:.3f} per conversation of the account"
    )


def walk(rt: Runtime, chatwoot: ChatwootStandIn) -> Walk:
    reader = ChatwootReader(
        rt.chatwoot,
        base_url=chatwoot.base_url,
        account_id=chatwoot.account_id,
        token=chatwoot.user_token,
        pacer=Pacer(0),
    )
    return walk_for(rt, reader)


def bench_backfill(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, ChatwootStandIn(account_id=1) as chatwoot:
        now = time.time()
        populate(chatwoot, 1, count, now - DAY)
        rt = runtime(Path(tmp))
        add_account(rt, chatwoot)
        window = Window(utcnow() - timedelta(days=7), utcnow())
        print(f"backfill: {count} conversations with a voice note each")
        for run in ("first", "second"):
            before = api_calls(chatwoot)
            started = time.perf_counter()
            counts = walk(rt, chatwoot).run(Target(chatwoot.account_id, window, "backfill"))
            seconds = time.perf_counter() - started
            calls = api_calls(chatwoot) - before
            print(
                f"  {run} run: {counts.conversations / seconds:.0f} conversations/s "
                f"({seconds:.2f} s), queued {counts.queued}, known {counts.known}, "
                f"API calls {calls}"
            )
        reader = walk(rt, chatwoot).reader
        tracemalloc.start()
        listed = sum(1 for _ in reader.conversations(since=window.since.timestamp()))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  listing all {listed} conversations: peak {peak / 1e6:.2f} MB allocated")
        rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--backfill", type=int, default=2000)
    args = parser.parse_args()
    bench_reconcile(args.conversations, args.active)
    bench_backfill(args.backfill)


if __name__ == "__main__":
    main()
