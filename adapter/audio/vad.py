"""Energy-based voice activity: which 30 ms frames to keep, and how loud every frame is.

Pass one of :func:`adapter.audio.prepare` streams the decoded samples through
:class:`EnergyMeter`, which keeps one float (mean power) per ``FRAME`` samples: three hours
of audio is 360,000 floats, about 1.4 MB. :func:`speech_mask` then marks silences longer than
``min_silence`` seconds for removal, keeping ``padding`` seconds of each silence's edges so that
words are not clipped.

The threshold adapts to the recording: it sits a quarter of the way from the noise floor
(10th percentile of frame levels) to the loud end (the tenth loudest frame, so that two seconds
of speech in ten minutes of silence still count), at least 6 dB above the floor, between -70
and -40 dBFS, so a quiet second speaker on a loud call is not cut. A recording whose loud end
stays under -60 dBFS is all silence.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from adapter.audio.decode import SAMPLE_RATE, FloatArray

#: samples per analysis frame: 30 ms at 16 kHz
FRAME = 480
FRAME_SECONDS = FRAME / SAMPLE_RATE

#: below this level (dBFS) at its loud end, a recording is silence
SILENT_DBFS = -60.0
_MIN_THRESHOLD_DBFS = -70.0
_MAX_THRESHOLD_DBFS = -40.0
_FLOOR_MARGIN_DB = 6.0
#: the loud end is the level of the tenth loudest frame (0.3 s of sound; a click is not it)
_LOUD_FRAMES = 10

BoolArray = npt.NDArray[np.bool_]


class EnergyMeter:
    """Streaming mean power per ``FRAME`` samples; memory grows by one float per frame."""

    #: samples gathered before their frames are measured (keeps the per-block overhead small)
    _BATCH = 64 * FRAME

    def __init__(self) -> None:
        self._parts: list[FloatArray] = []
        self._pending: list[FloatArray] = []
        self._pending_size = 0
        self.samples = 0

    def feed(self, block: FloatArray) -> None:
        self.samples += block.size
        self._pending.append(block)
        self._pending_size += block.size
        if self._pending_size >= self._BATCH:
            self._measure(final=False)

    def _measure(self, *, final: bool) -> None:
        if not self._pending:
            return
        data = np.concatenate(self._pending).astype(np.float32, copy=False)
        whole = data.size - data.size % FRAME
        if whole:
            frames = data[:whole].reshape(-1, FRAME)
            self._parts.append(np.einsum("ij,ij->i", frames, frames) / np.float32(FRAME))
        rest = data[whole:]
        if final and rest.size:
            self._parts.append(np.array([np.dot(rest, rest) / rest.size], dtype=np.float32))
            rest = rest[:0]
        self._pending = [rest.copy()] if rest.size else []
        self._pending_size = rest.size

    def powers(self) -> FloatArray:
        """Mean power of every frame fed so far (the last one may be short).

        Call once, after the last block.
        """
        self._measure(final=True)
        if not self._parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._parts).astype(np.float32)


def to_dbfs(powers: FloatArray) -> FloatArray:
    """Frame levels in dB relative to a full-scale square wave (power 1.0)."""
    levels: FloatArray = (10.0 * np.log10(powers.astype(np.float64) + 1e-12)).astype(np.float32)
    return levels


def threshold_dbfs(levels: FloatArray) -> float | None:
    """The level above which a frame is sound; None when the whole recording is silence."""
    if levels.size == 0:
        return None
    floor = float(np.percentile(levels, 10))
    loudest = min(levels.size, _LOUD_FRAMES)
    loud = float(np.partition(levels, levels.size - loudest)[levels.size - loudest])
    if loud < SILENT_DBFS:
        return None
    above_floor = floor + max(_FLOOR_MARGIN_DB, 0.25 * (loud - floor))
    return min(max(above_floor, _MIN_THRESHOLD_DBFS), _MAX_THRESHOLD_DBFS)


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges where ``mask`` is True, in order."""
    if mask.size == 0:
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def speech_mask(
    powers: FloatArray,
    *,
    min_silence: float = 1.0,
    padding: float = 0.3,
    muted: BoolArray | None = None,
) -> BoolArray:
    """Frames to keep: everything but the inside of silences longer than ``min_silence`` s.

    ``padding`` seconds of every removed silence stay on each side next to sound. A leading or
    trailing silence is removed up to ``padding`` from the sound. All False when the whole
    recording is silence. ``muted`` frames (another speaker's crosstalk, silenced on purpose:
    :mod:`adapter.audio.stereo`) are silence whatever their level, and left out of the
    threshold, which the recording's own sound sets.
    """
    count = powers.size
    keep = np.ones(count, dtype=np.bool_)
    levels = to_dbfs(powers)
    threshold = threshold_dbfs(levels if muted is None else levels[~muted])
    if threshold is None:
        keep[:] = False
        return keep
    quiet = levels <= threshold
    if muted is not None:
        quiet |= muted
    shortest = max(1, round(min_silence / FRAME_SECONDS))
    pad = max(0, round(padding / FRAME_SECONDS))
    for start, end in runs(quiet):
        if end - start < shortest:
            continue
        cut_from = start if start == 0 else start + pad
        cut_to = end if end == count else end - pad
        if cut_to > cut_from:
            keep[cut_from:cut_to] = False
    return keep
