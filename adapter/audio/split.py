"""Where to cut long audio into chunks: at the quietest moment near each target length.

Works on frames (``vad.FRAME`` samples each) of the *kept* timeline, the audio that remains once
silences are removed. The number of chunks is the fewest that keep every chunk at or under the
target; cut ``k`` is searched for in a window around its evenly spaced ideal position, in the
middle of the widest stretch near the lowest smoothed power there. Every chunk but
the first starts ``overlap`` frames before its cut, so a word the cut clips is heard whole by one
of the two chunks. The plan is then translated back into spans of original samples.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adapter.audio.decode import FloatArray
from adapter.audio.vad import FRAME, BoolArray, runs

#: frames (30 ms each) the power is averaged over when looking for a quiet moment
_SMOOTHING = 9
#: frames up to this much louder than the quietest one (3 dB) may count as part of its pause
_QUIET_RATIO = 2.0


@dataclass(frozen=True)
class ChunkPlan:
    """One chunk to encode: spans of original samples ``[start, end)`` laid end to end."""

    index: int
    spans: tuple[tuple[int, int], ...]
    lead_overlap: int  #: samples at the start that repeat the end of the previous chunk

    @property
    def samples(self) -> int:
        return sum(end - start for start, end in self.spans)


def choose_cuts(powers: FloatArray, *, target: int, longest: int, window: int) -> list[int]:
    """Cut positions (frame indices, exclusive of 0 and ``len(powers)``), increasing.

    No chunk between two cuts is longer than ``longest`` frames; chunks are about ``target``.
    """
    count = powers.size
    if target <= 0 or longest <= 0:
        raise ValueError("chunk lengths must be positive")
    target = min(target, longest)
    if count <= target:
        return []
    kernel = np.ones(_SMOOTHING, dtype=np.float64) / _SMOOTHING
    smooth = np.convolve(powers.astype(np.float64), kernel, mode="same")
    planned = math.ceil(count / target)
    cuts: list[int] = []
    previous = 0
    while True:
        left = count - previous
        chunks_left = max(planned - len(cuts), math.ceil(left / longest))
        if chunks_left <= 1:
            return cuts
        ideal = previous + left / chunks_left
        low = max(previous + 1, math.floor(ideal - window))
        high = max(low, min(math.ceil(ideal + window), previous + longest, count - 1))
        cut = low + _quietest(smooth[low : high + 1], ideal - low)
        cuts.append(cut)
        previous = cut


def _quietest(smooth: npt.NDArray[np.float64], ideal: float) -> int:
    """Index of the middle of the widest stretch near the quietest frame.

    Near: within 3 dB of it, and within a tenth of the way from it to the loudest frame.

    A pause is as quiet in its middle as at its edges once smoothed; cutting in the middle
    keeps the words on both sides whole. Equally wide stretches: the one nearest ``ideal``.
    """
    floor = float(smooth.min())
    spread = float(smooth.max()) - floor
    quiet = smooth <= min(floor * _QUIET_RATIO, floor + 0.1 * spread) + 1e-12
    best, best_key = 0, (-1, 0.0)
    for start, end in runs(quiet):
        middle = (start + end - 1) // 2
        key = (end - start, -abs(middle - ideal))
        if key > best_key:
            best, best_key = middle, key
    return best


def plan_chunks(
    powers: FloatArray,
    keep: BoolArray,
    total_samples: int,
    *,
    target: int,
    longest: int,
    overlap: int,
    window: int,
) -> list[ChunkPlan]:
    """Chunks covering the kept frames of a recording of ``total_samples`` samples.

    ``target``, ``longest`` (excluding overlap), ``overlap`` and ``window`` are in frames.
    Returns no chunk when nothing is kept.
    """
    kept_frames = np.flatnonzero(keep)
    if kept_frames.size == 0:
        return []
    cuts = choose_cuts(powers[kept_frames], target=target, longest=longest, window=window)
    bounds = [0, *cuts, int(kept_frames.size)]
    # kept runs of original frames, with where each starts in the kept timeline
    kept_runs = runs(keep)
    run_starts = np.cumsum([0] + [end - start for start, end in kept_runs])
    plans: list[ChunkPlan] = []
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        lead = min(overlap, start) if index else 0
        frames = _frame_spans(kept_runs, run_starts, start - lead, end)
        spans = _to_samples(frames, total_samples)
        lead_samples = _to_samples(
            _frame_spans(kept_runs, run_starts, start - lead, start), total_samples
        )
        plans.append(
            ChunkPlan(
                index=index,
                spans=spans,
                lead_overlap=sum(b - a for a, b in lead_samples),
            )
        )
    return plans


def _frame_spans(
    kept_runs: list[tuple[int, int]], run_starts: npt.NDArray[np.int64], low: int, high: int
) -> list[tuple[int, int]]:
    """Original frame ranges holding kept-timeline frames ``[low, high)``."""
    spans: list[tuple[int, int]] = []
    first = max(0, int(np.searchsorted(run_starts, low, side="right")) - 1)
    for i in range(first, len(kept_runs)):
        run_start, run_end = kept_runs[i]
        offset = int(run_starts[i])
        if offset >= high:
            break
        a = run_start + max(0, low - offset)
        b = run_start + min(run_end - run_start, high - offset)
        if b > a:
            spans.append((a, b))
    return spans


def _to_samples(frames: list[tuple[int, int]], total: int) -> tuple[tuple[int, int], ...]:
    spans = []
    for a, b in frames:
        start, end = a * FRAME, min(b * FRAME, total)
        if end > start:
            spans.append((start, end))
    return tuple(spans)
