"""End to end on real processes: signed webhook -> private note, then throughput, then local RTF.

    python bench/pipeline.py [--messages 200] [--burst 48] [--skip-local]

What runs (everything on 127.0.0.1, every loop bounded in count and time):

* a throw-away PostgreSQL database ``bench_pipeline_<random>`` and Redis db 13, emptied at the
  start and dropped or flushed in ``finally``;
* one ``transcriber serve`` and one ``transcriber worker --processes 1 --threads 8`` on them,
  after ``transcriber migrate`` and ``transcriber accounts add`` (engine ``openai``, model
  ``whisper-1``, ``--base-url`` at the OpenAI stand-in, ``--chatwoot-url`` at a Chatwoot
  stand-in); the worker is restarted (on an emptied Redis db, then warmed up with a few
  unmeasured messages) for every worker setting below;
* in this process: one ``ChatwootStandIn`` per account (tests/standins) serving the shared
  ``en1.ogg`` voice note as ``voice.oga`` (``audio/opus``, a fresh blob per message, behind the
  ActiveStorage 302) and recording notes, and one ``OpenAIStandIn``. Both are subclassed here
  to stamp each request with the wall-clock time at which the stand-in had read it (so no figure
  depends on how often this script polls), and to answer with TCP_NODELAY as nginx in front of
  the real services does (``--standin-nagle`` leaves it off: the stand-ins write an answer's
  head and body in two sends, and each answer on a reused connection then waits about 40 ms
  for the client's delayed ACK).

Every webhook is the shared Telegram voice-note fixture with its own message id, attachment id,
blob and ``X-Chatwoot-Delivery``, signed with ``adapter.web.signing.sign``.

1. **Overhead** (instant engine): messages go one at a time, the next one ``--gap`` seconds
   after the previous row is ``delivered``. Per message: webhook sent -> note received by the
   Chatwoot stand-in (goal: median < 150 ms), split into hops with the stand-ins' stamps and the
   database's own timestamps (the worker writes ``transcript_chunks.created_at`` right after the
   engine answers; the row turns ``transcribed`` one UPDATE later). Runs:
   * ``default``: Dramatiq's defaults, ``--messages`` messages;
   * ``default, idle``: the same worker, ``--idle-messages`` messages ``--idle-gap`` s apart, so
     that each queue consumer is in its longest idle sleep when the message comes (a quiet
     helpdesk). Dramatiq's Redis consumer sleeps after every empty fetch, doubling from 5 ms up
     to half-to-all of ``worker_timeout`` (1000 ms by default);
   * ``poll N ms`` for each ``--poll-ms``: ``dramatiq_worker_timeout=N`` (Dramatiq's own
     environment variable for that cap) in the worker's environment, ``--poll-messages``
     messages. The worker's idle CPU is measured (5 s) before each run to show what faster
     polling costs.
2. **Throughput** (the engine answers after ``--engine-seconds``, 1 s): ``--burst`` messages
   sent at once; transcriptions per second from the first webhook sent to the last note
   received (goal: >= 6/s). Set-ups: one account with the default
   ``TRANSCRIBER_ACCOUNT_CONCURRENCY`` (4: the per-account limiter caps it near 4/s); the same
   load spread over two accounts (4 + 4 = the 8 threads); one account with the variable set to
   8; and that again with the last ``--poll-ms``.
3. **Local engine real-time factor**: ``bench/engine_rtf.py`` run as a subprocess after the
   service processes are gone; its table is printed as it is (``--skip-local`` skips it).

Figures and ratios are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapter.web.signing import sign  # noqa: E402
from tests.standins.chatwoot_server import (  # noqa: E402
    CUSTOM_ATTRIBUTES_OP,
    MESSAGES_OP,
    ChatwootStandIn,
    RecordedRequest,
    fixture_payload,
)
from tests.standins.openai_server import OpenAIStandIn, Reply  # noqa: E402
from tests.standins.openai_server import RecordedRequest as EngineRequest  # noqa: E402

HOST = "127.0.0.1"
AUDIO = REPO / "tests" / "fixtures" / "audio" / "en1.ogg"
FIXTURE = "telegram_voice.json"
FIXTURE_ATTACHMENT = 55123
CONVERSATION = 321
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
OPENAI_KEY = "sk-bench-" + "pipeline" * 5
ACCOUNTS = (3, 4)  # the second one only for the spread throughput run
THREADS = 8

GOAL_MEDIAN_MS = 150.0
GOAL_RATE = 6.0  # transcriptions/s against a 1 s engine

REDIRECT_PREFIX = "/rails/active_storage/blobs/redirect/"
NOTE_OP = f"{MESSAGES_OP[0]} {MESSAGES_OP[1]}"
ATTRIBUTES_OP = f"{CUSTOM_ATTRIBUTES_OP[0]} {CUSTOM_ATTRIBUTES_OP[1]}"
MESSAGE_TIMEOUT_S = 30.0
WORKER_STOP_S = 10


# ─── stand-ins that stamp arrival times ──────────────────────────────────────────────────────


def _no_delay(listener: socket.socket) -> None:
    """TCP_NODELAY on a listening socket; Linux passes it on to every accepted connection."""
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TimedChatwoot(ChatwootStandIn):
    """A ChatwootStandIn that remembers when (``time.time()``) each request had been read.

    The stamp is taken in ``_take_fault``, which the handler calls once per request right after
    reading the body and before validating or answering it. ``nodelay``: answer with
    TCP_NODELAY, as nginx (``tcp_nodelay on``) in front of a real Chatwoot does; the stand-in
    writes an answer's head and body in two sends, so without it every answer on a reused
    connection waits for the client's delayed ACK (about 40 ms on Linux).
    """

    def __init__(self, *, nodelay: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nodelay = nodelay
        self._arrival = threading.local()
        self._marks = threading.Lock()
        self.redirect_at: dict[str, float] = {}  # blob signed id -> first redirect request
        self.note_at: dict[int, float] = {}  # in_reply_to (message id) -> first note
        self.note_count: Counter[int] = Counter()
        self.attributes_at: list[float] = []

    def _serve(self, port: int) -> None:
        super()._serve(port)
        if self.nodelay and self._server is not None:
            _no_delay(self._server.socket)

    def _take_fault(self, path: str) -> Any:
        self._arrival.at = time.time()
        return super()._take_fault(path)

    def _record(self, request: RecordedRequest) -> None:
        super()._record(request)
        at = getattr(self._arrival, "at", None) or time.time()
        self._arrival.at = None
        with self._marks:
            if request.path.startswith(REDIRECT_PREFIX):
                self.redirect_at.setdefault(request.path.split("/")[5], at)
            elif request.operation == NOTE_OP and request.status == 200:
                attributes = (request.json or {}).get("content_attributes") or {}
                message_id = attributes.get("in_reply_to")
                if isinstance(message_id, int):
                    self.note_at.setdefault(message_id, at)
                    self.note_count[message_id] += 1
            elif request.operation == ATTRIBUTES_OP and request.status == 200:
                self.attributes_at.append(at)

    def marks(self) -> tuple[dict[str, float], dict[int, float], Counter[int]]:
        with self._marks:
            return dict(self.redirect_at), dict(self.note_at), Counter(self.note_count)


class TimedOpenAI(OpenAIStandIn):
    """An OpenAIStandIn that stamps each transcription request and counts calls held at once."""

    def __init__(self, *, nodelay: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nodelay = nodelay
        self._marks = threading.Lock()
        self.arrivals: list[float] = []
        self.held = 0  # engine calls inside _wait now (the stand-in's own in_flight counts too)
        self.peak = 0

    def start(self) -> TimedOpenAI:
        super().start()
        if self.nodelay and self._httpd is not None:
            _no_delay(self._httpd.socket)
        return self

    def _record(self, request: EngineRequest) -> None:
        at = time.time()
        super()._record(request)
        with self._marks:
            self.arrivals.append(at)

    def _wait(self, seconds: float) -> None:
        with self._marks:
            self.held += 1
            self.peak = max(self.peak, self.held)
        try:
            super()._wait(seconds)
        finally:
            with self._marks:
                self.held -= 1

    def clear_queue(self) -> int:
        """Drop programmed replies not used yet; how many there were."""
        with self._lock:
            left = len(self._queue)
            self._queue.clear()
            return left

    def reset_peak(self) -> None:
        with self._marks:
            self.peak = self.held

    def arrivals_since(self, since: float) -> list[float]:
        with self._marks:
            return [a for a in self.arrivals if a >= since]


# ─── processes ───────────────────────────────────────────────────────────────────────────────


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = WORKER_STOP_S + 10) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)  # the main process tells its children
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)  # its own session: only what we started
            self.popen.wait(10)


def _tree_cpu_s(pid: int) -> float:
    """utime + stime of a process and its live descendants (Linux /proc)."""
    total, todo, seen = 0.0, [pid], set[int]()
    while todo and len(seen) < 64:
        current = todo.pop()
        seen.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children if int(c) not in seen)
    return total


def _wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# ─── messages ────────────────────────────────────────────────────────────────────────────────


@dataclass
class Message:
    account_id: int
    message_id: int
    signed_id: str
    body: bytes
    sent: float = math.nan
    answered: float = math.nan
    http_status: int = 0
    outcome: str = ""
    transcription_id: int | None = None


@dataclass
class Row:
    transcription_id: int
    state: str
    attempts: int
    delivery_attempts: int
    received: float
    updated: float
    chunk_saved: float


@dataclass
class Hops:
    """Per-message durations in ms, by hop name."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        if not math.isnan(seconds):
            self.values.setdefault(name, []).append(1000 * seconds)


