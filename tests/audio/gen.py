"""Audio made for tests with PyAV: tones, silences, speech-like bursts, in every container.

Import as ``tests.audio.gen``. Signals are mono float32 in [-1, 1]. Long signals are produced
block by block (:func:`pattern`), so thirty minutes of audio never sits in memory whole.

    write(path, signal, "ogg")           # any key of KINDS; signal: array or iterable of blocks
    pattern([(2.0, 440.0), (3.0, 0.0)], rate)   # 2 s of 440 Hz then 3 s of silence, in blocks
    bursts(seconds, burst=..., gap=...)  # the layout of tone bursts separated by silences
    speech_like(seconds, rate, seed=0)   # syllable-like harmonic bursts, 4 Hz envelope
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]

#: samples per generated block
BLOCK = 8192

#: a :func:`pattern` layout: 440 Hz for a second, a second of silence, 660 Hz for a second
THREE_SECONDS = [(1.0, 440.0), (1.0, 0.0), (1.0, 660.0)]


@dataclass(frozen=True)
class Kind:
    """How to write one kind of file: FFmpeg muxer, encoder, sample rate, usual extension."""

    format: str
    codec: str
    rate: int
    extension: str
    bit_rate: int | None = None


#: every container customers send that PyAV can write here
KINDS: dict[str, Kind] = {
    "ogg": Kind("ogg", "libopus", 16000, "ogg", 24000),  # WhatsApp/Telegram voice note
    "webm": Kind("webm", "libopus", 48000, "webm", 24000),
    "mp3": Kind("mp3", "libmp3lame", 22050, "mp3", 48000),
    "m4a": Kind("ipod", "aac", 22050, "m4a", 48000),
    "mp4": Kind("mp4", "aac", 44100, "mp4", 64000),
    "wav": Kind("wav", "pcm_s16le", 8000, "wav"),
    "flac": Kind("flac", "flac", 8000, "flac"),
    "amr": Kind("amr", "libopencore_amrnb", 8000, "amr", 12200),  # SMS/MMS voice
    "3gp": Kind("3gp", "libopencore_amrnb", 8000, "3gp", 12200),
    "3gp_aac": Kind("3gp", "aac", 16000, "3gp", 32000),
    "caf": Kind("caf", "pcm_s16le", 8000, "caf"),  # FFmpeg's CAF muxer cannot write AAC/Opus
    "caf_alac": Kind("caf", "alac", 8000, "caf"),
    "caf_ima4": Kind("caf", "adpcm_ima_qt", 8000, "caf"),
}


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.3) -> Samples:
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float, rate: int) -> Samples:
    return np.zeros(round(seconds * rate), dtype=np.float32)


def pattern(
    layout: Sequence[tuple[float, float]], rate: int, amplitude: float = 0.3
) -> Iterator[Samples]:
    """Blocks of ``(seconds, frequency)`` pieces in order; frequency 0 is silence.

    Piece boundaries fall on whole samples at ``round(cumulative seconds * rate)``.
    """
    position = 0  # samples emitted
    elapsed = 0.0
    for seconds, freq in layout:
        elapsed += seconds
        end = round(elapsed * rate)
        while position < end:
            count = min(BLOCK, end - position)
            if freq > 0:
                t = np.arange(position, position + count, dtype=np.float64) / rate
                yield (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
            else:
                yield np.zeros(count, dtype=np.float32)
            position += count


def bursts(
    seconds: float, *, burst: float, gap: float, lead: float = 0.0, freq: float = 440.0
) -> list[tuple[float, float]]:
    """Layout for :func:`pattern`: ``lead`` s of silence, then bursts and gaps to ``seconds``."""
    layout: list[tuple[float, float]] = [(lead, 0.0)] if lead > 0 else []
    elapsed = lead
    while elapsed < seconds:
        on = min(burst, seconds - elapsed)
        layout.append((on, freq))
        elapsed += on
        off = min(gap, seconds - elapsed)
        if off > 0:
            layout.append((off, 0.0))
            elapsed += off
    return layout


def speech_like(seconds: float, rate: int, *, seed: int = 0) -> Samples:
    """Voiced-sounding bursts: a few harmonics of a wandering pitch, syllables at about 4 Hz."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    pitch = 120.0 + 30.0 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, np.pi))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, np.pi)), 0.05, None)
    signal = 0.2 * voice * envelope + 0.003 * rng.standard_normal(n)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def write(
    path: Path,
    signal: Samples | Iterable[Samples],
    kind: str | Kind,
    *,
    channels: int = 1,
    video: bool = False,
) -> Path:
    """Encode ``signal`` (at ``kind.rate``) into ``path`` as ``kind``; return ``path``.

    ``channels=2`` duplicates the signal to stereo; ``video=True`` adds a tiny video stream
    (an MP4 screen recording).
    """
    spec = KINDS[kind] if isinstance(kind, str) else kind
    blocks: Iterable[Samples] = [signal] if isinstance(signal, np.ndarray) else signal
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w", format=spec.format) as out:
        stream = cast(av.AudioStream, out.add_stream(spec.codec, rate=spec.rate))
        stream.layout = layout
        if spec.bit_rate:
            stream.codec_context.bit_rate = spec.bit_rate
        picture = None
        if video:
            picture = out.add_stream("mpeg4", rate=1)
            picture.width = picture.height = 16
            picture.pix_fmt = "yuv420p"
        position = 0
        for block in blocks:
            if block.size == 0:
                continue
            data = np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1)
            if channels == 2:
                data = np.vstack([data, data])
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
            frame.sample_rate = spec.rate
            frame.pts = position
            position += block.size
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if picture is not None:
            image = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            for second in range(max(1, position // spec.rate)):
                image.pts = second
                for packet in picture.encode(image.reformat(format="yuv420p")):
                    out.mux(packet)
            for packet in picture.encode(None):
                out.mux(packet)
    return path


def decode(path: Path, rate: int = 16000) -> Samples:
    """The whole file as mono float32 at ``rate`` (for checking short outputs in tests)."""
    parts: list[Samples] = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(container.streams.audio[0]):
            parts.extend(_flat(out) for out in resampler.resample(frame))
        parts.extend(_flat(out) for out in resampler.resample(None))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _flat(frame: av.AudioFrame) -> Samples:
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def levels(path: Path, window: float = 0.1, rate: int = 16000) -> npt.NDArray[np.float64]:
    """RMS per ``window`` seconds of a decoded file (to find where the sound is)."""
    samples = decode(path, rate)
    size = max(1, round(window * rate))
    whole = samples.size - samples.size % size
    frames = samples[:whole].astype(np.float64).reshape(-1, size)
    rms: npt.NDArray[np.float64] = np.sqrt(np.mean(frames * frames, axis=1))
    return rms
