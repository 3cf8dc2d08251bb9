"""Slow clients against the receiver: memory held per stalled connection, and how many stalled
connections it survives while still answering real webhooks in under 1 s.

    python bench/slow_clients.py                         # about a minute
    python bench/slow_clients.py --levels 100 500 900 1200 --hold 200

One ``transcriber up`` on a throw-away SQLite database (the same server limits as ``serve``:
``adapter.web.server.limits``), with account 3. A stalled client declares a 1 MiB webhook body
(the default limit), sends well-formed fresh signature headers and all of the body but its last
10 bytes, then stops: the worst a client without the secret can do, since everything else is
refused before the body (measured too: the same stall without a signature). The server's RSS is
read from ``/proc/<pid>/status``.

1. Memory: ``--hold`` stalled bodies at once, RSS before, while they are held, and after the
   request timeout has closed them; the same without a signature.
2. Survival: for each of ``--levels``, that many stalled connections at once (each sending
   64 KiB of its body), then ``--probes`` real signed webhooks one after another; their answers
   and latencies. Beyond ``TRANSCRIBER_HTTP_MAX_CONNECTIONS`` the receiver answers 503 by design.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SECRET = "bench-slow-clients-secret"
DECLARED = 1024 * 1024


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _headers(body: bytes, *, signed: bool) -> dict[str, str]:
    if not signed:
        return {"Content-Type": "application/json"}
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Signature": f"sha256={digest}",
    }


def _head(port: int, headers: dict[str, str], length: int) -> bytes:
    lines = [
        "POST /webhooks/chatwoot/3 HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {length}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _stall(port: int, sent: int, *, signed: bool) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(_head(port, _headers(b"{}", signed=signed), DECLARED) + b"x" * sent)
    return sock


def _real(port: int, n: int) -> tuple[int, float]:
    """One real signed webhook (a text message: verified, recorded, answered 202 ignored)."""
    payload = {
        "event": "message_created",
        "id": 10_000 + n,
        "message_type": "incoming",
        "private": False,
        "content": f"hello {n}",
        "attachments": [],
        "conversation": {"id": 1, "inbox_id": 1, "channel": "Channel::Api"},
        "account": {"id": 3},
    }
    body = json.dumps(payload).encode()
    headers = {**_headers(body, signed=True), "X-Chatwoot-Delivery": f"bench-{n}-{time.time()}"}
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_head(port, headers, len(body)) + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    elapsed = time.perf_counter() - started
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, elapsed


def _settle(pid: int, seconds: float = 1.0) -> float:
    """RSS once it stops moving (the server has read what was sent)."""
    last = _rss_mb(pid)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = _rss_mb(pid)
        if abs(now - last) < 1:
            return now
        last = now
    return last


def _start(work: Path, port: int, timeout: float) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBER_", "OPENAI_"))}
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
            "TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "TRANSCRIBER_WORK_DIR": str(work / "jobs"),
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
            "TRANSCRIBER_RECONCILE_INTERVAL_SECONDS": "0",
            "TRANSCRIBER_HTTP_REQUEST_TIMEOUT_SECONDS": str(timeout),
            "PYTHONPATH": str(REPO),
        }
    )
    run = [sys.executable, "-m", "adapter"]
    subprocess.run([*run, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            *run,
            "accounts",
            "add",
            "--account-id",
            "3",
            "--chatwoot-url",
            "https://chatwoot.example.test",
            "--api-token",
            "bench-api-token-0123456789",
            "--webhook-secret",
            SECRET,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [*run, "up", "--port", str(port), "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if _real(port, 0)[0] == 202:
                return proc, env
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("`transcriber up` did not start")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _closed(socks: list[socket.socket], within: float) -> int:
    """How many of ``socks`` the server closed within ``within`` seconds."""
    closed = 0
    deadline = time.monotonic() + within
    for sock in socks:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            while sock.recv(65536):
                pass
            closed += 1
        except (TimeoutError, ConnectionResetError):
            closed += isinstance(sys.exc_info()[1], ConnectionResetError)
        finally:
            sock.close()
    return closed


def memory(port: int, pid: int, hold: int, timeout: float) -> None:
    print(f"\n1. memory: {hold} stalled connections at once (request timeout {timeout:g} s)")
    for signed in (True, False):
        base = _settle(pid)
        socks = [_stall(port, DECLARED - 10, signed=signed) for _ in range(hold)]
        held = _settle(pid)
        closed = _closed(socks, timeout + 10)
        after = _settle(pid)
        what = "signed headers, 1 MiB body less 10 bytes" if signed else "no signature, same body"
        print(
            f"   {what:42s} RSS {base:7.1f} → {held:7.1f} MB held "
            f"({(held - base) * 1024 / hold:7.1f} KiB per connection), {after:7.1f} MB after; "
            f"{closed}/{hold} closed by the server"
        )


def survival(port: int, levels: list[int], probes: int) -> None:
    print(f"\n2. survival: stalled connections at once, then {probes} real signed webhooks")
    print("   stalled   answered 202   slowest     median   other answers")
    for level in levels:
        socks: list[socket.socket] = []
        try:
            for _ in range(level):
                socks.append(_stall(port, 64 * 1024, signed=True))
        except OSError as exc:
            print(f"   {level:7d}   could not open them all ({exc}); {len(socks)} open")
        results = [_real(port, 100 * level + n) for n in range(probes)]
        ok = sorted(t for s, t in results if s == 202)
        other = sorted({s for s, _ in results if s != 202})
        slowest = f"{max(ok) * 1000:7.1f} ms" if ok else "      -   "
        median = f"{ok[len(ok) // 2] * 1000:7.1f} ms" if ok else "      -   "
        print(
            f"   {len(socks):7d}   {len(ok):5d}/{probes:<5d}   {slowest}  {median}   {other or ''}"
        )
        for sock in socks:
            sock.close()
        time.sleep(1)  # let the server see the closes before the next level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hold", type=int, default=200)
    parser.add_argument("--levels", type=int, nargs="+", default=[100, 300, 600, 900, 1200])
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=10.0, help="request timeout, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
        port = _free_port()
        proc, _ = _start(Path(tmp), port, args.timeout)
        try:
            print(f"transcriber up (pid {proc.pid}) on 127.0.0.1:{port}, SQLite")
            memory(port, proc.pid, args.hold, args.timeout)
            survival(port, args.levels, args.probes)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
