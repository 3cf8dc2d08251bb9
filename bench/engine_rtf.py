"""Real-time factor of the local engine: processing seconds / audio seconds (lower is faster).

    python bench/engine_rtf.py [--model-dir DIR] [--repeat N] [--cpu-threads N]

Runs ``base`` and ``tiny.en`` (int8, CPU) on every audio fixture in tests/fixtures/audio and
prints one table measured in this run: per-file RTF for each model, the overall RTF (total
processing time / total audio time), and the ratio base / tiny.en. Model loading (and assembling
the base weights on a first run) is timed apart, before the first transcription. No assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "tests" / "fixtures" / "audio"
sys.path.insert(0, str(REPO))

from adapter.engines.local import LocalEngine  # noqa: E402

MODELS = ("base", "tiny.en")


def _fixtures() -> list[Path]:
    suffixes = {".ogg", ".mp3", ".m4a", ".webm", ".wav", ".flac"}
    return sorted(path for path in AUDIO.iterdir() if path.suffix in suffixes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="model cache directory")
    parser.add_argument("--repeat", type=int, default=1, help="runs per file (best is kept)")
    parser.add_argument(
        "--cpu-threads", type=int, default=0, help="CTranslate2 threads (0: default)"
    )
    args = parser.parse_args()

    files = _fixtures()
    seconds: dict[tuple[str, str], float] = {}
    durations: dict[str, float] = {}
    for model in MODELS:
        engine = LocalEngine(model, cpu_threads=args.cpu_threads, model_dir=args.model_dir)
        started = time.perf_counter()
        engine.whisper_model()
        print(f"{model}: loaded in {time.perf_counter() - started:.2f} s")
        for path in files:
            best = float("inf")
            for _ in range(max(1, args.repeat)):
                started = time.perf_counter()
                transcript = engine.transcribe(path)
                best = min(best, time.perf_counter() - started)
            seconds[(model, path.name)] = best
            durations[path.name] = transcript.duration

    header = f"{'file':<10} {'audio s':>8}" + "".join(f" {m + ' RTF':>12}" for m in MODELS)
    header += f" {'base/tiny':>10}"
    print()
    print(header)
    print("-" * len(header))
    for path in files:
        name = path.name
        rtfs = [seconds[(model, name)] / durations[name] for model in MODELS]
        row = f"{name:<10} {durations[name]:>8.2f}" + "".join(f" {rtf:>12.3f}" for rtf in rtfs)
        print(row + f" {rtfs[0] / rtfs[1]:>10.2f}")
    total_audio = sum(durations.values())
    overall = [sum(seconds[(model, p.name)] for p in files) / total_audio for model in MODELS]
    print("-" * len(header))
    row = f"{'overall':<10} {total_audio:>8.2f}" + "".join(f" {rtf:>12.3f}" for rtf in overall)
    print(row + f" {overall[0] / overall[1]:>10.2f}")
    print(f"\nthreads: cpu_threads={args.cpu_threads}, compute_type=int8, repeat={args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