def _accepted(messages: Sequence[Message]) -> int:
    return sum(1 for m in messages if m.http_status == 202 and m.outcome == "accepted")


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _fmt(value: float, digits: int = 0) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.database = f"bench_pipeline_{secrets.token_hex(4)}"
        self.dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={self.database}"
        self.audio = AUDIO.read_bytes()
        self.secrets = {a: f"bench-secret-{a}-{secrets.token_hex(8)}" for a in ACCOUNTS}
        self.chatwoot: dict[int, TimedChatwoot] = {}
        self.openai: TimedOpenAI | None = None
        self.procs: list[Proc] = []
        self.serve: Proc | None = None
        self.worker: Proc | None = None
        self.port = 0
        self.sequence = 0
        self.created_db = False
        self.env: dict[str, str] = {}
        self.client: Any = None
        self.db: Any = None

    # -- set-up ---------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TRANSCRIBER_", "OPENAI_", "SENTRY_", "STATSD_", "dramatiq_"))
        }
        env.update(
            {
                "TRANSCRIBER_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}",
                "TRANSCRIBER_REDIS_URL": f"redis://127.0.0.1:6379/{self.args.redis_db}",
                "TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "TRANSCRIBER_LOG_LEVEL": "WARNING",
                "TRANSCRIBER_WORK_DIR": str(self.tmp / "work"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
                "NO_PROXY": "127.0.0.1,localhost",
            }
        )
        return env

    def adapter(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "adapter", *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"transcriber {args[0]} failed: {done.stderr.strip()[-2000:]}")

    def start(self) -> None:
        import httpx
        import psycopg

        self.env = self.base_env()
        self.flush_redis()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.created_db = True
        nodelay = not self.args.standin_nagle
        self.openai = TimedOpenAI(api_key=OPENAI_KEY, nodelay=nodelay).start()
        self.adapter("migrate")
        for account_id in ACCOUNTS:
            chatwoot = TimedChatwoot(
                account_id=account_id, api_token=f"bench-token-{account_id}", nodelay=nodelay
            )
            chatwoot.start()
            chatwoot.add_conversation(CONVERSATION, channel="Channel::Telegram")
            self.chatwoot[account_id] = chatwoot
            self.adapter(
                "accounts",
                "add",
                "--account-id",
                str(account_id),
                "--chatwoot-url",
                chatwoot.base_url,
                "--api-token",
                chatwoot.api_token,
                "--webhook-secret",
                self.secrets[account_id],
                "--openai-api-key",
                OPENAI_KEY,
                "--engine",
                "openai",
                "--model",
                "whisper-1",
                "--base-url",
                self.openai.base_url,
            )
        self.db = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        self.port = _free_port()
        self.serve = self.spawn(
            "serve", ["serve", "--host", HOST, "--port", str(self.port)], self.env
        )
        self.client = httpx.Client(
            base_url=f"http://{HOST}:{self.port}", timeout=10, trust_env=False
        )
        if not _wait_until(self.ready, 60, 0.1):
            raise RuntimeError(f"`transcriber serve` not ready: {self.serve.tail()}")

    def ready(self) -> bool:
        assert self.serve is not None
        if not self.serve.alive():
            raise RuntimeError(f"`transcriber serve` exited: {self.serve.tail()}")
        try:
            return bool(self.client.get("/readyz", timeout=1).status_code == 200)
        except Exception:
            return False

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "adapter", *args],
                env=env,
                cwd=self.tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_worker(self, label: str, **extra_env: str) -> None:
        """(Re)start the worker with ``extra_env``, on an emptied Redis db, and warm it up."""
        if self.worker is not None:
            self.worker.stop()
        self.flush_redis()
        env = {**self.env, **extra_env}
        self.worker = self.spawn(
            "worker",
            [
                "worker",
                "--processes",
                "1",
                "--threads",
                str(THREADS),
                "--shutdown-timeout",
                str(WORKER_STOP_S),
            ],
            env,
        )
        # the first messages pay for imports and connections; they are not measured
        for account_id in ACCOUNTS:
            for _ in range(2):
                message = self.message(account_id)
                self.post(message)
                if not self.wait_note(message, 120):
                    raise RuntimeError(
                        f"warm-up message for worker ({label}) got no note: {self.worker.tail()}"
                    )
        self.wait_settled(10)

    def flush_redis(self) -> None:
        import redis

        client = redis.Redis(host=HOST, port=6379, db=self.args.redis_db, socket_timeout=10)
        try:
            client.flushdb()
        finally:
            client.close()

    # -- messages -------------------------------------------------------------------------

    def message(self, account_id: int) -> Message:
        self.sequence += 1
        message_id = 800_000_000 + self.sequence
        attachment_id = 900_000_000 + self.sequence
        chatwoot = self.chatwoot[account_id]
        url = chatwoot.add_blob("voice.oga", self.audio, content_type="audio/opus")
        body = fixture_payload(
            FIXTURE, attachment_urls={FIXTURE_ATTACHMENT: url}, account_id=account_id
        )
        body["id"] = message_id
        conversation = body["conversation"]
        conversation["id"] = CONVERSATION
        for item in conversation.get("messages") or []:
            item["id"] = message_id
            item["conversation_id"] = CONVERSATION
            item["account_id"] = account_id
        holders = [body, *(conversation.get("messages") or [])]
        for attachment in [a for m in holders for a in m.get("attachments") or []]:
            attachment["id"] = attachment_id
            attachment["message_id"] = message_id
            attachment["account_id"] = account_id
        signed_id = url.split(REDIRECT_PREFIX, 1)[1].split("/", 1)[0]
        return Message(account_id, message_id, signed_id, json.dumps(body).encode())

    def post(self, message: Message) -> None:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Chatwoot-Timestamp": stamp,
            "X-Chatwoot-Signature": sign(
                self.secrets[message.account_id].encode(), stamp, message.body
            ),
            "X-Chatwoot-Delivery": str(uuid.uuid4()),
        }
        message.sent = time.time()
        try:
            answer = self.client.post(
                f"/webhooks/chatwoot/{message.account_id}", content=message.body, headers=headers
            )
        except Exception as exc:
            message.answered = time.time()
            message.outcome = type(exc).__name__
            return
        message.answered = time.time()
        message.http_status = answer.status_code
        try:
            data = answer.json()
            message.outcome = str(data.get("status"))
            ids = data.get("transcriptions") or []
            message.transcription_id = int(ids[0]) if ids else None
        except ValueError:
            message.outcome = "not json"

    def wait_note(self, message: Message, timeout: float) -> bool:
        if message.http_status != 202 or message.transcription_id is None:
            return False
        notes = self.chatwoot[message.account_id].note_at
        return _wait_until(lambda: message.message_id in notes, timeout)

    def row_state(self, transcription_id: int) -> str | None:
        found = self.db.execute(
            "SELECT state FROM transcriptions WHERE id = %s", (transcription_id,)
        ).fetchone()
        return None if found is None else str(found[0])

    def delivered_or_final(self, transcription_id: int) -> bool:
        return self.row_state(transcription_id) not in ("queued", "transcribing", "transcribed")

    def wait_settled(self, timeout: float) -> None:
        """Until no row is still queued, transcribing or transcribed."""

        def settled() -> bool:
            found = self.db.execute(
                "SELECT count(*) FROM transcriptions "
                "WHERE state IN ('queued', 'transcribing', 'transcribed')"
            ).fetchone()
            return bool(found and found[0] == 0)

        _wait_until(settled, timeout, 0.02)

    def rows(self, messages: Sequence[Message]) -> dict[int, Row]:
        """Database rows of ``messages`` by message id (epoch seconds from the worker's clock)."""
        ids = [m.message_id for m in messages]
        found = self.db.execute(
            "SELECT t.message_id, t.id, t.state, t.attempts, t.delivery_attempts, "
            "EXTRACT(EPOCH FROM t.received_at)::float8, EXTRACT(EPOCH FROM t.updated_at)::float8, "
            "(SELECT EXTRACT(EPOCH FROM min(c.created_at))::float8 FROM transcript_chunks c "
            " WHERE c.transcription_id = t.id) "
            "FROM transcriptions t WHERE t.message_id = ANY(%s)",
            (ids,),
        ).fetchall()
        return {
            int(r[0]): Row(
                int(r[1]),
                str(r[2]),
                int(r[3]),
                int(r[4]),
                float(r[5]),
                float(r[6]),
                math.nan if r[7] is None else float(r[7]),
            )
            for r in found
        }

    def idle_cpu(self, seconds: float = 5.0) -> float:
        """Share of one core the idle worker (all its processes) uses."""
        assert self.worker is not None
        before, started = _tree_cpu_s(self.worker.popen.pid), time.monotonic()
        time.sleep(seconds)
        return (_tree_cpu_s(self.worker.popen.pid) - before) / (time.monotonic() - started)

    # -- part 1 ---------------------------------------------------------------------------

    def overhead(self, count: int, gap: float) -> dict[str, Any]:
        """``count`` messages one at a time, ``gap`` s apart; per-hop durations."""
        account_id = ACCOUNTS[0]
        chatwoot = self.chatwoot[account_id]
        assert self.openai is not None
        messages: list[Message] = []
        deadline = time.monotonic() + max(120.0, (6.0 + gap) * count)
        timeouts = 0
        for _ in range(count):
            if time.monotonic() > deadline:
                print(f"  stopped after {len(messages)} messages: time budget spent", flush=True)
                break
            message = self.message(account_id)
            messages.append(message)
            self.post(message)
            if not self.wait_note(message, MESSAGE_TIMEOUT_S):
                timeouts += 1
                if timeouts >= 3:
                    print("  stopped: three messages got no note", flush=True)
                    break
                continue
            tid = message.transcription_id
            assert tid is not None
            _wait_until(partial(self.delivered_or_final, tid), 10, 0.01)
            time.sleep(gap)

        redirects, notes, note_counts = chatwoot.marks()
        engine = sorted(self.openai.arrivals_since(messages[0].sent if messages else 0))
        rows = self.rows(messages)
        hops = Hops()
        for message in messages:
            row = rows.get(message.message_id)
            note = notes.get(message.message_id, math.nan)
            download = redirects.get(message.signed_id, math.nan)
            # one message at a time: the engine call of this message is the one in its window
            calls = [a for a in engine if message.sent <= a <= note]
            call = calls[0] if calls else math.nan
            chunk = row.chunk_saved if row else math.nan
            hops.add("post", message.answered - message.sent)
            hops.add("pickup", download - message.answered)
            hops.add("prepare", call - download)
            hops.add("engine", chunk - call)
            hops.add("deliver_hop", note - chunk)
            if row is not None and row.state == "delivered":
                hops.add("finish", row.updated - note)
            hops.add("to_transcribed", chunk - message.sent)
            hops.add("transcribed_to_note", note - chunk)
            hops.add("total", note - message.sent)
        delivered = sum(1 for r in rows.values() if r.state == "delivered")
        return {
            "hops": hops,
            "sent": len(messages),
            "accepted": _accepted(messages),
            "delivered": delivered,
            "notes": sum(note_counts[m.message_id] for m in messages),
            "duplicate_notes": sum(max(0, note_counts[m.message_id] - 1) for m in messages),
            "retried": sum(1 for r in rows.values() if r.attempts > 1 or r.delivery_attempts > 1),
            "violations": len(chatwoot.violations),
        }

    # -- part 2 ---------------------------------------------------------------------------

    def burst(self, count: int, accounts: Sequence[int], cap: int) -> dict[str, Any]:
        assert self.openai is not None
        self.openai.enqueue(*[Reply.slow(self.args.engine_seconds) for _ in range(count)])
        self.openai.reset_peak()
        messages = [self.message(accounts[i % len(accounts)]) for i in range(count)]
        assert self.worker is not None
        cpu_before = _tree_cpu_s(self.worker.popen.pid)
        first = time.time()
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="webhook") as pool:
            list(pool.map(self.post, messages))
        posted = time.time()
        limit = 90.0 + 3 * count * self.args.engine_seconds

        def all_noted() -> bool:
            return all(m.message_id in self.chatwoot[m.account_id].note_at for m in messages)

        _wait_until(all_noted, limit, 0.01)
        self.wait_settled(10)
        worker_cpu = _tree_cpu_s(self.worker.popen.pid) - cpu_before
        notes = [self.chatwoot[m.account_id].note_at.get(m.message_id, math.nan) for m in messages]
        got = [n for n in notes if not math.isnan(n)]
        last = max(got) if got else math.nan
        rows = self.rows(messages)
        latencies = [
            1000 * (n - m.sent) for n, m in zip(notes, messages, strict=True) if not math.isnan(n)
        ]
        leftover = self.openai.clear_queue()  # fewer calls than messages: none left over
        calls = sorted(self.openai.arrivals_since(first))
        engine_s = self.args.engine_seconds
        window = (calls[-1] + engine_s - calls[0]) if calls else math.nan
        return {
            "count": count,
            "accounts": len(accounts),
            "accepted": _accepted(messages),
            "notes": len(got),
            "delivered": sum(1 for r in rows.values() if r.state == "delivered"),
            "post_s": posted - first,
            "seconds": last - first,
            "rate": len(got) / (last - first) if got else math.nan,
            "peak": self.openai.peak,
            "calls": len(calls),
            "start_s": calls[0] - first if calls else math.nan,
            "engine_window_s": window,
            "tail_s": last - (calls[-1] + engine_s) if calls else math.nan,
            "p50_ms": _pct(latencies, 0.5),
            "max_ms": max(latencies) if latencies else math.nan,
            "unused_slow_replies": leftover,
            "cap": cap,
            "cpu_ms": 1000 * worker_cpu / count,
            "busy": len(calls) * engine_s / (cap * window) if calls else math.nan,
        }

    # -- tear-down ------------------------------------------------------------------------

    def close(self) -> None:
        import psycopg

        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as exc:  # keep cleaning up
                print(f"warning: could not stop {proc.name}: {exc}", file=sys.stderr)
        if self.client is not None:
            self.client.close()
        if self.db is not None:
            self.db.close()
        for chatwoot in self.chatwoot.values():
            chatwoot.stop()
        if self.openai is not None:
            self.openai.close()
        try:
            if self.created_db:
                with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        except psycopg.Error as exc:
            print(f"warning: could not drop database {self.database}: {exc}", file=sys.stderr)
        try:
            self.flush_redis()
        except Exception as exc:
            print(f"warning: could not flush Redis db {self.args.redis_db}: {exc}", file=sys.stderr)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# ─── report ──────────────────────────────────────────────────────────────────────────────────

