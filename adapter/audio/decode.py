"""Opening untrusted media safely, and streaming it out as 16 kHz mono samples.

Every read of a customer's file in this package goes through :func:`open_audio`, which

* opens the path through FFmpeg's ``file`` protocol only (a name with a colon is never taken
  for a URL scheme, and no demuxer may open a nested URL: a playlist posing as audio cannot
  make the worker fetch anything);
* accepts only the demuxers that hold audio customers send (``_DEMUXERS``), so an image or a
  playlist is refused before any decoder runs;
* maps every FFmpeg failure onto :class:`~adapter.errors.BadAudio` (or, for a document, an
  image or a file with no audio stream, :class:`~adapter.errors.NotAudio`) with a one-line
  message that names neither the path nor a URL.

:func:`iter_pcm` decodes the first audio stream packet by packet, resamples to
``SAMPLE_RATE`` mono float32 (the average of the channels, or one chosen channel), and yields
the samples in small blocks: memory stays flat whatever the length of the file;
:func:`iter_planes` is the same stream with every channel kept, one row each. A corrupt packet
is skipped; a stream that is mostly corrupt is ``BadAudio``. Decoding is deterministic, so two
passes over one file yield the same samples.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from adapter.errors import BadAudio, NotAudio

#: sample rate of everything this package analyses and encodes (what Whisper works at)
SAMPLE_RATE = 16_000

#: demuxers FFmpeg may pick for a customer's file (names as in ``ffmpeg -demuxers``;
#: "mov" covers mp4/m4a/3gp, "matroska" covers webm)
_DEMUXERS = (
    "ogg,mp3,mov,matroska,wav,w64,flac,amr,amrnb,amrwb,caf,aac,aiff,asf,avi,flv,mpegts,mpeg,"
    "ac3,eac3,au"
)
_CONTAINER_OPTIONS = {
    "format_whitelist": _DEMUXERS,
    "protocol_whitelist": "file",
    "probesize": "5000000",
}
#: corrupt packets tolerated before a stream that decodes worse than it fails is refused
_MAX_BAD_PACKETS = 32

FloatArray = npt.NDArray[np.float32]
#: decoded samples with one row per channel, ``(channels, samples)``
PlaneArray = npt.NDArray[np.float32]


def decode_bound(declared_seconds: float) -> float:
    """Seconds of decoded audio beyond which a file lied about its length (``declared_seconds``,
    what :func:`~adapter.audio.probe.probe` measured from its timestamps)."""
    return declared_seconds * 1.5 + 60.0


def ffmpeg_url(path: Path) -> str:
    """The name to give FFmpeg for a local path: always through the ``file`` protocol."""
    return "file:" + os.fspath(path.resolve())


def describe_error(exc: BaseException) -> str:
    """A short lower-case reason from an FFmpeg error, without the file name it carries."""
    reason = getattr(exc, "strerror", None)
    if not isinstance(reason, str) or not reason:
        reason = type(exc).__name__
    return reason.strip().rstrip(".").lower()


#: magic numbers of what customers attach instead of audio (first bytes → what it is)
_NOT_AUDIO: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\xd0\xcf\x11\xe0", "an old office document"),
    (b"{\\rtf", "an RTF document"),
    (b"<!DOCTYPE", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<?xml", "an XML document"),
)


def sniff_non_audio(path: Path) -> str | None:
    """What the file is when its first bytes say it is clearly not audio, else None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    stripped = head.lstrip()
    for magic, kind in _NOT_AUDIO:
        if head.startswith(magic) or stripped.lower().startswith(magic.lower()):
            return kind
    if len(head) > 4 and head[4:12] in (b"ftypheic", b"ftypheix", b"ftypavif"):
        return "an image"
    return None


@contextmanager
def open_audio(path: Path) -> Iterator[tuple[Any, Any]]:
    """Open ``path`` for reading; yield ``(container, first audio stream)``.

    Raises :class:`NotAudio` when the file is a document or an image, or holds no audio stream,
    and :class:`BadAudio` when FFmpeg cannot open it as one of the accepted containers.
    """
    try:
        container = av.open(
            ffmpeg_url(path),
            container_options=dict(_CONTAINER_OPTIONS),
            metadata_errors="replace",
        )
    except (av.FFmpegError, ValueError) as exc:
        if isinstance(exc, av.error.EOFError):
            why = "the data ends before any audio (truncated, or not audio)"
        elif isinstance(exc, av.error.ArgumentError):
            why = "not an accepted audio format"
        else:
            why = describe_error(exc)
        kind = sniff_non_audio(path)
        if kind is not None:
            raise NotAudio(f"not audio: the file is {kind}") from exc
        raise BadAudio(f"not readable as audio: {why}") from exc
    try:
        streams = container.streams
        if not streams.audio:
            kinds = sorted({str(s.type) for s in streams})
            held = f" (it holds {', '.join(kinds)})" if kinds else ""
            raise NotAudio(f"the file has no audio stream{held}")
        stream = streams.audio[0]
        if stream.codec_context is None:
            raise BadAudio("the audio codec of the file is not supported")
        yield container, stream
    finally:
        container.close()


