"""Peak memory and time of ``adapter.audio.prepare`` on long 128 kbit/s MP3 recordings.

    python bench/memory_audio.py                      # 1 min, 30 min, 3 h
    python bench/memory_audio.py --minutes 1 30       # a subset
    python bench/memory_audio.py --keep /tmp/inputs   # keep (and reuse) the generated MP3s

Each input is speech-like bursts with pauses of 0.5-3.5 s (so silence removal has something to
do), encoded as 44.1 kHz mono MP3 at 128 kbit/s. ``prepare`` runs in a fresh subprocess per
input and per setting, with OpenAI's limits (25 MB, 1400 s), so ru_maxrss is that run's own
peak. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RATE = 44_100
BIT_RATE = 128_000


def _generate(path: Path, minutes: float) -> None:
    import av
    import numpy as np

    from tests.audio import gen

    rng = np.random.default_rng(int(minutes * 1000))
    total = round(minutes * 60 * RATE)
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=RATE)
        stream.layout = "mono"
        stream.codec_context.bit_rate = BIT_RATE
        written = 0
        seed = 0
        while written < total:
            talk = gen.speech_like(float(rng.uniform(2.0, 8.0)), RATE, seed=seed)
            pause = gen.silence(float(rng.uniform(0.5, 3.5)), RATE)
            seed += 1
            for block in (talk, pause):
                block = block[: total - written]
                if block.size == 0:
                    continue
                frame = av.AudioFrame.from_ndarray(
                    block.reshape(1, -1), format="fltp", layout="mono"
                )
                frame.sample_rate = RATE
                frame.pts = written
                written += block.size
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _child(src: str, workdir: str, remove_silence: bool) -> None:
    """Run prepare once and print one JSON line of figures."""
    from adapter.audio import prepare
    from adapter.engines.base import EngineLimits

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    prepared = prepare(
        Path(src),
        Path(workdir),
        EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=1400.0),
        remove_silence=remove_silence,
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rss_before_mb": before / 1024,
                "rss_peak_mb": peak / 1024,
                "seconds": elapsed,
                "audio_seconds": prepared.audio_seconds,
                "billed_seconds": prepared.billed_seconds,
                "chunks": len(prepared.chunks),
                "upload_bytes": prepared.upload_bytes,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="*", default=[1, 30, 180])
    parser.add_argument("--keep", type=Path, help="directory for the generated inputs (reused)")
    parser.add_argument(
        "--child", nargs=3, metavar=("SRC", "WORKDIR", "CUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.child[2] == "1")
        return

    with tempfile.TemporaryDirectory(prefix="bench-audio-") as tmp:
        inputs = args.keep or Path(tmp)
        inputs.mkdir(parents=True, exist_ok=True)
        print(f"{'input':>10} {'MB':>7} {'cut':>4} {'RSS MB':>7} {'base MB':>8} {'wall s':>7} "
              f"{'x real':>7} {'audio s':>8} {'billed s':>9} {'billed/audio':>12} {'chunks':>6} "
              f"{'upload MB':>9}")  # fmt: skip
        for minutes in args.minutes:
            src = inputs / f"speech-{minutes:g}min-128k.mp3"
            if not src.exists():
                started = time.perf_counter()
                _generate(src, minutes)
                print(f"# generated {src.name} in {time.perf_counter() - started:.0f} s")
            for cut in (False, True):
                work = Path(tmp) / f"work-{minutes:g}-{int(cut)}"
                result = subprocess.run(
                    [sys.executable, __file__, "--child", str(src), str(work), str(int(cut))],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=REPO,
                )
                figures = json.loads(result.stdout.strip().splitlines()[-1])
                size_mb = src.stat().st_size / 1e6
                print(
                    f"{minutes:>7g} min {size_mb:>7.1f} {'yes' if cut else 'no':>4} "
                    f"{figures['rss_peak_mb']:>7.0f} {figures['rss_before_mb']:>8.0f} "
                    f"{figures['seconds']:>7.1f} "
                    f"{figures['audio_seconds'] / figures['seconds']:>7.0f} "
                    f"{figures['audio_seconds']:>8.0f} {figures['billed_seconds']:>9.0f} "
                    f"{figures['billed_seconds'] / figures['audio_seconds']:>12.2f} "
                    f"{figures['chunks']:>6} {figures['upload_bytes'] / 1e6:>9.1f}"
                )
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"# largest peak RSS of any child: {children:.0f} MB")


if __name__ == "__main__":
    main()
