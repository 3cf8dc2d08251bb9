"""Writing the files an engine receives: copies, remuxes, and 16 kHz mono Opus chunks.

* :func:`copy_as` copies the bytes under the right extension (an Ogg/Opus voice note named
  ``.oga`` or ``.opus`` or nothing is already an ``.ogg`` file).
* :func:`remux_audio` keeps the audio stream's packets and drops the rest (video, cover art):
  no re-encoding.
* :func:`encode_chunks` is pass two of :func:`adapter.audio.prepare`: it decodes the source once
  more, streaming, and routes each block of samples to the chunk files whose spans hold it,
  encoding each as Opus in Ogg (16 kHz mono, 24 kbit/s constrained VBR, the ``voip``
  application). It may take one channel of the source alone, and frames to encode as silence
  (another speaker's crosstalk on that channel, :mod:`adapter.audio.stereo`).
  At most the chunks that overlap a moment are open at once; nothing is buffered beyond one
  decoded block and the encoder's own frame.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import av
import numpy as np

from adapter.audio.decode import (
    SAMPLE_RATE,
    FloatArray,
    demux,
    ffmpeg_url,
    iter_pcm,
    open_audio,
)
from adapter.audio.split import ChunkPlan
from adapter.audio.vad import FRAME, BoolArray

#: bits per second of the Opus chunks; speech at 16 kHz is fully intelligible at this rate
OPUS_BIT_RATE = 24_000
#: bytes per second an Opus chunk is assumed never to exceed when sizing chunks (33% headroom
#: over the nominal rate for VBR peaks and Ogg page overhead)
OPUS_BYTES_PER_SECOND = OPUS_BIT_RATE * 4 // 3 // 8

#: FFmpeg muxer for each extension a file may be remuxed to
MUXERS = {
    "ogg": "ogg",
    "mp3": "mp3",
    "m4a": "ipod",
    "mp4": "mp4",
    "wav": "wav",
    "flac": "flac",
    "webm": "webm",
}


def copy_as(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` byte for byte."""
    shutil.copyfile(src, dst)
    return dst


def remux_audio(src: Path, dst: Path, extension: str) -> Path:
    """Write the first audio stream of ``src`` alone into a new ``extension`` container.

    Raises :class:`av.FFmpegError` (or ``ValueError``) when the muxer refuses the codec.
    """
    with (
        open_audio(src) as (container, stream),
        av.open(ffmpeg_url(dst), "w", format=MUXERS[extension]) as out,
    ):
        target = out.add_stream_from_template(stream)
        for packet in demux(container, stream):
            if packet.dts is None or packet.size == 0:
                continue
            packet.stream = target
            out.mux(packet)
    return dst


class OpusWriter:
    """An Ogg/Opus file at 16 kHz mono that takes float32 blocks of any length."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = 0
        self._container: Any = av.open(ffmpeg_url(path), "w", format="ogg")
        self._stream: Any = self._container.add_stream(
            "libopus",
            rate=SAMPLE_RATE,
            bit_rate=OPUS_BIT_RATE,
            # constrained VBR keeps every stretch near the nominal rate, so chunk sizes are
            # predictable (plain VBR spends 50% more on steady tones)
            options={"application": "voip", "vbr": "constrained"},
        )
        self._stream.layout = "mono"

    def write(self, block: FloatArray) -> None:
        if block.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1),
            format="flt",
            layout="mono",
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.samples
        self.samples += block.size
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


class _ChunkSink:
    """Feeds the samples of one chunk's spans to its writer, opened on the first sample."""

    def __init__(self, plan: ChunkPlan, path: Path) -> None:
        self.plan = plan
        self.path = path
        self._next = 0  # index of the first span not yet fully written
        self._writer: OpusWriter | None = None

    @property
    def done(self) -> bool:
        return self._next >= len(self.plan.spans)

    def feed(self, block: FloatArray, first: int) -> None:
        """Write whatever part of ``block`` (original samples from ``first`` on) is ours."""
        last = first + block.size
        spans = self.plan.spans
        while self._next < len(spans):
            start, end = spans[self._next]
            if start >= last:
                return
            low, high = max(start, first), min(end, last)
            if high > low:
                if self._writer is None:
                    self._writer = OpusWriter(self.path)
                self._writer.write(block[low - first : high - first])
            if end > last:
                return
            self._next += 1

    def close(self) -> int:
        """Finish the file; return the samples it holds (0 when nothing was written)."""
        self._next = len(self.plan.spans)
        if self._writer is None:
            return 0
        self._writer.close()
        return self._writer.samples


def encode_chunks(
    src: Path,
    plans: Sequence[ChunkPlan],
    paths: Sequence[Path],
    *,
    max_seconds: float,
    channel: int | None = None,
    muted: BoolArray | None = None,
) -> tuple[int, list[int]]:
    """Decode ``src`` (its ``channel`` alone when given) and encode each plan's spans to the
    matching path, the ``muted`` frames (``vad.FRAME`` samples each) as silence.

    Returns the decoded length of the source in samples and the samples written per chunk.
    Raises :class:`BadAudio` if the source decodes to more than ``max_seconds``.
    """
    sinks = [_ChunkSink(plan, path) for plan, path in zip(plans, paths, strict=True)]
    position = 0
    try:
        with closing(iter_pcm(src, max_seconds=max_seconds, channel=channel)) as blocks:
            for decoded in blocks:
                block = _mute(decoded, position, muted)
                for sink in sinks:
                    if not sink.done:
                        sink.feed(block, position)
                position += block.size
    finally:
        written = [sink.close() for sink in sinks]
    return position, written


def _mute(block: FloatArray, first: int, muted: BoolArray | None) -> FloatArray:
    """``block`` (original samples from ``first`` on) with the samples of ``muted`` frames at 0."""
    if muted is None or muted.size == 0:
        return block
    frames = np.arange(first, first + block.size) // FRAME
    silent = muted[np.minimum(frames, muted.size - 1)] & (frames < muted.size)
    if not silent.any():
        return block
    quiet: FloatArray = np.where(silent, np.float32(0.0), block)
    return quiet