HOP_ROWS = (
    ("post", "webhook POST -> 202 (verify, record, enqueue)"),
    ("pickup", "202 -> download (transcribe queue pickup, claim)"),
    ("prepare", "download -> engine call (download, probe, prepare)"),
    ("engine", "engine call -> chunk saved (instant engine, save)"),
    ("deliver_hop", "chunk saved -> note (deliver queue pickup, claim)"),
    ("finish", "note -> delivered (custom attribute, final update)"),
    ("to_transcribed", "webhook sent -> transcribed (chunk saved)"),
    ("transcribed_to_note", "transcribed -> note received"),
    ("total", "webhook sent -> note received"),
)


def report_overhead(runs: list[tuple[str, dict[str, Any]]]) -> None:
    print()
    print(
        f"part 1 - overhead, webhook to posted note: instant engine, messages one at a time, "
        f"worker --processes 1 --threads {THREADS}"
    )
    width = 52
    head = f"{'hop (ms)':{width}}" + "".join(f" | {label:^20}" for label, _ in runs)
    print(head)
    print(f"{'':{width}}" + "".join(f" | {'median':>6} {'p95':>6} {'max':>6}" for _ in runs))
    print("-" * len(head))
    for key, text in HOP_ROWS:
        if key == "to_transcribed":
            print("-" * len(head))
        cells = []
        for _, run in runs:
            values = run["hops"].values.get(key, [])
            cells.append(
                f" | {_fmt(statistics.median(values) if values else math.nan):>6} "
                f"{_fmt(_pct(values, 0.95)):>6} "
                f"{_fmt(max(values) if values else math.nan):>6}"
            )
        print(f"{text:{width}}" + "".join(cells))
    print("-" * len(head))
    for label, run in runs:
        total = run["hops"].values.get("total", [])
        median = statistics.median(total) if total else math.nan
        hop_medians = {k: statistics.median(v) for k, v in run["hops"].values.items() if v}
        poll = hop_medians.get("pickup", 0.0) + hop_medians.get("deliver_hop", 0.0)
        verdict = "MEETS" if median < GOAL_MEDIAN_MS else "MISSES"
        cpu = run.get("idle_cpu")
        print(f"{label}: {run['description']}")
        print(
            f"  {run['sent']} sent, {run['accepted']} accepted, {run['delivered']} delivered, "
            f"{run['notes']} notes ({run['duplicate_notes']} duplicates), {run['retried']} "
            f"retried, {run['violations']} spec violations"
            + ("" if cpu is None else f"; idle worker CPU {_fmt(100 * cpu, 1)} % of a core")
        )
        print(
            f"  median {_fmt(median)} ms, p95 {_fmt(_pct(total, 0.95))} ms -> {verdict} the "
            f"goal (median < {GOAL_MEDIAN_MS:.0f} ms); the two queue hops are "
            f"{_fmt(100 * poll / median if median else math.nan)} % of the median"
        )
    base = runs[0][1]["hops"].values.get("total", [])
    for label, run in runs[1:]:
        other = run["hops"].values.get("total", [])
        if base and other:
            print(
                f"  ratio {runs[0][0]} / {label}: median x"
                f"{_fmt(statistics.median(base) / statistics.median(other), 1)}, p95 x"
                f"{_fmt(_pct(base, 0.95) / _pct(other, 0.95), 1)}"
            )


