"""Peak worker memory and wall time through the real pipeline, and billed vs audio seconds.

    python bench/memory.py                    # 1 min, 30 min, 3 h
    python bench/memory.py --minutes 1 30     # a subset
    python bench/memory.py --keep /tmp/in     # keep (and reuse) the generated MP3s

For each input (speech-like bursts with pauses, 44.1 kHz mono MP3 at 128 kbit/s, made by
``bench/memory_audio.py``'s generator): a fresh ``transcriber worker --processes 1 --threads 4``
on the Redis broker (db 14) and a SQLite database, a loopback Chatwoot stand-in serving the file
as an email attachment, and a loopback OpenAI-compatible stand-in answering at once. One signed
webhook goes through the real receiver; the worker downloads, probes, shapes (split at
silences, silence removal, Opus), "transcribes" every chunk over HTTP through the real ``openai``
SDK, stitches and posts one note. While it runs, the worker process's RSS is read from
``/proc/<pid>/status`` (``VmRSS`` sampled every 50 ms, and ``VmHWM``, the kernel's own peak).
Prints figures and ratios; asserts nothing. The local engine is not loaded (goal: peak RSS under
250 MB for the 3 h file, which does not grow with the file).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "bench-memory-secret"
KEY = "sk-bench-" + "m" * 30
GOAL_MB = 250.0
MAX_AUDIO_BYTES = 500_000_000


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "memory_audio", REPO / "bench" / "memory_audio.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._generate


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            found += [int(c) for c in text]
    except OSError:
        pass
    return found + [g for c in found for g in _children(c)]


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])  # kB
    except OSError:
        pass
    return out


class Sampler(threading.Thread):
    """Samples the RSS of a process tree until stopped; keeps the peak per process."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_rss_kb: dict[int, int] = {}
        self.hwm_kb: dict[int, int] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.05):
            for pid in [self.root, *_children(self.root)]:
                status = _status(pid)
                if "VmRSS" in status:
                    self.peak_rss_kb[pid] = max(self.peak_rss_kb.get(pid, 0), status["VmRSS"])
                    self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status.get("VmHWM", 0))

    def worst(self) -> tuple[float, float]:
        rss = max(self.peak_rss_kb.values(), default=0) / 1024
        hwm = max(self.hwm_kb.values(), default=0) / 1024
        return rss, hwm


