"""Whether a two-channel recording holds one speaker per channel: measured, then decided.

A call recorder (a PBX, a softphone, Twilio's dual-channel recordings) writes the agent on one
channel and the customer on the other; transcribing each channel alone then tells who said
what. Most stereo files customers send are nothing of the kind: a phone's voice memo written
as stereo holds the same signal twice, a badly wired recorder leaves one channel silent, two
microphones in one room each hear both people. Those are transcribed as mono.

:func:`measure_channels` streams the first audio stream once at 16 kHz, every channel kept
(:func:`~adapter.audio.decode.iter_planes`), keeping sums and one power per 30 ms frame per
channel (the frames of :mod:`adapter.audio.vad`): memory grows by two floats per 30 ms. Per
frame, a channel *sounds* when it is above its own speech threshold
(:func:`~adapter.audio.vad.threshold_dbfs`), and *leads* when it sounds and is at least
``LEAD_DB`` louder than the other. The measures:

* each channel's RMS level;
* the Pearson correlation of the two waveforms: about 1 for the same signal twice, about 0 for
  two voices, about ``2·b`` for two voices each leaking into the other at a ratio ``b``;
* the *separation*: the median level difference between the channels over the frames where
  either sounds. In a call recording the other side's voice leaks in 20-40 dB down (echo,
  a headset's crosstalk), so the separation is the leak's attenuation: 26 dB for a 5 % leak.
  The same voice on both channels measures 0 dB, two room microphones a few dB. Unlike the
  waveform correlation, this holds when a voice reaches the two channels at different times
  (two microphones a metre apart: correlation about 0, separation 6 dB);
* seconds each channel leads, seconds both sound alike (talking at once, or one voice twice),
  and the correlation of the frame levels: figures for the logs.

:func:`channels_differ` decides from the figures alone (pure) and says why;
:func:`separate_speakers` is its yes or no. One speaker per channel means all of

1. two channels, their number steady through the stream;
2. neither channel silent (RMS at least ``SILENT_DBFS``, -60 dBFS, below which
   :mod:`adapter.audio.vad` calls a recording silence);
3. waveforms unlike: ``|correlation| < MAX_CORRELATION`` (0.5; one signal twice measures
   above 0.95, two voices leaking 20 % into each other 0.4);
4. each channel leads for at least ``MIN_LEAD_SECONDS`` (1 s: a channel that never leads
   longer holds an echo, a click or a word, not a speaker worth a transcript of its own);
5. a separation of at least ``MIN_SEPARATION_DB`` (12 dB, the other voice at most a quarter
   as loud): above it, nine crosstalk frames in ten are ``LEAD_DB`` down and
   :func:`channel_frames` finds them.

Why the crosstalk matters: an engine normalises what it hears, so a voice 26 dB down is
transcribed as well as a loud one (Whisper wrote every word of a 5 % leak into the wrong
channel's transcript). :func:`channel_frames` gives, for shaping one channel, the frames where
the other channel leads; :func:`~adapter.audio.prepare.prepare` encodes them as silence.

The thresholds come from measuring the recordings of ``tests/audio/stereo_fixtures.py``; the
figures are in ``tests/audio/test_stereo.py``.
"""

from __future__ import annotations

import math
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from adapter.audio.decode import SAMPLE_RATE, FloatArray, PlaneArray, iter_planes
from adapter.audio.vad import (
    FRAME_SECONDS,
    SILENT_DBFS,
    BoolArray,
    EnergyMeter,
    threshold_dbfs,
    to_dbfs,
)
from adapter.errors import BadAudio

#: a sounding channel leads a frame when it is this much louder than the other
LEAD_DB = 10.0
#: each channel must lead this long for the file to hold two speakers
MIN_LEAD_SECONDS = 1.0
#: waveforms this correlated (or anti-correlated) are one signal
MAX_CORRELATION = 0.5
#: the channels of two speakers differ by at least this much (median over sounding frames)
MIN_SEPARATION_DB = 12.0

#: per channel, the sum of the samples (row 0) and of their squares (row 1), in float64
_Sums = npt.NDArray[np.float64]

__all__ = [
    "LEAD_DB",
    "MAX_CORRELATION",
    "MIN_LEAD_SECONDS",
    "MIN_SEPARATION_DB",
    "SILENT_DBFS",
    "ChannelFrames",
    "ChannelMeasure",
    "ChannelVerdict",
    "channel_frames",
    "channels_differ",
    "measure_channels",
    "separate_speakers",
]


