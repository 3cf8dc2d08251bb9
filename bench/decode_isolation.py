"""What decoding in a child process (``adapter.audio.isolated``) costs, against in-process.

    python bench/decode_isolation.py                       # 5 min recording, 15 + 3 rounds
    python bench/decode_isolation.py --minutes 3 --voice-runs 30 --long-runs 5

Part 1, latency: ``adapter.audio.prepare`` on a voice note (the shared es1.ogg, 11.4 s of
Ogg/Opus) and on a generated recording (speech-like bursts with pauses, MP3), in this process
and in a child: forkserver with one spare child (what ``shape`` does), forkserver without a
spare, spawn with and without one. Rounds are interleaved (each round runs every set-up once,
in a rotating order) so a busy machine weighs on all of them alike; each pool is warmed first.
Prints the median and 90th percentile per set-up and what isolation adds to the median.

Part 2, memory: one fresh process per mode decodes the voice note, then the recording twice,
and reports its own peak RSS (VmHWM): in-process it holds the decode, isolated it only waits.
The isolated run also reports its first decode (the fork server starting), each child's peak,
and what the waiting spare child and the fork server cost (RSS and PSS). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from adapter.audio.isolated import DecodeBounds, DecoderPool, Measured, PrepareTask  # noqa: E402
from adapter.engines.base import EngineLimits  # noqa: E402

VOICE = REPO / "tests" / "fixtures" / "audio" / "es1.ogg"
OPENAI = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=1400.0)
SETUPS = ("in-process", "forkserver+spare", "forkserver", "spawn+spare", "spawn")


@dataclass(frozen=True)
class PeakTask(PrepareTask):
    """``prepare`` in the child, answering with the child's own peak RSS too."""

    def __call__(self, measured: Measured) -> Any:
        import resource

        prepared = super().__call__(measured)
        return prepared, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(path: Path, minutes: float) -> None:
    import numpy as np

    from tests.audio import gen

    rate = gen.KINDS["mp3"].rate
    rng = np.random.default_rng(7)

    def blocks() -> Any:
        elapsed, seed = 0.0, 0
        while elapsed < minutes * 60:
            talk = float(rng.uniform(2.0, 8.0))
            yield gen.speech_like(talk, rate, seed=seed)
            pause = float(rng.uniform(0.5, 3.0))
            yield gen.silence(pause, rate)
            elapsed += talk + pause
            seed += 1

    gen.write(path, blocks(), "mp3")


def _status(pid: int | str, field: str) -> float:
    """A ``/proc/<pid>/status`` (or ``smaps_rollup``) figure in MB."""
    name = "smaps_rollup" if field == "Pss" else "status"
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _decoder(setup: str, work: Path) -> Any:
    """A function decoding one file for ``setup``."""
    from adapter.audio import prepare

    if setup == "in-process":
        return lambda src, n: prepare(src, work / f"{setup}-{n}", OPENAI)
    context = setup.split("+")[0]
    pool = DecoderPool(context=context, spares=1 if setup.endswith("+spare") else 0)
    bounds = DecodeBounds()

    def run(src: Path, n: int) -> Any:
        return pool.run(PrepareTask(src, work / f"{setup}-{n}", OPENAI, True, 600.0), bounds)

    return run


def _latency(long_src: Path, voice_runs: int, long_runs: int, work: Path) -> None:
    decoders = {setup: _decoder(setup, work) for setup in SETUPS}
    for decode in decoders.values():  # warm: fork server and spares started, caches hot
        decode(VOICE, -1)
    times: dict[tuple[str, str], list[float]] = {}
    counter = 0
    for name, src, runs in (("voice", VOICE, voice_runs), ("long", long_src, long_runs)):
        for round_ in range(runs):
            order = SETUPS[round_ % len(SETUPS) :] + SETUPS[: round_ % len(SETUPS)]
            for setup in order:
                counter += 1
                started = time.perf_counter()
                decoders[setup](src, counter)
                times.setdefault((name, setup), []).append(time.perf_counter() - started)
    print(f"{'input':>6} {'set-up':>17} {'runs':>5} {'median ms':>10} {'p90 ms':>8} "
          f"{'added ms':>9} {'ratio':>6}")  # fmt: skip
    for name in ("voice", "long"):
        base = statistics.median(times[(name, "in-process")])
        for setup in SETUPS:
            runs_ = sorted(times[(name, setup)])
            median = statistics.median(runs_)
            p90 = runs_[min(len(runs_) - 1, round(0.9 * (len(runs_) - 1)))]
            print(
                f"{name:>6} {setup:>17} {len(runs_):>5} {median * 1000:>10.0f} "
                f"{p90 * 1000:>8.0f} {(median - base) * 1000:>+9.0f} {median / base:>6.2f}"
            )


