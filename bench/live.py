"""Live transcription on the offline engine: first-partial and final latency, and real-time
factor, for 1 and 4 concurrent streams.

    python bench/live.py --quick                 # tiny.en, en1 alone then 4 clips at once
    python bench/live.py                         # tiny.en and base (a few minutes on 2 cores)
    python bench/live.py --models base --streams 1 4

One ``transcriber up`` (a real process) on a throw-away SQLite database, with one account per
model (``--engine local``, a stream token each). Clients are raw ``websockets`` clients of
``WS /v1/realtime?intent=transcription``: each sends one shared fixture (decoded to pcm16 mono
24 kHz with PyAV) in 100 ms frames paced by the wall clock, each frame sent once it has been
"recorded", with the server's VAD, then 1.5 s of silence, and waits for ``completed``.

- **first partial**: speech start (the first loud 10 ms of the clip, in stream time) → the
  first ``…input_audio_transcription.delta``;
- **final**: speech end (the last loud 10 ms) → the last ``…completed`` (a clip with a long
  pause, es1, is two utterances). It includes the VAD's 500 ms of silence before the utterance
  ends; **decode** is the last ``committed`` → ``completed`` alone;
- **WER** against ``texts.tsv``;
- **CPU/audio s**: the server's CPU seconds (its process and children, from ``/proc``) over the
  run divided by the audio seconds streamed (silence included): how much of a core one second
  of live audio costs, partials, VAD and the final together. 1/that is how many streams a
  core could keep up with if nothing else ran.

A 1-stream run sends the clips one after another; a 4-stream run sends them at once (en1, en2,
en3, es1: tiny.en is English-only, so its es1 WER is meaningless). Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import jiwer
import numpy as np
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "audio"
TEXTS = {
    row.split("\t")[0]: (row.split("\t")[1], row.split("\t")[2])
    for row in (FIXTURES / "texts.tsv").read_text().splitlines()[1:]
}
CLIPS = ["en1.ogg", "en2.ogg", "en3.ogg", "es1.ogg"]
ACCOUNTS = {"tiny.en": 3, "base": 4}
RATE = 24000
FRAME = 0.1
TAIL = 1.5
LEAD = 0.3
PREFIX = "transcription."


def _token(model: str) -> str:
    return f"bench-live-{model.replace('.', '-')}-0123456789abcdef"


def pcm24(name: str) -> bytes:
    with av.open(str(FIXTURES / name)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        pieces = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(pieces).astype("<i2").tobytes()


def speech_span(pcm: bytes) -> tuple[float, float]:
    """Start and end of speech in seconds: the first and last 10 ms over -40 dBFS."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    step = RATE // 100
    windows = samples[: len(samples) // step * step].reshape(-1, step)
    loud = np.flatnonzero(np.sqrt((windows**2).mean(axis=1)) > 0.01)
    return float(loud[0] * 0.01), float((loud[-1] + 1) * 0.01)


def words(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))


@dataclass
class Stream:
    clip: str
    speech: float = 0.0  # audio seconds of speech (start to end)
    streamed: float = 0.0  # audio seconds sent, silence included
    first_partial: float | None = None
    final: float | None = None
    decode: float | None = None
    wer: float | None = None
    text: str = ""
    utterances: int = 0
    errors: list[str] = field(default_factory=list)


