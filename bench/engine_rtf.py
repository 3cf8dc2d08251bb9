"""Real-time factor of the local engine, sequential against batched decoding.

    python bench/engine_rtf.py [--quick] [--models base tiny.en] [--batch-sizes 4 8]
                               [--cpu-threads N] [--model-dir DIR] [--keep DIR]

RTF is processing seconds / audio seconds (lower is faster) of one ``LocalEngine.transcribe``
call, decoding of the file included, as the pipeline makes it. Each model (int8, CPU,
``cpu_threads`` = the cores this process may use, unless given) runs every input on each path:
``sequential`` (``WhisperModel.transcribe``) and ``batched`` at each batch size
(``BatchedInferencePipeline``: Silero VAD cuts the speech into pieces of at most 30 s, decoded
``batch_size`` at a time).

Inputs, built from the English fixtures (tests/fixtures/audio/en1.ogg, en2.ogg, en3.ogg) in a
temporary directory, as the 16 kHz Ogg/Opus the pipeline gives an engine:

* ``notes``: the three clips as they are (5-6 s voice notes, one call each);
* ``45 s``, ``1 min``, ``5 min``, ``30 min``: the clips in turn with pauses of 0.4-1.0 s.
  45 s is two of Whisper's 30 s windows, the least the batched path can batch; five minutes is
  the longest chunk the pipeline ever gives an engine (``TRANSCRIBER_CHUNK_SECONDS``); the 30
  minutes are one call, as the engine would get if that limit were lifted. Three sentences
  repeat, so the sequential path's temperature fallback (a window whose text compresses too
  well is decoded again, sampling) fires more often than on real speech: the ratios favour the
  batched path, which has no fallback.

``--quick`` runs ``notes``, ``45 s`` and ``1 min`` only. The table gives RTF, the process's CPU
seconds per audio second (every thread; what a busy machine does not inflate), each as a ratio
to the sequential path on the same input (under 1: batched is faster), the word error rate
against the clips' reference texts (texts.tsv), so that speed is not bought with accuracy, and
which path the engine's ``auto`` decoding takes there. Model loading (and assembling the base
weights on a first run) is timed apart. Inputs under two minutes are run three times and the
best time kept; the longer ones once. No assertions.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "tests" / "fixtures" / "audio"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from adapter.audio.convert import OpusWriter  # noqa: E402
from adapter.audio.decode import SAMPLE_RATE  # noqa: E402
from adapter.engines.local import LocalEngine  # noqa: E402

CLIPS = ("en1.ogg", "en2.ogg", "en3.ogg")
PAUSES = (0.4, 0.7, 1.0, 0.55)  # seconds after each clip, in turn
LENGTHS = {"45 s": 45, "1 min": 60, "5 min": 300, "30 min": 1800}


@dataclass(frozen=True)
class Input:
    name: str
    files: tuple[Path, ...]  # one engine call each
    reference: str  # what is said in all of them, in order
    seconds: float


@dataclass(frozen=True)
class Result:
    rtf: float  # wall seconds / audio seconds
    cpu: float  # CPU seconds of this process (every thread) / audio seconds
    wer: float


def normalise(text: str) -> list[str]:
    """Lower case, no accents, no punctuation: the words WER is computed on."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[^\w\s]", " ", plain).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference), normalise(hypothesis)
    try:
        import jiwer
    except ImportError:
        previous = list(range(len(hyp) + 1))  # Levenshtein over words, one row at a time
        for i, word in enumerate(ref, 1):
            row = [i]
            for j, other in enumerate(hyp, 1):
                row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != other)))
            previous = row
        return previous[-1] / max(1, len(ref))
    return float(jiwer.wer(" ".join(ref), " ".join(hyp)))


def _texts() -> dict[str, str]:
    with open(AUDIO / "texts.tsv", encoding="utf-8", newline="") as table:
        return {row["file"]: row["text"] for row in csv.DictReader(table, delimiter="\t")}


def build_inputs(directory: Path, lengths: list[str]) -> list[Input]:
    from faster_whisper import decode_audio

    texts = _texts()
    samples = [
        np.asarray(decode_audio(str(AUDIO / name), sampling_rate=SAMPLE_RATE), dtype=np.float32)
        for name in CLIPS
    ]
    clips = tuple(AUDIO / name for name in CLIPS)
    inputs = [
        Input(
            "notes",
            clips,
            " ".join(texts[name] for name in CLIPS),
            sum(clip.size for clip in samples) / SAMPLE_RATE,
        )
    ]
    for name in lengths:
        path = directory / f"speech-{LENGTHS[name]}s.ogg"
        writer = OpusWriter(path)
        said: list[str] = []
        turn = 0
        while writer.samples < LENGTHS[name] * SAMPLE_RATE:
            writer.write(samples[turn % len(CLIPS)])
            writer.write(np.zeros(round(PAUSES[turn % len(PAUSES)] * SAMPLE_RATE), np.float32))
            said.append(texts[CLIPS[turn % len(CLIPS)]])
            turn += 1
        writer.close()
        inputs.append(Input(name, (path,), " ".join(said), writer.samples / SAMPLE_RATE))
    return inputs