def report_bursts(runs: list[tuple[str, dict[str, Any]]], engine_s: float, count: int) -> None:
    print()
    print(
        f"part 2 - throughput against a {engine_s:g} s engine: {count} messages sent at once, "
        f"one worker (--processes 1 --threads {THREADS})"
    )
    head = (
        f"{'set-up':48} {'cap/s':>5} {'notes':>7} {'s':>5} {'notes/s':>7} {'of cap':>6} "
        f"{'peak':>4} {'calls':>5} {'start s':>7} {'busy':>5} {'tail s':>6} {'CPU ms':>6}"
    )
    print(head)
    print("-" * len(head))
    for label, r in runs:
        cap = r["cap"] / engine_s
        print(
            f"{label:48} {_fmt(cap):>5} {r['notes']:>3}/{r['count']:<3} "
            f"{_fmt(r['seconds'], 1):>5} {_fmt(r['rate'], 2):>7} "
            f"{_fmt(100 * r['rate'] / cap) + ' %':>6} {r['peak']:>4} {r['calls']:>5} "
            f"{_fmt(r['start_s'], 2):>7} {_fmt(100 * r['busy']) + ' %':>5} "
            f"{_fmt(r['tail_s'], 2):>6} {_fmt(r['cpu_ms']):>6}"
        )
    print(
        "cap/s: engine calls the set-up may hold at once / engine seconds\n"
        "s: first webhook sent -> last note received; peak: most engine calls held at once\n"
        "start s: first webhook -> first engine call; tail s: end of the last call -> last note\n"
        "busy: share of the cap's call slots in use from the first call to the end of the last\n"
        "CPU ms: the worker's CPU (all its processes) per message, until every row is delivered"
    )
    for label, r in runs:
        problems = []
        if r["accepted"] != r["count"]:
            problems.append(f"{r['accepted']} accepted")
        if r["delivered"] != r["count"]:
            problems.append(f"{r['delivered']} delivered")
        if r["calls"] != r["count"]:
            problems.append(f"{r['calls']} engine calls")
        if r["unused_slow_replies"]:
            problems.append(f"{r['unused_slow_replies']} slow replies unused")
        if problems:
            print(f"  {label}: of {r['count']}: " + ", ".join(problems))
    defaults = [r["rate"] for label, r in runs if "poll" not in label and r["cap"] >= THREADS]
    best = max((x for x in defaults if not math.isnan(x)), default=math.nan)
    verdict = "MEETS" if best >= GOAL_RATE else "MISSES"
    print(
        f"  best with Dramatiq's default poll and 8 calls allowed: {_fmt(best, 2)}/s -> "
        f"{verdict} the goal (>= {GOAL_RATE:g}/s)"
    )