async def run_stream(url: str, token: str, clip: str) -> Stream:
    result = Stream(clip)
    lang = TEXTS[clip][0]
    audio = bytes(int(LEAD * RATE) * 2) + pcm24(clip) + bytes(int(TAIL * RATE) * 2)
    start, end = speech_span(audio)
    result.speech = end - start
    size = int(FRAME * RATE) * 2
    frames = [audio[i : i + size] for i in range(0, len(audio), size)]
    result.streamed = len(audio) / 2 / RATE
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        await ws.recv()  # session.created
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "transcription",
                        "audio": {"input": {"transcription": {"language": lang}}},
                    },
                }
            )
        )
        t0 = time.perf_counter() + 0.05
        committed: float | None = None

        async def send() -> None:
            for i, chunk in enumerate(frames):
                # frame i holds [i*FRAME, (i+1)*FRAME): it can be sent once recorded
                await asyncio.sleep(max(0.0, t0 + (i + 1) * FRAME - time.perf_counter()))
                data = base64.b64encode(chunk).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": data}))

        sender = asyncio.create_task(send())
        started = done = 0
        texts: list[str] = []
        # a clip with a long pause is more than one utterance: wait for every one of them
        deadline = t0 + len(frames) * FRAME + 120
        while not (sender.done() and started and done >= started):
            if time.perf_counter() > deadline:
                result.errors.append("timeout")
                break
            try:
                message = await asyncio.wait_for(ws.recv(), 0.1)
            except TimeoutError:
                continue
            event: dict[str, Any] = json.loads(message)
            now = time.perf_counter() - t0
            kind = event["type"]
            if kind == "error":
                result.errors.append(event["error"].get("code", "?"))
            elif kind == "input_audio_buffer.speech_started":
                started += 1
            elif kind == "input_audio_buffer.committed":
                committed = now
            elif kind.endswith(PREFIX + "delta") and result.first_partial is None:
                result.first_partial = now - start
            elif kind.endswith(PREFIX + "failed"):
                result.errors.append("failed")
                done += 1
            elif kind.endswith(PREFIX + "completed"):
                done += 1
                texts.append(event.get("transcript", ""))
                result.final = now - end
                result.decode = now - committed if committed is not None else None
        result.utterances = done
        result.text = " ".join(texts)
        result.wer = float(jiwer.wer(words(TEXTS[clip][1]), words(result.text)))
        await sender
    return result


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its living descendants (utime + stime, and the reaped
    children's cutime + cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += sum(int(f) for f in fields[11:15])
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / tick


@dataclass
class Run:
    model: str
    streams: int
    results: list[Stream]
    wall: float
    cpu: float


async def run(url: str, model: str, clips: list[str], streams: int) -> list[Stream]:
    token = _token(model)
    if streams == 1:
        return [await run_stream(url, token, clip) for clip in clips]
    out: list[Stream] = []
    for i in range(0, len(clips), streams):
        group = clips[i : i + streams]
        out += await asyncio.gather(*(run_stream(url, token, c) for c in group))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(work: Path, port: int, models: list[str]) -> subprocess.Popen[bytes]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBER_", "OPENAI_"))}
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
            "TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "TRANSCRIBER_WORK_DIR": str(work / "jobs"),
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
            "TRANSCRIBER_RECONCILE_INTERVAL_SECONDS": "0",
            # a closed stream may still be ending on the server when the next run opens 4
            "TRANSCRIBER_STREAM_MAX_PER_ACCOUNT": "8",
            "PYTHONPATH": str(REPO),
        }
    )
    cmd = [sys.executable, "-m", "adapter"]
    subprocess.run([*cmd, "migrate"], env=env, check=True, capture_output=True)
    for model in models:
        subprocess.run(
            [
                *cmd,
                "accounts",
                "add",
                "--account-id",
                str(ACCOUNTS[model]),
                "--chatwoot-url",
                "http://127.0.0.1:9",
                "--api-token",
                "env:BENCH_API_TOKEN",
                "--webhook-secret",
                "env:BENCH_SECRET",
                "--stream-token",
                "env:BENCH_STREAM_TOKEN",
                "--engine",
                "local",
                "--model",
                model,
            ],
            env={
                **env,
                "BENCH_API_TOKEN": "bench-api-token-0123456789",
                "BENCH_SECRET": "bench-live-secret",
                "BENCH_STREAM_TOKEN": _token(model),
            },
            check=True,
            capture_output=True,
        )
    proc = subprocess.Popen(
        [*cmd, "up", "--port", str(port), "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "up.log", "wb"),  # noqa: SIM115 (closed with the directory)
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("`transcriber up` did not start:\n" + (work / "up.log").read_text())


def ms(value: float | None) -> str:
    return f"{value * 1000:6.0f}" if value is not None else "     -"


def summary(values: list[float | None]) -> tuple[float | None, float | None]:
    known = [v for v in values if v is not None]
    return (statistics.median(known), max(known)) if known else (None, None)


def report(runs: list[Run]) -> None:
    print(
        "\nmodel    streams clips | first partial ms  | final ms (end→done) | decode ms        "
        "| WER med | CPU s/audio s  wall s"
    )
    print(
        "                       |  median      max  |  median      max    |  median      max "
        "|         |"
    )
    for r in runs:
        fp = summary([s.first_partial for s in r.results])
        fi = summary([s.final for s in r.results])
        de = summary([s.decode for s in r.results])
        wers = [s.wer for s in r.results if s.wer is not None]
        wer = f"{statistics.median(wers):7.2f}" if wers else "      -"
        audio = sum(s.streamed for s in r.results)
        print(
            f"{r.model:8s} {r.streams:7d} {len(r.results):5d} | {ms(fp[0])}   {ms(fp[1])}    "
            f"|  {ms(fi[0])}   {ms(fi[1])}     | {ms(de[0])}   {ms(de[1])}   | {wer} "
            f"| {r.cpu / audio:10.3f}  {r.wall:7.1f}"
        )
        for s in r.results:
            flag = f" ! {s.errors}" if s.errors else ""
            print(
                f"    {s.clip:8s} speech {s.speech:4.1f} s  partial {ms(s.first_partial)} ms  "
                f"final {ms(s.final)} ms  decode {ms(s.decode)} ms  WER {s.wer or 0:.2f}  "
                f"utterances {s.utterances}  "
                f"{s.text!r}{flag}"
            )
    print("\nratios 4 streams / 1 stream (medians):")
    for model in dict.fromkeys(r.model for r in runs):
        by = {r.streams: r for r in runs if r.model == model}
        if 1 not in by:
            continue
        for n, other in by.items():
            if n == 1:
                continue
            parts = []
            for name, attr in (
                ("first partial", "first_partial"),
                ("final", "final"),
                ("decode", "decode"),
            ):
                one = summary([getattr(s, attr) for s in by[1].results])[0]
                many = summary([getattr(s, attr) for s in other.results])[0]
                if one and many:
                    parts.append(f"{name} {many / one:.2f}")
            cpu1 = by[1].cpu / sum(s.streamed for s in by[1].results)
            cpun = other.cpu / sum(s.streamed for s in other.results)
            parts.append(f"CPU/audio s {cpun / cpu1:.2f}")
            print(f"  {model}: {n}/1 streams: " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"], choices=ACCOUNTS)
    parser.add_argument("--streams", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--rounds", type=int, default=1, help="times each clip is sent per run")
    parser.add_argument("--quick", action="store_true", help="tiny.en; en1 alone, then 4 clips")
    args = parser.parse_args()
    models = ["tiny.en"] if args.quick else args.models
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        port = free_port()
        proc = start(Path(tmp), port, models)
        url = f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription"
        try:
            print(f"transcriber up (pid {proc.pid}) on 127.0.0.1:{port}, SQLite")
            time.sleep(2)
            idle0 = cpu_seconds(proc.pid)
            time.sleep(5)
            idle = (cpu_seconds(proc.pid) - idle0) / 5
            print(f"server idle: {idle * 100:.1f} % of a core (counted in CPU s/audio s)")
            for model in models:
                # warm-up: loads the model for live use; not measured
                warm = asyncio.run(run(url, model, ["en2.ogg"], 1))
                print(f"{model}: warm-up final {ms(warm[0].final)} ms (model loaded)")
                for n in args.streams:
                    if args.quick:
                        clips = ["en1.ogg"] if n == 1 else (CLIPS * n)[:n]
                    else:
                        clips = (CLIPS * max(1, n // len(CLIPS) + 1))[: max(n, len(CLIPS))]
                    clips = clips * args.rounds
                    cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
                    results = asyncio.run(run(url, model, clips, n))
                    wall = time.perf_counter() - wall0
                    runs.append(Run(model, n, results, wall, cpu_seconds(proc.pid) - cpu0))
                    print(f"{model}: {n} stream(s) done in {wall:.1f} s")
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    report(runs)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