def measure(engine: LocalEngine, data: Input) -> Result:
    """One pass over ``data`` (the best of three under two minutes of audio)."""
    best = (float("inf"), float("inf"))
    for _ in range(3 if data.seconds < 120 else 1):
        heard: list[str] = []
        started, cpu_started = time.perf_counter(), time.process_time()
        for path in data.files:
            heard.append(engine.transcribe(path).text)
        best = min(best, (time.perf_counter() - started, time.process_time() - cpu_started))
    wall, cpu = best
    return Result(
        wall / data.seconds, cpu / data.seconds, word_error_rate(data.reference, " ".join(heard))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="voice notes, 45 s and 1 minute only")
    parser.add_argument(
        "--models", nargs="+", default=["tiny.en", "base"], choices=["tiny.en", "base"]
    )
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[4, 8])
    parser.add_argument(
        "--cpu-threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="CTranslate2 threads (default: the cores this process may use)",
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="model cache directory")
    parser.add_argument("--keep", type=Path, default=None, help="write the inputs here, kept")
    args = parser.parse_args()

    lengths = ["45 s", "1 min"] if args.quick else list(LENGTHS)
    paths = ["sequential", *(f"batched {size}" for size in args.batch_sizes)]
    with tempfile.TemporaryDirectory(prefix="engine-rtf-") as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        inputs = build_inputs(directory, lengths)
        results: dict[tuple[str, str, str], Result] = {}
        for model in args.models:
            engines = {"sequential": _engine(model, args, "sequential", 1)}
            for size in args.batch_sizes:
                engines[f"batched {size}"] = _engine(model, args, "batched", size)
            started = time.perf_counter()
            engines["sequential"].whisper_model()
            print(f"{model}: loaded in {time.perf_counter() - started:.2f} s", flush=True)
            engines["sequential"].transcribe(inputs[0].files[0])  # warm up
            for data in inputs:
                for path in paths:
                    result = measure(engines[path], data)
                    results[(model, data.name, path)] = result
                    print(
                        f"  {model} {data.name} {path}: RTF {result.rtf:.3f} "
                        f"(CPU {result.cpu:.3f}), WER {result.wer:.3f}, "
                        f"load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )

    auto = LocalEngine()
    header = (
        f"{'model':<8} {'input':<7} {'audio s':>8} {'path':<11} {'RTF':>7} {'/seq':>6} "
        f"{'CPU':>7} {'/seq':>6} {'WER':>6}  auto"
    )
    print()
    print(header)
    print("-" * len(header))
    for model in args.models:
        for data in inputs:
            sequential = results[(model, data.name, "sequential")]
            picked = auto.decoding_for(data.seconds / len(data.files))
            for path in paths:
                result = results[(model, data.name, path)]
                mark = "←" if path.split()[0] == picked else ""
                print(
                    f"{model:<8} {data.name:<7} {data.seconds:>8.1f} {path:<11} "
                    f"{result.rtf:>7.3f} {result.rtf / sequential.rtf:>6.2f} "
                    f"{result.cpu:>7.3f} {result.cpu / sequential.cpu:>6.2f} "
                    f"{result.wer:>6.3f}  {mark}"
                )
    print(
        f"\ncpu_threads={args.cpu_threads}, compute_type=int8, beam 5. RTF: wall seconds per "
        "audio second; CPU: this process's CPU seconds per audio second (every thread); /seq: "
        "the ratio to the sequential path on the same input; ←: the path auto decoding takes. "
        f"Load average at the end: {os.getloadavg()[0]:.1f} (over {args.cpu_threads}: other "
        "work shared the cores, and RTF is inflated)"
    )
    return 0


def _engine(model: str, args: argparse.Namespace, decoding: str, batch_size: int) -> LocalEngine:
    return LocalEngine(
        model,
        cpu_threads=args.cpu_threads,
        model_dir=args.model_dir,
        decoding="batched" if decoding == "batched" else "sequential",
        batch_size=batch_size,
    )


if __name__ == "__main__":
    sys.exit(main())
