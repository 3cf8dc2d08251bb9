"""Signed webhook intake: one ``transcriber serve`` against a bare Starlette 202, in one run.

    python bench/ingest.py [--duration 10] [--concurrency 32]

What runs (everything on 127.0.0.1, every loop bounded in count and time):

* a throw-away PostgreSQL database ``bench_ingest_<random>`` and a dedicated Redis db (11),
  both emptied at the start and removed or flushed in ``finally``;
* target 1, **bare**: a Starlette app with the same route that reads the body and answers
  ``202 {"status": "accepted", "transcriptions": []}``, under uvicorn with the settings of
  ``transcriber serve`` (``log_config=None, access_log=False``) — the floor for any endpoint;
* target 2, **serve**: ``python -m adapter serve`` (one process) on that database with the Redis
  broker, after ``migrate`` and ``accounts add``;
* the same load generator for both, in its own process: ``--concurrency`` keep-alive HTTP/1.1
  connections, each sending its next pre-built, pre-signed request as soon as the previous answer
  arrived (closed loop). The requests are written as raw bytes on asyncio streams rather than
  through httpx, so the client spends about half the CPU per request of even the bare server
  (the table shows both processes' CPU, so a client-bound run would show).

Every request is the shared WhatsApp voice-note fixture with a unique message id, attachment id,
storage URL and ``X-Chatwoot-Delivery``, so each accepted webhook costs the service one queued
transcription row and one Redis message (the worst case); ``--text-share`` mixes in text-only
messages, which the service records and ignores. After the run the database must hold exactly
one transcription per accepted audio webhook and ``dramatiq:transcribe`` exactly one message each.

Goals (reported, never asserted): >= 500 webhooks/s with p99 < 100 ms, and >= 30 % of the bare
rate.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIXTURE = REPO / "tests/fixtures/chatwoot/whatsapp_voice_note_ogg_opus.json"
HOST = "127.0.0.1"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
ACCOUNT_ID = 1
WEBHOOK_SECRET = "bench-webhook-secret"

GOAL_RATE = 500.0  # webhooks/s
GOAL_P99_MS = 100.0
GOAL_SHARE = 0.30  # of the bare rate

#: sentinels replaced per request in the serialized fixture
_MESSAGE_SENTINEL = 987_650_001
_ATTACHMENT_SENTINEL = 987_650_002
#: upper bound on the serve target's rate used to size its pool of unique requests
POOL_RATE_CAP = 2_500
#: the bare target does not deduplicate: a small pool is cycled
BARE_POOL = 4_096
REQUEST_TIMEOUT_S = 10.0


# ─── request pool (load generator side) ──────────────────────────────────────────────────────


def _templates(fixture: Path) -> tuple[str, str]:
    """The fixture serialized twice (voice note, text only) with sentinel ids to replace."""
    payload = json.loads(fixture.read_text())
    payload["id"] = _MESSAGE_SENTINEL
    payload["event"] = "message_created"
    messages = (payload.get("conversation") or {}).get("messages") or []
    for message in messages:
        message["id"] = _MESSAGE_SENTINEL
    for attachment in [a for m in [payload, *messages] for a in m.get("attachments") or []]:
        attachment["id"] = _ATTACHMENT_SENTINEL
        attachment["message_id"] = _MESSAGE_SENTINEL
        # every upload has its own signed storage URL: make each one unique, as in production
        url = str(attachment.get("data_url") or "https://chatwoot.example.test/voice_note.ogg")
        url, found = re.subn(r"--[0-9a-f]{16,}/", f"--{_ATTACHMENT_SENTINEL}/", url, count=1)
        attachment["data_url"] = (
            url if found else (f"{url}{'&' if '?' in url else '?'}v={_ATTACHMENT_SENTINEL}")
        )
    audio = json.dumps(payload, separators=(",", ":"))
    payload["attachments"] = []
    payload["content"] = "Hello, is my order on its way?"
    for message in messages:
        message["attachments"] = []
        message["content"] = payload["content"]
    text = json.dumps(payload, separators=(",", ":"))
    return audio, text


def build_pool(spec: dict[str, Any]) -> tuple[list[bytes], list[bool]]:
    """Raw HTTP/1.1 requests, each signed now; and which of them carry a voice note."""
    audio_t, text_t = _templates(Path(spec["fixture"]))
    secret = spec["secret"].encode()
    share = float(spec["text_share"])
    timestamp = str(int(time.time()))
    head = (
        f"POST /webhooks/chatwoot/{spec['account_id']} HTTP/1.1\r\n"
        f"Host: {HOST}:{spec['port']}\r\n"
        "User-Agent: bench-ingest\r\n"
        "Content-Type: application/json\r\n"
        f"X-Chatwoot-Timestamp: {timestamp}\r\n"
    )
    requests: list[bytes] = []
    kinds: list[bool] = []
    for i in range(int(spec["pool_size"])):
        is_text = int((i + 1) * share) > int(i * share)
        ident = int(spec["id_base"]) + i
        body = (
            (text_t if is_text else audio_t)
            .replace(str(_MESSAGE_SENTINEL), str(ident))
            .replace(str(_ATTACHMENT_SENTINEL), str(ident))
            .encode()
        )
        # signed as Chatwoot signs (CONTRACT.md), independently of adapter.web.signing
        digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        requests.append(
            (
                head
                + f"X-Chatwoot-Signature: sha256={digest}\r\n"
                + f"X-Chatwoot-Delivery: {uuid.uuid4()}\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        kinds.append(not is_text)
    return requests, kinds


# ─── CPU accounting (Linux /proc) ──────────────────────────────────────────────────────────


def _process_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all cores."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


# ─── load generator (its own process) ─────────────────────────────────────────────────────


@dataclass
class Sample:
    start: float
    end: float
    status: int
    audio: bool
    accepted: bool  # body says "accepted"


async def _load(spec: dict[str, Any], pool: list[bytes], kinds: list[bool]) -> dict[str, Any]:
    port = int(spec["port"])
    concurrency = int(spec["concurrency"])
    unique = bool(spec["unique"])
    samples: list[Sample] = []
    errors: Counter[str] = Counter()
    cursor = 0
    loop_start = time.perf_counter()
    warm_end = loop_start + float(spec["warmup"])
    stop_at = warm_end + float(spec["duration"])
    marks: dict[str, Any] = {}

    def take() -> int | None:
        nonlocal cursor
        if unique and cursor >= len(pool):
            return None
        index = cursor % len(pool)
        cursor += 1
        return index

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await asyncio.open_connection(HOST, port)
        except (OSError, TimeoutError) as exc:
            errors[f"connect {type(exc).__name__}"] += 1
            return None

    async def connection() -> None:
        streams = await connect()
        if streams is None:
            return
        reader, writer = streams
        try:
            while time.perf_counter() < stop_at:
                index = take()
                if index is None:
                    marks.setdefault("exhausted", time.perf_counter())
                    return
                t0 = time.perf_counter()
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        writer.write(pool[index])
                        await writer.drain()
                        head = await reader.readuntil(b"\r\n\r\n")
                        status = int(head[9:12])
                        lower = head.lower()
                        at = lower.find(b"\r\ncontent-length:")
                        if at < 0:
                            raise ValueError("response without Content-Length")
                        length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
                        body = await reader.readexactly(length)
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    TimeoutError,
                    ValueError,
                ) as exc:
                    errors[type(exc).__name__] += 1
                    lower = b"\r\nconnection: close"
                else:
                    samples.append(
                        Sample(t0, time.perf_counter(), status, kinds[index], b'"accepted"' in body)
                    )
                if b"\r\nconnection: close" in lower:
                    writer.close()
                    streams = await connect()
                    if streams is None:
                        return
                    reader, writer = streams
        finally:
            writer.close()

    async def meter() -> None:
        # CPU of the server, of this client and of the whole machine over the measured window
        await asyncio.sleep(max(0.0, warm_end - time.perf_counter()))
        marks["cpu0"] = (
            _process_cpu_s(int(spec["server_pid"])),
            time.process_time(),
            _machine_cpu(),
            time.perf_counter(),
        )
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        marks["cpu1"] = (
            _process_cpu_s(int(spec["server_pid"])),
            time.process_time(),
            _machine_cpu(),
            time.perf_counter(),
        )

    meter_task = asyncio.create_task(meter())
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    window_end = min(stop_at, marks.get("exhausted", stop_at))
    if not meter_task.done():
        meter_task.cancel()
        marks["cpu1"] = (
            _process_cpu_s(int(spec["server_pid"])),
            time.process_time(),
            _machine_cpu(),
            time.perf_counter(),
        )
    window = max(1e-9, window_end - warm_end)

    measured = [s for s in samples if s.start >= warm_end and s.end <= window_end]
    latencies = sorted(s.end - s.start for s in measured if s.status == 202)

    def pct(q: float) -> float:
        if not latencies:
            return math.nan
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    result: dict[str, Any] = {
        "window_s": window,
        "accepted": sum(1 for s in measured if s.status == 202),
        "rate": sum(1 for s in measured if s.status == 202) / window,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else math.nan,
        "non_202": dict(Counter(str(s.status) for s in samples if s.status != 202)),
        "errors": dict(errors),
        "sent": len(samples) + sum(errors.values()),
        "audio_202": sum(1 for s in samples if s.status == 202 and s.audio),
        "audio_202_accepted": sum(1 for s in samples if s.status == 202 and s.audio and s.accepted),
        "text_202": sum(1 for s in samples if s.status == 202 and not s.audio),
        "pool_exhausted": "exhausted" in marks and marks["exhausted"] < stop_at,
    }
    if "cpu0" in marks and "cpu1" in marks:
        srv0, cli0, (busy0, tot0), t0 = marks["cpu0"]
        srv1, cli1, (busy1, tot1), t1 = marks["cpu1"]
        elapsed = max(1e-9, t1 - t0)
        result["server_cpu"] = (srv1 - srv0) / elapsed
        result["client_cpu"] = (cli1 - cli0) / elapsed
        result["machine_busy"] = (busy1 - busy0) / max(1, tot1 - tot0)
    return result


def client_main(spec: dict[str, Any]) -> None:
    pool, kinds = build_pool(spec)
    result = asyncio.run(_load(spec, pool, kinds))
    print(json.dumps(result))


# ─── bare target (its own process) ────────────────────────────────────────────────────────


def bare_main(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def receive(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "accepted", "transcriptions": []}, status_code=202)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/webhooks/chatwoot/{account_id}", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    # the uvicorn settings of `transcriber serve` (adapter/cli.py cmd_serve)
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        proxy_headers=True,
    )


# ─── orchestration ────────────────────────────────────────────────────────────────────────


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _env(database: str, redis_db: int, key: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRANSCRIBER_", "OPENAI_", "SENTRY_", "STATSD_"))
    }
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
            "TRANSCRIBER_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
            "TRANSCRIBER_ENCRYPTION_KEYS": key,
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env


def _adapter(args: list[str], env: dict[str, str], cwd: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "adapter", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"transcriber {args[0]} failed: {done.stderr.strip()[-2000:]}")


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with opener.open(f"http://{HOST}:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _run_client(spec: dict[str, Any], env: dict[str, str], cwd: str) -> dict[str, Any]:
    limit = float(spec["warmup"]) + float(spec["duration"]) + REQUEST_TIMEOUT_S + 60
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--role",
            "client",
            "--spec",
            json.dumps(spec),
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=limit,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _phase(
    name: str,
    cmd: list[str],
    port: int,
    env: dict[str, str],
    tmp: str,
    spec: dict[str, Any],
    procs: list[subprocess.Popen[bytes]],
) -> dict[str, Any]:
    log = Path(tmp) / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    procs.append(proc)
    try:
        _wait_ready(proc, port, log)
        print(
            f"  {name}: {spec['warmup']:g} s warm-up + {spec['duration']:g} s measured, "
            f"{spec['concurrency']} connections …",
            flush=True,
        )
        return _run_client({**spec, "port": port, "server_pid": proc.pid}, env, tmp)
    finally:
        _stop(proc)


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _report(
    bare: dict[str, Any], serve: dict[str, Any], counts: dict[str, int], args: argparse.Namespace
) -> None:
    share = serve["rate"] / bare["rate"] if bare["rate"] else math.nan
    rows = [("bare Starlette 202", bare), ("transcriber serve", serve)]
    print()
    print(
        f"{'target':20} {'accepted/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'non-202':>7} {'errors':>6} {'server CPU':>10} {'CPU ms/req':>10} {'client CPU':>10} "
        f"{'box busy':>8}"
    )
    for label, r in rows:
        server_cpu = r.get("server_cpu", math.nan)
        per_request = 1000 * server_cpu / r["rate"] if r["rate"] else math.nan
        print(
            f"{label:20} {_fmt(r['rate']):>10} {_fmt(r['p50_ms']):>7} {_fmt(r['p99_ms']):>7} "
            f"{_fmt(r['max_ms']):>7} {sum(r['non_202'].values()):>7} "
            f"{sum(r['errors'].values()):>6} "
            f"{_fmt(100 * server_cpu, 0) + ' %':>10} {_fmt(per_request, 2):>10} "
            f"{_fmt(100 * r.get('client_cpu', math.nan), 0) + ' %':>10} "
            f"{_fmt(100 * r.get('machine_busy', math.nan), 0) + ' %':>8}"
        )
    print(
        f"{'serve / bare':20} {_fmt(100 * share, 1) + ' %':>10} "
        f"{'p99 x' + _fmt(serve['p99_ms'] / bare['p99_ms'], 1):>15}"
    )
    print(
        f"(server/client CPU: share of one core; CPU ms/req: server CPU per accepted webhook; "
        f"box busy: all {os.cpu_count()} cores, PostgreSQL, Redis and other load included)"
    )
    for label, r in rows:
        if r["non_202"] or r["errors"]:
            print(f"  {label}: non-202 {r['non_202']}, client errors {r['errors']}")
        if r["pool_exhausted"]:
            print(
                f"  {label}: ran out of pre-signed requests after {r['window_s']:.1f} s "
                "(measured over that shorter window)"
            )
    b_cli, b_srv = bare.get("client_cpu", math.nan), bare.get("server_cpu", math.nan)
    busy = max(bare.get("machine_busy", 0.0), serve.get("machine_busy", 0.0))
    if b_cli >= 0.9 and not b_srv >= 0.9:
        print(
            "  note: the bare run looks client-bound (client >= 90 % of a core, server below): "
            "the bare rate is a lower bound and serve/bare an upper bound"
        )
    elif busy >= 0.95 and not b_srv >= 0.9:
        print(
            f"  note: the machine was saturated (box busy {100 * busy:.0f} %) and the bare "
            f"server got {_fmt(100 * b_srv, 0)} % of a core, the client "
            f"{_fmt(100 * b_cli, 0)} %: other load depresses the absolute rates; "
            "CPU ms/req is the figure that survives it"
        )
    else:
        print(
            f"  load generator: {_fmt(100 * b_cli, 0)} % of a core at the bare rate, server "
            f"{_fmt(100 * b_srv, 0)} %: the server, not the client, sets the bare rate"
        )
    per_core = [r["rate"] / r["server_cpu"] if r.get("server_cpu") else math.nan for _, r in rows]
    print(
        f"  per core of server CPU: bare {_fmt(per_core[0], 0)}/s, "
        f"serve {_fmt(per_core[1], 0)}/s ({_fmt(100 * per_core[1] / per_core[0], 1)} %), "
        "before PostgreSQL's and Redis's own CPU"
    )

    ok = (
        counts["transcriptions"] == serve["audio_202_accepted"] == counts["queued_messages"]
        and serve["audio_202"] == serve["audio_202_accepted"]
    )
    print(
        f"integrity: {serve['audio_202']} audio webhooks answered 202 "
        f"({serve['audio_202_accepted']} 'accepted'), {serve['text_202']} text-only; "
        f"database: {counts['transcriptions']} transcriptions, "
        f"{counts['deliveries']} deliveries; "
        f"dramatiq:transcribe: {counts['queued_messages']} messages -> "
        f"{'OK, nothing lost' if ok else 'MISMATCH'}"
    )

    misses = []
    if not serve["rate"] >= GOAL_RATE:
        misses.append(f"{serve['rate']:.0f}/s < {GOAL_RATE:.0f}/s")
    if not serve["p99_ms"] < GOAL_P99_MS:
        misses.append(f"p99 {_fmt(serve['p99_ms'])} ms >= {GOAL_P99_MS:.0f} ms")
    if not share >= GOAL_SHARE:
        misses.append(f"{100 * share:.0f} % of bare < {100 * GOAL_SHARE:.0f} %")
    goals = (
        f">= {GOAL_RATE:.0f}/s, p99 < {GOAL_P99_MS:.0f} ms, >= {100 * GOAL_SHARE:.0f} % "
        f"of bare at {args.concurrency} connections"
    )
    if misses:
        print(f"verdict: MISSES the goals ({goals}): " + "; ".join(misses))
    else:
        print(f"verdict: MEETS the goals ({goals})")


def orchestrate(args: argparse.Namespace) -> int:
    import psycopg
    import redis
    from cryptography.fernet import Fernet

    database = f"bench_ingest_{secrets.token_hex(4)}"
    key = Fernet.generate_key().decode()
    env = _env(database, args.redis_db, key)
    rds = redis.Redis(host=HOST, port=6379, db=args.redis_db, socket_timeout=10)
    procs: list[subprocess.Popen[bytes]] = []
    created = False
    total_s = 2 * (args.warmup + args.duration)
    print(
        f"bench/ingest: one `transcriber serve` vs a bare Starlette 202 on {os.cpu_count()} "
        f"cores (load average {os.getloadavg()[0]:.2f}), ~{total_s:.0f} s of load"
    )
    try:
        rds.flushdb()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        created = True
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            _adapter(["migrate"], env, tmp)
            _adapter(
                [
                    "accounts",
                    "add",
                    "--account-id",
                    str(ACCOUNT_ID),
                    "--chatwoot-url",
                    "http://127.0.0.1:9",
                    "--api-token",
                    "T",
                    "--webhook-secret",
                    WEBHOOK_SECRET,
                ],
                env,
                tmp,
            )
            spec: dict[str, Any] = {
                "fixture": str(args.fixture),
                "secret": WEBHOOK_SECRET,
                "account_id": ACCOUNT_ID,
                "concurrency": args.concurrency,
                "warmup": args.warmup,
                "duration": args.duration,
                "text_share": args.text_share,
            }
            port = _free_port()
            bare = _phase(
                "bare",
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--role",
                    "bare",
                    "--port",
                    str(port),
                ],
                port,
                env,
                tmp,
                {**spec, "pool_size": BARE_POOL, "unique": False, "id_base": 1},
                procs,
            )
            port = _free_port()
            pool = int(POOL_RATE_CAP * (args.warmup + args.duration))
            serve = _phase(
                "serve",
                [sys.executable, "-m", "adapter", "serve", "--host", HOST, "--port", str(port)],
                port,
                env,
                tmp,
                {**spec, "pool_size": pool, "unique": True, "id_base": 10_000_000},
                procs,
            )
        with psycopg.connect(
            f"host=127.0.0.1 port=5432 user=postgres dbname={database}", connect_timeout=10
        ) as conn:
            transcriptions = conn.execute("SELECT count(*) FROM transcriptions").fetchone()
            deliveries = conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
        counts = {
            "transcriptions": int(transcriptions[0]) if transcriptions else -1,
            "deliveries": int(deliveries[0]) if deliveries else -1,
            "queued_messages": int(rds.llen("dramatiq:transcribe")),
        }
        _report(bare, serve, counts, args)
        return 0
    finally:
        for proc in procs:
            _stop(proc)
        try:
            if created:
                with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except psycopg.Error as exc:
            print(f"warning: could not drop database {database}: {exc}", file=sys.stderr)
        try:
            rds.flushdb()
        except redis.RedisError as exc:
            print(f"warning: could not flush Redis db {args.redis_db}: {exc}", file=sys.stderr)
        rds.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=10.0, help="measured seconds per target (default 10)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of load discarded before measuring (default 2)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="keep-alive connections of the load generator (default 32)",
    )
    parser.add_argument(
        "--text-share",
        type=float,
        default=0.0,
        help="share of text-only (ignored) messages, 0..1 (default 0: all audio)",
    )
    parser.add_argument(
        "--redis-db", type=int, default=11, help="Redis db to use and flush (default 11)"
    )
    parser.add_argument(
        "--fixture",
        type=Path,
        default=DEFAULT_FIXTURE,
        help="Chatwoot message_created body with one audio attachment",
    )
    parser.add_argument(
        "--role", choices=["main", "bare", "client"], default="main", help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "bare":
        bare_main(args.port)
        return 0
    if args.role == "client":
        client_main(json.loads(args.spec))
        return 0
    if not 0 < args.duration <= 120 or not 0 <= args.warmup <= 30:
        parser.error(
            "--duration must be in (0, 120] and --warmup in [0, 30] seconds "
            "(signatures are valid for 300 s)"
        )
    if not 1 <= args.concurrency <= 512 or not 0 <= args.text_share < 1:
        parser.error("--concurrency must be in [1, 512] and --text-share in [0, 1)")
    if not args.fixture.is_file():
        parser.error(f"fixture {args.fixture} not found (pass --fixture)")
    try:
        return orchestrate(args)
    except KeyboardInterrupt:
        print("interrupted (cleaned up)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