def run_one(src: Path, minutes: float, workdir: Path) -> dict[str, Any]:
    import redis
    from cryptography.fernet import Fernet
    from starlette.testclient import TestClient

    from adapter import accounts as acc
    from adapter.settings import Settings
    from adapter.store import State, Transcription, migrate
    from adapter.web.app import create_app
    from adapter.web.signing import sign
    from adapter.wiring import build_runtime
    from tests.standins.chatwoot_server import ChatwootStandIn, fixture_payload
    from tests.standins.openai_server import OpenAIStandIn

    redis.Redis.from_url(REDIS_URL).flushdb()
    db = workdir / f"bench-{minutes:g}.db"
    settings = Settings.model_validate(
        {
            "TRANSCRIBER_DATABASE_URL": f"sqlite:///{db}",
            "TRANSCRIBER_REDIS_URL": REDIS_URL,
            "TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "TRANSCRIBER_WORK_DIR": str(workdir / "work"),
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
        }
    )
    migrate(settings.database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBER_", "OPENAI_"))}
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": settings.database_url,
            "TRANSCRIBER_REDIS_URL": REDIS_URL,
            "TRANSCRIBER_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),  # type: ignore[union-attr]
            "TRANSCRIBER_WORK_DIR": str(workdir / "work"),
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
            # the 3 h input is 173 MB, over the 100 MB default cap
            "TRANSCRIBER_MAX_AUDIO_BYTES": str(MAX_AUDIO_BYTES),
            "PYTHONPATH": str(REPO),
        }
    )
    with ChatwootStandIn(account_id=3) as chatwoot, OpenAIStandIn(api_key=KEY) as oai:
        rt = build_runtime(settings, component="bench", observability=False)
        acc.create_account(
            rt.accounts,
            rt.keyring,
            3,
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
        payload = fixture_payload("email_mp3_with_text.json")
        conversation = payload["conversation"]["id"]
        chatwoot.add_conversation(conversation, channel="Channel::Email")
        url = chatwoot.add_blob("call-recording.mp3", src.read_bytes(), content_type="audio/mpeg")
        payload = fixture_payload(
            "email_mp3_with_text.json", attachment_urls={payload["attachments"][0]["id"]: url}
        )
        log = (workdir / f"worker-{minutes:g}.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "adapter", "worker", "--processes", "1", "--threads", "4"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = Sampler(worker.pid)
        sampler.start()
        try:
            time.sleep(3)  # let the worker boot: its import-time RSS is the baseline
            baseline = (
                max(
                    (_status(p).get("VmRSS", 0) for p in [worker.pid, *_children(worker.pid)]),
                    default=0,
                )
                / 1024
            )
            body = json.dumps(payload).encode()
            stamp = str(int(time.time()))
            started = time.monotonic()
            with TestClient(create_app(rt)) as client:
                response = client.post(
                    "/webhooks/chatwoot/3",
                    content=body,
                    headers={
                        "X-Chatwoot-Timestamp": stamp,
                        "X-Chatwoot-Delivery": str(uuid.uuid4()),
                        "X-Chatwoot-Signature": sign(SECRET.encode(), stamp, body),
                    },
                )
            [tid] = response.json()["transcriptions"]
            deadline = started + 3600
            from sqlmodel import Session

            row = None
            while time.monotonic() < deadline:
                with Session(rt.ledger.engine) as session:
                    row = session.get(Transcription, tid)
                if row is not None and row.state in (State.delivered, State.failed, State.skipped):
                    break
                time.sleep(0.2)
            wall = time.monotonic() - started
        finally:
            sampler.stop_event.set()
            sampler.join()
            os.kill(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
            log.close()
            rt.close()
        assert row is not None
        rss, hwm = sampler.worst()
        return {
            "minutes": minutes,
            "mb": src.stat().st_size / 1e6,
            "state": row.state,
            "error": row.error,
            "wall": wall,
            "baseline": baseline,
            "rss": rss,
            "hwm": hwm,
            "chunks": row.chunks_total,
            "audio": row.audio_seconds or 0.0,
            "billed": row.billed_seconds or 0.0,
            "upload": (row.upload_bytes or 0) / 1e6,
            "requests": len(oai.requests),
            "notes": len(chatwoot.notes(conversation)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 30, 180])
    parser.add_argument("--keep", type=Path, help="directory to keep (and reuse) generated inputs")
    args = parser.parse_args()
    generate = _generator()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        inputs = args.keep or Path(tmp)
        inputs.mkdir(parents=True, exist_ok=True)
        rows = []
        for minutes in args.minutes:
            src = inputs / f"speech-{minutes:g}min.mp3"
            if not src.exists():
                print(f"generating {minutes:g} min of speech-like audio …", flush=True)
                generate(src, minutes)
            print(f"running {minutes:g} min through the pipeline …", flush=True)
            rows.append(run_one(src, minutes, Path(tmp)))
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    print()
    print(
        f"{'input':>8} {'MB':>6} {'state':>10} {'wall s':>7} {'x real':>7} {'base MB':>8} "
        f"{'peak RSS MB':>12} {'VmHWM MB':>9} {'chunks':>6} {'billed/audio':>12} {'upload MB':>9} "
        f"{'calls':>5} {'notes':>5}"
    )
    for r in rows:
        ratio = r["billed"] / r["audio"] if r["audio"] else 0.0
        speed = r["minutes"] * 60 / r["wall"] if r["wall"] else 0.0
        print(
            f"{r['minutes']:>6g}m {r['mb']:>6.1f} {r['state']:>10} {r['wall']:>7.1f} "
            f"{speed:>6.0f}x "
            f"{r['baseline']:>8.0f} {r['rss']:>12.0f} {r['hwm']:>9.0f} {r['chunks'] or 0:>6} "
            f"{ratio:>12.2f} {r['upload']:>9.1f} {r['requests']:>5} {r['notes']:>5}"
        )
        if r["error"]:
            print(f"         error: {r['error']}")
    rows = [r for r in rows if r["state"] == "delivered"]
    if rows:
        worst = max(r["hwm"] for r in rows)
        growth = rows[-1]["hwm"] / rows[0]["hwm"] if rows[0]["hwm"] else 0.0
        print(
            f"\npeak worker RSS {worst:.0f} MB (goal < {GOAL_MB:.0f} MB): "
            f"{'meets' if worst < GOAL_MB else 'MISSES'} the goal; "
            f"longest/shortest input peak ratio {growth:.2f} (flat memory ≈ 1)"
        )


if __name__ == "__main__":
    main()