@dataclass(frozen=True)
class ChannelMeasure:
    """What :func:`measure_channels` found; the pairwise figures only for two channels."""

    channels: int
    seconds: float  #: decoded length
    rms_dbfs: tuple[float, ...]  #: per channel (digital silence is -120)
    #: Pearson correlation of the two waveforms; None when a channel is constant
    correlation: float | None = None
    #: median level difference (dB) between the channels over the frames where either sounds;
    #: None when no frame sounds
    separation_db: float | None = None
    #: seconds where each channel leads (sounds, and is ``LEAD_DB`` louder than the other)
    lead_seconds: tuple[float, float] = (0.0, 0.0)
    #: seconds where both channels sound within ``LEAD_DB`` of each other
    shared_seconds: float = 0.0
    #: seconds where either channel sounds
    active_seconds: float = 0.0
    #: Pearson correlation of the frame levels (dB) over the frames where either sounds
    level_correlation: float | None = None
    #: False when the stream changed its number of channels midway
    steady: bool = True

    def summary(self) -> str:
        """One line for the logs (figures only: nothing of what was said)."""
        levels = "/".join(f"{level:.1f}" for level in self.rms_dbfs)
        parts = [f"{self.channels} ch", f"{self.seconds:.1f} s", f"rms {levels} dBFS"]
        if self.channels == 2:
            parts += [
                f"r {_figure(self.correlation)}",
                f"separation {_figure(self.separation_db, '.1f')} dB",
                f"leads {self.lead_seconds[0]:.1f}/{self.lead_seconds[1]:.1f} s",
                f"shared {self.shared_seconds:.1f} of {self.active_seconds:.1f} s",
                f"levels r {_figure(self.level_correlation)}",
            ]
        if not self.steady:
            parts.append("channels change midway")
        return ", ".join(parts)


@dataclass(frozen=True)
class ChannelVerdict:
    """Whether to transcribe per channel, and why (a reason code for logs and metrics)."""

    separate: bool
    #: ``separate``, or why not: ``not_stereo``, ``unsteady``, ``silent_channel``,
    #: ``same_signal``, ``one_voice``, ``crosstalk``
    reason: str
    measure: ChannelMeasure

    def __str__(self) -> str:
        return f"{self.reason} ({self.measure.summary()})"


@dataclass(frozen=True)
class ChannelFrames:
    """One channel of a two-channel file frame by frame (``vad.FRAME`` samples each), the other
    speaker's crosstalk found: pass one of shaping that channel alone."""

    #: mean power of every frame of the channel, the crosstalk frames at 0
    powers: FloatArray
    #: frames where the other channel leads: what this channel holds there is the other
    #: speaker's voice leaking in
    crosstalk: BoolArray
    samples: int  #: decoded length


def measure_channels(path: Path, *, max_seconds: float | None = None) -> ChannelMeasure:
    """Measure the channels of the first audio stream of ``path`` (see the module docstring).

    Raises what :func:`~adapter.audio.decode.iter_planes` raises: ``NotAudio``, ``BadAudio``,
    and ``BadAudio`` past ``max_seconds`` of decoded audio.
    """
    return _metered(path, max_seconds).result()


def channel_frames(path: Path, channel: int, *, max_seconds: float | None = None) -> ChannelFrames:
    """Measure ``channel`` (0 or 1) of the two-channel ``path`` against the other channel.

    Raises what :func:`measure_channels` raises; ``ValueError`` when ``path`` does not have two
    channels or ``channel`` is neither 0 nor 1, and ``BadAudio`` when the stream changes its
    number of channels midway.
    """
    if channel not in (0, 1):
        raise ValueError(f"channel must be 0 or 1, not {channel}")
    meter = _metered(path, max_seconds)
    if meter.channels != 2:
        raise ValueError(f"the audio has {meter.channels} channel(s), not two")
    if not meter.steady:
        raise BadAudio("the audio changes its number of channels midway")
    own, other = meter.powers(channel), meter.powers(1 - channel)
    other_levels = to_dbfs(other)
    crosstalk = _leading(other_levels, to_dbfs(own), _sounding(other_levels))
    quiet: FloatArray = np.where(crosstalk, np.float32(0.0), own)
    return ChannelFrames(quiet, crosstalk, meter.samples)


def channels_differ(measure: ChannelMeasure) -> ChannelVerdict:
    """Whether ``measure`` is of one speaker per channel; the rules are the module docstring's."""
    if measure.channels != 2:
        return ChannelVerdict(False, "not_stereo", measure)
    if not measure.steady:
        return ChannelVerdict(False, "unsteady", measure)
    if min(measure.rms_dbfs) < SILENT_DBFS:
        return ChannelVerdict(False, "silent_channel", measure)
    if measure.correlation is None or abs(measure.correlation) >= MAX_CORRELATION:
        return ChannelVerdict(False, "same_signal", measure)
    if min(measure.lead_seconds) < MIN_LEAD_SECONDS:
        return ChannelVerdict(False, "one_voice", measure)
    if measure.separation_db is None or measure.separation_db < MIN_SEPARATION_DB:
        return ChannelVerdict(False, "crosstalk", measure)
    return ChannelVerdict(True, "separate", measure)


