"""The stream's audio: pcm16 (24 kHz) or G.711 µ-law (8 kHz) bytes → 16 kHz mono float32.

:class:`Decoder` keeps what crosses an append's edge (half a sample, the resampling filter's
history), so the stream's pieces can be cut anywhere. Resampling is polyphase by a rational
factor (24 kHz → 16 kHz is up 2, down 3; 8 kHz → 16 kHz is up 2): zero-stuffed, filtered by one
windowed-sinc low-pass, decimated, in numpy over whole appends.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt

from adapter.live.protocol import FORMAT_RATES, FORMAT_WIDTHS, AudioFormat

FloatArray = npt.NDArray[np.float32]

#: what the VAD and Whisper take
RATE = 16_000
#: taps of the low-pass filter per unit of the larger of the two factors
_TAPS_PER_FACTOR = 16


def _ulaw_table() -> FloatArray:
    """G.711 µ-law byte → sample in [-1, 1] (ITU-T G.711, the bits stored inverted)."""
    codes = ~np.arange(256, dtype=np.uint8)
    sign = (codes & 0x80).astype(bool)
    exponent = ((codes >> 4) & 0x07).astype(np.int32)
    mantissa = (codes & 0x0F).astype(np.int32)
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    values = np.where(sign, -magnitude, magnitude).astype(np.float32)
    return (values / 32768.0).astype(np.float32)


_ULAW = _ulaw_table()


class Resampler:
    """Streaming rational resampler from ``source`` Hz to ``target`` Hz."""

    def __init__(self, source: int, target: int) -> None:
        divisor = gcd(source, target)
        self.up = target // divisor
        self.down = source // divisor
        factor = max(self.up, self.down)
        taps = _TAPS_PER_FACTOR * factor + 1
        # cut-off just under the lower Nyquist frequency, relative to the upsampled rate
        cutoff = 0.45 / factor
        n = np.arange(taps) - (taps - 1) / 2
        kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, 8.0)
        kernel *= self.up / kernel.sum()
        self._kernel = kernel.astype(np.float32)
        self._history = np.zeros(taps - 1, dtype=np.float32)
        #: index, in the next zero-stuffed block, of the next output sample
        self._phase = 0

    def __call__(self, samples: FloatArray) -> FloatArray:
        if self.up == 1 and self.down == 1:
            return samples
        if samples.size == 0:
            return np.zeros(0, dtype=np.float32)
        stuffed = np.zeros(samples.size * self.up, dtype=np.float32)
        stuffed[:: self.up] = samples
        block = np.concatenate([self._history, stuffed])
        filtered = np.convolve(block, self._kernel, mode="valid").astype(np.float32)
        out = filtered[self._phase :: self.down]
        # the next block's first output falls this far past the end of this one
        taken = len(range(self._phase, filtered.size, self.down))
        self._phase = self._phase + taken * self.down - filtered.size
        self._history = block[-(self._kernel.size - 1) :]
        return out


class Decoder:
    """One stream's bytes in ``fmt`` → 16 kHz float32, appended piece by piece."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format: AudioFormat = fmt
        self._width = FORMAT_WIDTHS[fmt]
        self._rate = FORMAT_RATES[fmt]
        self._resample = Resampler(self._rate, RATE)
        self._carry = b""
        #: input samples decoded so far (their seconds: ``samples_in / rate``)
        self.samples_in = 0

    @property
    def rate(self) -> int:
        return self._rate

    def seconds_in(self) -> float:
        return self.samples_in / self._rate

    def __call__(self, data: bytes) -> FloatArray:
        data = self._carry + data
        whole = len(data) - len(data) % self._width
        self._carry = data[whole:]
        raw = data[:whole]
        if self.format == "pcm16":
            samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = _ULAW[np.frombuffer(raw, dtype=np.uint8)]
        self.samples_in += samples.size
        return self._resample(samples.astype(np.float32, copy=False))


__all__ = ["RATE", "Decoder", "FloatArray", "Resampler"]