# ─── main ────────────────────────────────────────────────────────────────────────────────────


def service_parts(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            bench.start()
            # (label, worker env or None to keep the running worker, messages, gap, description)
            plan: list[tuple[str, dict[str, str] | None, int, float, str]] = [
                (
                    "default",
                    {},
                    args.messages,
                    args.gap,
                    f"Dramatiq's defaults, next webhook {args.gap:g} s after each delivery",
                ),
            ]
            if args.idle_messages:
                plan.append(
                    (
                        "default, idle",
                        None,
                        args.idle_messages,
                        args.idle_gap,
                        f"the same worker, next webhook {args.idle_gap:g} s after each "
                        "delivery: every consumer is in its longest idle sleep",
                    )
                )
            for poll in args.poll_ms:
                plan.append(
                    (
                        f"poll {poll} ms",
                        {"dramatiq_worker_timeout": str(poll)},
                        args.poll_messages,
                        args.gap,
                        f"dramatiq_worker_timeout={poll} in the worker's environment, next "
                        f"webhook {args.gap:g} s after each delivery",
                    )
                )
            overhead_runs: list[tuple[str, dict[str, Any]]] = []
            for label, extra, count, gap, description in plan:
                started = time.monotonic()
                print(
                    f"part 1, {label}: {count} messages one at a time, {gap:g} s apart …",
                    flush=True,
                )
                idle: float | None = None
                if extra is not None:
                    bench.start_worker(label, **extra)
                    idle = bench.idle_cpu()
                run = bench.overhead(count, gap)
                run["idle_cpu"] = idle
                run["description"] = description
                overhead_runs.append((label, run))
                print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
            report_overhead(overhead_runs)

            # (label, accounts, TRANSCRIBER_ACCOUNT_CONCURRENCY, calls allowed at once, poll ms)
            setups: list[tuple[str, Sequence[int], int, int, int | None]] = [
                ("1 account, ACCOUNT_CONCURRENCY=4 (default)", ACCOUNTS[:1], 4, 4, None),
                ("2 accounts, ACCOUNT_CONCURRENCY=4 (default)", ACCOUNTS, 4, 8, None),
                ("1 account, ACCOUNT_CONCURRENCY=8", ACCOUNTS[:1], 8, 8, None),
            ]
            for poll in args.poll_ms[-1:]:
                setups.append(
                    (f"1 account, ACCOUNT_CONCURRENCY=8, poll {poll} ms", ACCOUNTS[:1], 8, 8, poll)
                )
            bursts: list[tuple[str, dict[str, Any]]] = []
            for label, accounts, limit, cap, poll_ms in setups:
                started = time.monotonic()
                print(f"part 2, {label}: {args.burst} messages at once …", flush=True)
                env = {"TRANSCRIBER_ACCOUNT_CONCURRENCY": str(limit)}
                if poll_ms is not None:
                    env["dramatiq_worker_timeout"] = str(poll_ms)
                bench.start_worker(label, **env)
                bursts.append((label, bench.burst(args.burst, accounts, min(THREADS, cap))))
                print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
            report_bursts(bursts, args.engine_seconds, args.burst)
        except BaseException:
            for proc in bench.procs:
                if proc.popen.poll() is not None and proc.popen.returncode not in (0, -15):
                    print(
                        f"--- {proc.name} exited {proc.popen.returncode}:\n{proc.tail()}",
                        file=sys.stderr,
                    )
            raise
        finally:
            bench.close()


def local_part(args: argparse.Namespace) -> None:
    print()
    print(
        "part 3 - local engine real-time factor (bench/engine_rtf.py), after the service "
        "processes stopped",
        flush=True,
    )
    command = [sys.executable, str(REPO / "bench" / "engine_rtf.py"), "--quick"]
    try:
        done = subprocess.run(command, cwd=REPO, timeout=args.local_timeout)
    except subprocess.TimeoutExpired:
        print(f"  engine_rtf.py did not finish within {args.local_timeout:.0f} s (killed)")
        return
    if done.returncode != 0:
        print(f"  engine_rtf.py exited with {done.returncode} (is the `local` extra installed?)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        type=int,
        default=200,
        help="messages per overhead run, one at a time (default 200)",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=0.1,
        help="seconds between a delivery and the next webhook (default 0.1)",
    )
    parser.add_argument(
        "--poll-ms",
        type=int,
        nargs="*",
        default=[100, 20],
        metavar="MS",
        help="also run part 1 with dramatiq_worker_timeout=MS for each MS "
        "(default: 100 20; none: skip)",
    )
    parser.add_argument(
        "--poll-messages", type=int, default=100, help="messages per --poll-ms run (default 100)"
    )
    parser.add_argument(
        "--idle-messages",
        type=int,
        default=40,
        help="then that many on the same worker, --idle-gap s apart (default 40; 0: skip)",
    )
    parser.add_argument(
        "--idle-gap",
        type=float,
        default=1.0,
        help="seconds between a delivery and the next webhook in the idle run "
        "(default 1.0: long enough for Dramatiq's idle back-off to peak)",
    )
    parser.add_argument(
        "--standin-nagle",
        action="store_true",
        help="leave the stand-ins without TCP_NODELAY (each answer on a reused "
        "connection then waits ~40 ms for a delayed ACK)",
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=48,
        help="messages sent at once per throughput set-up (default 48)",
    )
    parser.add_argument(
        "--engine-seconds",
        type=float,
        default=1.0,
        help="engine delay per call in part 2 (default 1.0)",
    )
    parser.add_argument("--skip-local", action="store_true", help="skip part 3 (local engine)")
    parser.add_argument(
        "--local-timeout",
        type=float,
        default=1200.0,
        help="seconds allowed for engine_rtf.py (default 1200)",
    )
    parser.add_argument(
        "--redis-db", type=int, default=13, help="Redis db to use and flush (default 13)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= 2000 or not 1 <= args.poll_messages <= 2000:
        parser.error("--messages and --poll-messages must be in [1, 2000]")
    if not 1 <= args.burst <= 500:
        parser.error("--burst must be in [1, 500]")
    if not 0 <= args.gap <= 10 or not all(10 <= p <= 10_000 for p in args.poll_ms):
        parser.error("--gap must be in [0, 10] s and each --poll-ms in [10, 10000]")
    if not 0 < args.engine_seconds <= 10:
        parser.error("--engine-seconds must be in (0, 10]")
    if not 0 <= args.idle_messages <= 500 or not 0 <= args.idle_gap <= 30:
        parser.error("--idle-messages must be in [0, 500] and --idle-gap in [0, 30] s")
    print(
        f"bench/pipeline: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
        "PostgreSQL + Redis, one `transcriber serve`, one `transcriber worker`",
        flush=True,
    )
    started = time.monotonic()
    try:
        service_parts(args)
        if not args.skip_local:
            local_part(args)
    except KeyboardInterrupt:
        print("interrupted (cleaned up)", file=sys.stderr)
        return 130
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