def separate_speakers(measure: ChannelMeasure) -> bool:
    """True when each channel of ``measure`` holds its own speaker: transcribe them apart."""
    return channels_differ(measure).separate


def _metered(path: Path, max_seconds: float | None) -> _Meter:
    meter = _Meter()
    with closing(iter_planes(path, max_seconds=max_seconds)) as blocks:
        for planes in blocks:
            meter.feed(planes)
    return meter


class _Meter:
    """Streaming sums of every channel and, for two, their cross sum and frame powers."""

    def __init__(self) -> None:
        self.channels = 0
        self.steady = True  #: False once a block came with another number of channels
        self.samples = 0
        self._sums: _Sums | None = None
        self._cross = 0.0  # sum of x·y (two channels)
        self._meters: list[EnergyMeter] = []
        self._powers: list[FloatArray] | None = None

    def feed(self, planes: PlaneArray) -> None:
        if self.channels == 0:
            self.channels = planes.shape[0]
            self._sums = np.zeros((2, self.channels), dtype=np.float64)
            self._meters = [EnergyMeter() for _ in range(2)] if self.channels == 2 else []
        if planes.shape[0] != self.channels:
            self.steady = False
            return
        assert self._sums is not None
        wide = planes.astype(np.float64)
        self.samples += planes.shape[1]
        self._sums[0] += wide.sum(axis=1)
        self._sums[1] += np.einsum("ij,ij->i", wide, wide)
        if self.channels == 2:
            self._cross += float(np.dot(wide[0], wide[1]))
            for meter, row in zip(self._meters, planes, strict=True):
                meter.feed(row)

    def powers(self, channel: int) -> FloatArray:
        """Mean power of every frame of ``channel`` (two channels only; after the last block)."""
        if self._powers is None:
            self._powers = [meter.powers() for meter in self._meters]
        return self._powers[channel]

    def result(self) -> ChannelMeasure:
        sums: _Sums = self._sums if self._sums is not None else np.zeros((2, 0))
        mean_power = (sums[1] / max(self.samples, 1)).astype(np.float32)
        measure = ChannelMeasure(
            channels=self.channels,
            seconds=self.samples / SAMPLE_RATE,
            rms_dbfs=tuple(float(level) for level in to_dbfs(mean_power)),
            steady=self.steady,
        )
        return self._pairwise(measure, sums) if self.channels == 2 else measure

    def _pairwise(self, measure: ChannelMeasure, sums: _Sums) -> ChannelMeasure:
        """``measure`` with the two-channel figures."""
        n = self.samples
        (sx, sy), (sxx, syy) = sums
        spread = (n * sxx - sx * sx) * (n * syy - sy * sy)
        correlation = (n * self._cross - sx * sy) / math.sqrt(spread) if spread > 0 else None
        first, second = to_dbfs(self.powers(0)), to_dbfs(self.powers(1))
        sounding = (_sounding(first), _sounding(second))
        anyone = sounding[0] | sounding[1]
        difference = np.abs(first - second)
        return replace(
            measure,
            correlation=_clamped(correlation),
            separation_db=float(np.median(difference[anyone])) if anyone.any() else None,
            lead_seconds=(
                _seconds(_leading(first, second, sounding[0])),
                _seconds(_leading(second, first, sounding[1])),
            ),
            shared_seconds=_seconds(sounding[0] & sounding[1] & (difference < LEAD_DB)),
            active_seconds=_seconds(anyone),
            level_correlation=_correlation(first[anyone], second[anyone]),
        )


def _leading(levels: FloatArray, other: FloatArray, sounding: BoolArray) -> BoolArray:
    """Frames where a channel (``levels`` in dB, ``sounding`` by its own threshold) leads."""
    lead: BoolArray = sounding & (levels - other >= LEAD_DB)
    return lead


def _sounding(levels: FloatArray) -> BoolArray:
    """Frames above the channel's own speech threshold (none when it is silence)."""
    threshold = threshold_dbfs(levels)
    if threshold is None:
        return np.zeros(levels.size, dtype=np.bool_)
    sounding: BoolArray = levels > threshold
    return sounding


def _correlation(x: FloatArray, y: FloatArray) -> float | None:
    if x.size < 2 or float(np.std(x)) == 0.0 or float(np.std(y)) == 0.0:
        return None
    return _clamped(float(np.corrcoef(x.astype(np.float64), y.astype(np.float64))[0, 1]))


def _clamped(value: float | None) -> float | None:
    """A correlation within [-1, 1] (rounding can step past), or None when not a number."""
    if value is None or not math.isfinite(value):
        return None
    return min(1.0, max(-1.0, value))


def _seconds(frames: BoolArray) -> float:
    return float(np.count_nonzero(frames)) * FRAME_SECONDS


def _figure(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)
