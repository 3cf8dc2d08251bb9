"""Throughput of long recordings cut into chunks, at two per-account limits on engine calls.

    python bench/chunks.py                          # 3 x 25 min at limits 2 and 4
    python bench/chunks.py --minutes 35             # 3 x 35 min (about a minute longer)
    python bench/chunks.py --recordings 4 --minutes 6 --limits 1 3 5 --threads 8
    python bench/chunks.py --prefetch 2             # Dramatiq's per-process prefetch

One speech-like recording (Telegram's Ogg/Opus voice format, 16 kHz, 24 kbit/s) is generated
once, kept in ``--audio-dir`` for later runs, and served ``--recordings`` times by the loopback
Chatwoot stand-in, one blob per message. For each limit, on a fresh PostgreSQL database and a
flushed Redis db: one account, a ``transcriber worker`` with ``TRANSCRIBER_ACCOUNT_CONCURRENCY``
set to that limit, and the signed Telegram webhooks of every recording sent at once through the
real receiver. The worker downloads, shapes and plans chunks of at most
``TRANSCRIBER_CHUNK_SECONDS``, and sends each chunk through the real ``openai`` SDK to the
loopback stand-in in its slow mode, which answers after ``--seconds-per-audio-second`` times the
uploaded chunk's duration. A run ends when every note has reached the Chatwoot stand-in.

Per limit it prints the wall time (first webhook to last note), audio minutes per wall minute,
the stand-in's ``max_in_flight`` (it must equal the limit), and engine requests per chunk (it
must be exactly 1), and flags any run that breaks one of these. It then prints each throughput
as a ratio of the first limit's. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
FIXTURE = "telegram_voice.json"
FIXTURE_ATTACHMENT = 55123
CONVERSATION = 321
ACCOUNT = 3
SECRET = "bench-chunks-secret"
KEY = "sk-bench-" + "c" * 30


def generate(path: Path, minutes: float) -> None:
    """Speech-like bursts of 2-8 s with pauses of 0.3-2 s, as a Telegram voice note."""
    import numpy as np

    from tests.audio import gen

    rate = gen.KINDS["ogg"].rate
    rng = np.random.default_rng(35)

    def blocks() -> Iterator[Any]:
        left = round(minutes * 60 * rate)
        seed = 0
        while left > 0:
            talk = gen.speech_like(float(rng.uniform(2.0, 8.0)), rate, seed=seed)
            pause = gen.silence(float(rng.uniform(0.3, 2.0)), rate)
            seed += 1
            for block in (talk, pause):
                yield block[:left]
                left -= min(left, block.size)

    gen.write(path, blocks(), "ogg")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def payload(url: str, n: int, size: int) -> bytes:
    """The Telegram fixture as message ``n`` of the conversation, its attachment at ``url``."""
    from tests.standins.chatwoot_server import fixture_payload

    body = fixture_payload(FIXTURE, attachment_urls={FIXTURE_ATTACHMENT: url})
    message_id, attachment_id = 700_000 + n, 800_000 + n
    body["id"] = message_id
    messages = body["conversation"]["messages"]
    for message in messages:
        message["id"] = message_id
    for attachment in [a for m in [body, *messages] for a in m["attachments"]]:
        attachment.update(id=attachment_id, message_id=message_id, file_size=size)
    return json.dumps(body).encode()


def _settled(rt: Any, ids: list[int]) -> bool:
    rows = [rt.ledger.get(i) for i in ids]
    return all(r is not None and r.state in ("delivered", "failed", "skipped") for r in rows)


def run_one(args: argparse.Namespace, src: Path, limit: int, workdir: Path) -> dict[str, Any]:
    import psycopg
    import redis
    from cryptography.fernet import Fernet
    from sqlmodel import Session, col, select
    from starlette.testclient import TestClient

    from adapter import accounts as acc
    from adapter.settings import Settings
    from adapter.store import TranscriptChunk, Transcription, migrate
    from adapter.web.app import create_app
    from adapter.web.signing import sign
    from adapter.wiring import build_runtime
    from tests.standins.chatwoot_server import ChatwootStandIn
    from tests.standins.openai_server import OpenAIStandIn

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    broker_db = redis.Redis.from_url(redis_url)
    broker_db.flushdb()
    database = f"bench_chunks_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = {
        "TRANSCRIBER_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
        "TRANSCRIBER_REDIS_URL": redis_url,
        "TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "TRANSCRIBER_WORK_DIR": str(workdir / "work"),
        "TRANSCRIBER_LOG_LEVEL": "WARNING",
        "TRANSCRIBER_ACCOUNT_CONCURRENCY": str(limit),
        "TRANSCRIBER_CHUNK_SECONDS": str(args.chunk_seconds),
    }
    worker = rt = chatwoot = oai = log = None
    try:
        migrate(env["TRANSCRIBER_DATABASE_URL"])
        rt = build_runtime(Settings.model_validate(env), component="bench", observability=False)
        chatwoot = ChatwootStandIn(account_id=ACCOUNT).start()
        oai = OpenAIStandIn(api_key=KEY, seconds_per_audio_second=args.seconds_per_audio_second)
        oai.start()
        acc.create_account(
            rt.accounts,
            rt.keyring,
            ACCOUNT,
            acc.parse_changes(
                {
                    "chatwoot_url": chatwoot.base_url,
                    "api_token": chatwoot.api_token,
                    "webhook_secret": SECRET,
                    "openai_api_key": KEY,
                    "engine": "openai",
                    "model": "whisper-1",
                    "base_url": oai.base_url,
                }
            ),
        )
        chatwoot.add_conversation(CONVERSATION, channel="Channel::Telegram")
        data = src.read_bytes()
        bodies = [
            payload(chatwoot.add_blob("voice.oga", data, content_type="audio/opus"), n, len(data))
            for n in range(args.recordings)
        ]
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TRANSCRIBER_", "OPENAI_", "SENTRY_", "STATSD_", "dramatiq_"))
        }
        log = (workdir / f"worker-{limit}.log").open("wb")
        clean["PYTHONPATH"] = str(REPO)
        if args.prefetch:
            clean["dramatiq_queue_prefetch"] = str(args.prefetch)
        command = ["worker", "--processes", str(args.processes), "--threads", str(args.threads)]
        worker = subprocess.Popen(
            [sys.executable, "-m", "adapter", *command],
            env={**clean, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # every worker process has fetched once when it has a heartbeat in the broker's db
        if not wait_until(lambda: broker_db.zcard("dramatiq:__heartbeats__") >= args.processes, 60):
            raise RuntimeError(f"the worker did not start: see {log.name}")
        ids: list[int] = []
        started = time.monotonic()
        with TestClient(create_app(rt)) as client:
            for body in bodies:
                stamp = str(int(time.time()))
                answer = client.post(
                    f"/webhooks/chatwoot/{ACCOUNT}",
                    content=body,
                    headers={
                        "X-Chatwoot-Timestamp": stamp,
                        "X-Chatwoot-Delivery": str(uuid.uuid4()),
                        "X-Chatwoot-Signature": sign(SECRET.encode(), stamp, body),
                    },
                )
                if answer.json().get("status") != "accepted":
                    raise RuntimeError(f"webhook not accepted: {answer.text}")
                ids += answer.json()["transcriptions"]
        noted = wait_until(
            lambda: len(chatwoot.notes(CONVERSATION)) >= len(bodies) or worker.poll() is not None,
            args.timeout,
        )
        wall = time.monotonic() - started
        # the row is delivered once the attribute is set too; a late duplicate call still counts
        wait_until(lambda: _settled(rt, ids) and oai.in_flight == 0, 30)
        with Session(rt.ledger.engine) as session:
            rows = session.exec(select(Transcription).where(col(Transcription.id).in_(ids))).all()
            chunks = session.exec(
                select(TranscriptChunk).where(col(TranscriptChunk.transcription_id).in_(ids))
            ).all()
        cpu = _tree_cpu(worker.pid)
        flights = [f for f in oai.flights if f.request is not None]
        first = min((f.started for f in flights), default=started)
        span = max((f.ended for f in flights), default=first) - first
        # every chunk's upload is distinct (Ogg stream serials are random), so a chunk sent
        # twice shows as one upload received twice
        uploads = Counter(f.request.sha256 for f in flights if f.request)
        return {
            "limit": limit,
            "noted": noted,
            "wall": wall,
            "cpu": cpu,
            "states": Counter(r.state for r in rows),
            "audio": sum(r.audio_seconds or 0.0 for r in rows),
            "chunks": len(chunks),
            "claims": Counter(c.attempts for c in chunks),
            "requests": len(oai.requests),
            "per_upload": Counter(uploads.values()),
            "max_in_flight": oai.max_in_flight,
            "first_call": first - started,
            "span": span,
            "call": max((f.ended - f.started for f in flights), default=0.0),
            "busy": sum(f.ended - f.started for f in flights) / (limit * span) if span else 0.0,
            "notes": len(chatwoot.notes(CONVERSATION)),
        }
    finally:
        if worker is not None:
            os.kill(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        if log is not None:
            log.close()
        if rt is not None:
            rt.close()
        if chatwoot is not None:
            chatwoot.stop()
        if oai is not None:
            oai.close()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        broker_db.flushdb()


def report(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'limit':>5} {'wall s':>7} {'audio min/wall min':>18} {'max in flight':>13} "
        f"{'requests/chunk':>14} {'chunks':>6} {'first call s':>12} {'calls s':>7} "
        f"{'longest call s':>14} {'slots busy':>10} {'worker CPU s':>12} {'notes':>5}"
    )
    for r in rows:
        print(
            f"{r['limit']:>5} {r['wall']:>7.1f} {r['audio'] / r['wall']:>18.1f} "
            f"{r['max_in_flight']:>13} {r['requests'] / max(r['chunks'], 1):>14.2f} "
            f"{r['chunks']:>6} {r['first_call']:>12.1f} {r['span']:>7.1f} {r['call']:>14.2f} "
            f"{r['busy']:>10.0%} {r['cpu']:>12.0f} {r['notes']:>5}"
        )
        problems = []
        if not r["noted"] or set(r["states"]) != {"delivered"}:
            problems.append(f"states {dict(r['states'])}")
        if r["max_in_flight"] != r["limit"]:
            problems.append(f"max_in_flight {r['max_in_flight']} != limit {r['limit']}")
        if r["requests"] != r["chunks"] or set(r["per_upload"]) != {1}:
            problems.append(
                f"{r['requests']} requests for {r['chunks']} chunks; "
                f"uploads by times received: {dict(r['per_upload'])}"
            )
        if set(r["claims"]) != {1}:
            problems.append(f"chunks by times claimed: {dict(r['claims'])}")
        for problem in problems:
            print(f"      ! {problem}")
    first = rows[0]
    print()
    for r in rows[1:]:
        print(
            f"throughput({r['limit']}) / throughput({first['limit']}): "
            f"{first['wall'] / r['wall']:.2f} end to end (same audio, so the ratio of wall "
            f"times), {first['span'] / r['span']:.2f} from first engine call to last answer"
        )


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by the worker's processes (the parent and its children)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(c) for c in (task / "children").read_text().split()]
    ticks = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=25.0, help="length of the recording")
    parser.add_argument("--recordings", type=int, default=3, help="webhooks sent at once")
    parser.add_argument("--limits", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--seconds-per-audio-second", type=float, default=0.008)
    parser.add_argument("--chunk-seconds", type=float, default=300.0)
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument(
        "--prefetch",
        type=int,
        help="messages each worker process takes per queue (Dramatiq's "
        "dramatiq_queue_prefetch; default twice the threads)",
    )
    parser.add_argument("--redis-db", type=int, default=15, help="flushed before and after")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per limit")
    parser.add_argument(
        "--audio-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "transcriber-bench-audio",
        help="where the generated recording is kept and reused (default: %(default)s)",
    )
    args = parser.parse_args()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-chunks-") as tmp:
        args.audio_dir.mkdir(parents=True, exist_ok=True)
        src = args.audio_dir / f"speech-{args.minutes:g}min.ogg"
        if not src.exists():
            print(f"generating {args.minutes:g} min of speech-like audio …", flush=True)
            started = time.monotonic()
            partial = src.with_suffix(".part.ogg")
            generate(partial, args.minutes)
            partial.rename(src)  # an interrupted run leaves no truncated recording to reuse
            print(f"  {src.stat().st_size / 1e6:.1f} MB in {time.monotonic() - started:.0f} s")
        rows = []
        for limit in args.limits:
            print(f"{args.recordings} x {args.minutes:g} min at limit {limit} …", flush=True)
            rows.append(run_one(args, src, limit, Path(tmp)))
    report(rows)
    print(
        f"whole run {time.monotonic() - begun:.0f} s; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