def _memory(mode: str, long_src: Path, work: Path) -> None:
    """One mode in this (fresh) process: print one JSON line of figures."""
    from adapter.audio import prepare

    figures: dict[str, Any] = {"mode": mode, "rss_start_mb": _status("self", "VmRSS")}
    pool = DecoderPool() if mode == "isolated" else None
    children: list[float] = []
    for n, src in enumerate((VOICE, long_src, long_src)):
        started = time.perf_counter()
        if pool is None:
            prepare(src, work / f"mem-{n}", OPENAI)
        else:
            _, child_peak = pool.run(
                PeakTask(src, work / f"mem-{n}", OPENAI, True, 600.0), DecodeBounds()
            )
            children.append(child_peak)
        figures.setdefault("seconds", []).append(time.perf_counter() - started)
    figures["rss_peak_mb"] = _status("self", "VmHWM")
    figures["rss_end_mb"] = _status("self", "VmRSS")
    if pool is not None:
        import multiprocessing.forkserver as fs

        [spare] = pool._idle
        time.sleep(1.0)  # let the spare finish starting
        figures["children_peak_mb"] = children
        figures["spare_rss_mb"] = _status(spare.process.pid, "VmRSS")
        figures["spare_pss_mb"] = _status(spare.process.pid, "Pss")
        server = fs._forkserver._forkserver_pid  # type: ignore[attr-defined]
        figures["server_rss_mb"] = _status(server, "VmRSS")
        figures["server_pss_mb"] = _status(server, "Pss")
        pool.close()
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="the long recording's length")
    parser.add_argument("--voice-runs", type=int, default=15)
    parser.add_argument("--long-runs", type=int, default=3)
    parser.add_argument("--memory", nargs=2, metavar=("MODE", "SRC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-isolation-") as tmp:
        work = Path(tmp)
        if args.memory:
            _memory(args.memory[0], Path(args.memory[1]), work)
            return
        long_src = work / f"speech-{args.minutes:g}min.mp3"
        started = time.perf_counter()
        _generate(long_src, args.minutes)
        print(
            f"# voice note: {VOICE.name}; recording: {args.minutes:g} min of MP3, "
            f"{long_src.stat().st_size / 1e6:.1f} MB, made in {time.perf_counter() - started:.0f} s"
        )
        print("## latency of one decode (prepare: probe, silence removal, Opus chunks)")
        _latency(long_src, args.voice_runs, args.long_runs, work)
        print("## peak RSS of the process that asks for the decodes (fresh process per mode)")
        for mode in ("in-process", "isolated"):
            out = subprocess.run(
                [sys.executable, __file__, "--memory", mode, str(long_src)],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            f = json.loads(out.stdout.strip().splitlines()[-1])
            secs = ", ".join(f"{s:.2f}" for s in f["seconds"])
            print(
                f"{mode:>10}: RSS at start {f['rss_start_mb']:.0f} MB, peak {f['rss_peak_mb']:.0f}"
                f" MB (+{f['rss_peak_mb'] - f['rss_start_mb']:.0f}), at the end "
                f"{f['rss_end_mb']:.0f} MB; decodes (voice, long, long) {secs} s"
            )
            if mode == "isolated":
                kids = ", ".join(f"{m:.0f}" for m in f["children_peak_mb"])
                print(
                    f"{'':>10}  each child's peak RSS {kids} MB; the waiting spare RSS "
                    f"{f['spare_rss_mb']:.0f} MB (PSS {f['spare_pss_mb']:.0f}); the fork server "
                    f"RSS {f['server_rss_mb']:.0f} MB (PSS {f['server_pss_mb']:.0f})"
                )


if __name__ == "__main__":
    main()