def demux(container: Any, stream: Any) -> Iterator[Any]:
    """The packets of ``stream``; a demuxing error ends the stream (a truncated file)."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.FFmpegError, ValueError):
            return
        yield packet


class _Resampler:
    """Resample decoded frames to planar float32 at one rate, keeping every channel; rebuilt
    when the input format changes."""

    def __init__(self, rate: int) -> None:
        self._rate = rate
        self._key: tuple[str, str, int] | None = None
        self._resampler: Any = None

    def feed(self, frame: Any) -> Iterator[PlaneArray]:
        key = (frame.format.name, frame.layout.name, int(frame.sample_rate))
        if key != self._key:
            yield from self.flush()
            self._resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=self._rate)
            self._key = key
        for out in self._resampler.resample(frame):
            yield _planes(out)

    def flush(self) -> Iterator[PlaneArray]:
        if self._resampler is not None:
            for out in self._resampler.resample(None):
                yield _planes(out)
            self._resampler = None
            self._key = None


def _planes(frame: Any) -> PlaneArray:
    planes: PlaneArray = np.asarray(frame.to_ndarray(), dtype=np.float32)
    return planes


def iter_planes(
    path: Path, *, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None
) -> Generator[PlaneArray, None, None]:
    """Yield the first audio stream of ``path`` as float32 blocks at ``sample_rate``, one row
    per channel (``block.shape == (channels, samples)``).

    Raises :class:`BadAudio` when the file does not open, has no audio, or does not decode, or
    when it decodes to more than ``max_seconds`` of audio (a stream lying about its length).
    """
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    with open_audio(path) as (container, stream):
        resampler = _Resampler(sample_rate)
        good = bad = produced = 0
        for packet in demux(container, stream):
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError) as exc:
                bad += 1
                if bad > _MAX_BAD_PACKETS and bad > good:
                    raise BadAudio(f"the audio stream is corrupt: {describe_error(exc)}") from exc
                continue
            if frames:
                good += 1
            for frame in frames:
                for block in resampler.feed(frame):
                    produced += block.shape[1]
                    if limit is not None and produced > limit:
                        raise BadAudio("the audio stream decodes to more audio than it declares")
                    yield block
        for block in resampler.flush():
            produced += block.shape[1]
            yield block
        if produced == 0:
            raise BadAudio("the audio stream holds no decodable samples")


def iter_pcm(
    path: Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    channel: int | None = None,
) -> Generator[FloatArray, None, None]:
    """Yield the first audio stream of ``path`` as mono float32 blocks at ``sample_rate``: the
    average of its channels, or only ``channel`` (0 is the first) when given.

    Raises :class:`BadAudio` as :func:`iter_planes` does, and when ``channel`` is missing from
    a block (a stream whose layout shrinks midway); ``ValueError`` for a negative ``channel``.
    """
    if channel is not None and channel < 0:
        raise ValueError(f"channel must be 0 or more, not {channel}")
    with closing(iter_planes(path, sample_rate=sample_rate, max_seconds=max_seconds)) as blocks:
        for planes in blocks:
            yield _mono(planes, channel)


def _mono(planes: PlaneArray, channel: int | None) -> FloatArray:
    """One channel of ``planes``, or their average.

    Channels are averaged here rather than by FFmpeg's downmix, which gives a centred voice
    3 dB of gain (two equal channels would reach 1.41 of full scale and clip in the encoder).
    """
    if channel is not None:
        if channel >= planes.shape[0]:
            raise BadAudio(f"the audio has no channel {channel + 1} (it has {planes.shape[0]})")
        picked: FloatArray = planes[channel]
        return picked
    if planes.shape[0] == 1:
        mono: FloatArray = planes.reshape(-1)
    else:
        mono = planes.mean(axis=0, dtype=np.float32)
    return mono
