"""What an audio file is: container, codec, length, and the extension to upload it under.

The length is measured, not believed: the audio packets are demuxed to the end (no decoding,
about a second for three hours of MP3) and the last packet's end is taken, so a header that
lies, a VBR MP3 without a Xing header, or a raw AMR stream all get their real duration (when
packets carry no timestamps, the stream is decoded to count samples). The first packets are
decoded to prove the stream decodes at all. Forged headers that would turn a small file into
days of samples are refused: sample rates outside 4-768 kHz, lengths over ``MAX_HOURS``.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from adapter.audio.decode import SAMPLE_RATE, demux, describe_error, iter_pcm, open_audio
from adapter.errors import BadAudio

#: sample rates a real recording has (telephony is 8 kHz; anything lower is a forged header
#: that would make a small file decode to days of samples)
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 768_000
#: longest audio accepted; a longer one is a forged header, or not worth transcribing
MAX_HOURS = 12
MAX_SECONDS = MAX_HOURS * 3600.0

#: frames that must decode before a stream is believed to be audio
_FRAMES_TO_VERIFY = 4
#: packets tried while looking for those frames
_PACKETS_TO_VERIFY = 64
#: a stream with more packets than this (or than the file has bytes) is refused as hostile
_MAX_PACKETS = 50_000_000

_OGG_CODECS = frozenset({"opus", "vorbis", "flac"})
_WEBM_CODECS = frozenset({"opus", "vorbis"})
_MP4_CODECS = frozenset({"aac", "alac", "mp3"})


@dataclass(frozen=True)
class AudioInfo:
    """What :func:`probe` found out about a file."""

    container: str  #: FFmpeg demuxer name, e.g. "ogg", "mp3", "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  #: canonical codec name of the first audio stream, e.g. "opus", "aac"
    duration: float  #: seconds
    sample_rate: int
    channels: int
    bit_rate: int | None  #: bits per second, when the file says
    size: int  #: bytes
    #: extension to upload the file under as it is ("ogg", "mp3", "m4a", ...), or None when no
    #: extension an engine accepts fits this container and codec (AMR, 3GP, CAF, ...)
    extension: str | None
    #: other streams (video, cover art) ride along; uploading as-is then means remuxing
    has_other_streams: bool = False


def upload_extension(container: str, codec: str, brand: str, has_video: bool) -> str | None:
    """The extension under which an engine decodes this container and codec as they are."""
    names = set(container.split(","))
    if "ogg" in names:
        return "ogg" if codec in _OGG_CODECS else None
    if "mp3" in names:
        return "mp3" if codec == "mp3" else None
    if "wav" in names:
        return "wav" if codec.startswith("pcm_") else None
    if "flac" in names:
        return "flac" if codec == "flac" else None
    if "matroska" in names:
        return "webm" if codec in _WEBM_CODECS else None
    if "mov" in names:
        if brand.lower().startswith("3g") or codec not in _MP4_CODECS:
            return None
        return "mp4" if has_video else "m4a"
    return None


def probe(path: Path) -> AudioInfo:
    """Describe the audio in ``path``.

    Raises :class:`~adapter.errors.NotAudio` for a file that is not audio (a document, an
    image, no audio stream), :class:`BadAudio` for an empty file or audio that does not decode,
    and :class:`FileNotFoundError` when there is no file at all (a caller's bug, not the
    customer's).
    """
    size = path.stat().st_size
    if size == 0:
        raise BadAudio("the file is empty")
    with open_audio(path) as (container, stream):
        codec_context = stream.codec_context
        codec = str(codec_context.codec.canonical_name)
        container_name = str(container.format.name)
        brand = str(container.metadata.get("major_brand", ""))
        has_video = any(s.type == "video" for s in container.streams)
        others = len(container.streams) > 1
        sample_rate = int(codec_context.sample_rate or stream.rate or 0)
        channels = int(codec_context.channels or 0)
        if sample_rate <= 0 or channels <= 0:
            raise BadAudio("the audio stream declares no sample rate or channels")
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise BadAudio(
                f"the audio stream declares an implausible sample rate ({sample_rate} Hz)"
            )
        measured = _measure(container, stream, size)
        bit_rate = int(codec_context.bit_rate or container.bit_rate or 0) or None
    duration = measured if measured > 0 else _decoded_seconds(path)
    if duration > MAX_SECONDS:
        hours = duration / 3600
        raise BadAudio(f"the audio is implausibly long ({hours:.0f} h; at most {MAX_HOURS} h)")
    return AudioInfo(
        container=container_name,
        codec=codec,
        duration=duration,
        sample_rate=sample_rate,
        channels=channels,
        bit_rate=bit_rate,
        size=size,
        extension=upload_extension(container_name, codec, brand, has_video),
        has_other_streams=others,
    )


def _measure(container: Any, stream: Any, size: int) -> float:
    """Demux every packet of ``stream``; decode the first few. Return seconds (0 if unknown)."""
    time_base = stream.time_base
    first: int | None = None
    last_end: int | None = None
    summed = packets = tried = frames = 0
    failure: BaseException | None = None
    limit = min(_MAX_PACKETS, size + 1024)
    for packet in demux(container, stream):
        if packet.size == 0:
            continue  # the flush packet PyAV appends
        packets += 1
        if packets > limit:
            raise BadAudio("the audio stream has an implausible number of packets")
        duration = packet.duration or 0
        summed += duration
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is not None and duration > 0:
            first = stamp if first is None else min(first, stamp)
            end = stamp + duration
            last_end = end if last_end is None else max(last_end, end)
        if frames < _FRAMES_TO_VERIFY and tried < _PACKETS_TO_VERIFY:
            tried += 1
            try:
                frames += len(packet.decode())
            except (av.FFmpegError, ValueError) as exc:
                failure = exc
    if frames == 0 and tried > 0:
        try:
            frames += len(stream.codec_context.decode(None))
        except (av.FFmpegError, ValueError) as exc:
            failure = exc
    if packets == 0:
        raise BadAudio("the audio stream holds no data")
    if frames == 0:
        why = f": {describe_error(failure)}" if failure is not None else ""
        raise BadAudio(f"the audio stream does not decode{why}")
    if time_base is None:
        return 0.0
    if first is not None and last_end is not None and last_end > first:
        return float((last_end - first) * time_base)
    return float(summed * time_base)


def _decoded_seconds(path: Path) -> float:
    """Length by decoding everything: the last resort when no timestamp tells."""
    samples = 0
    with closing(iter_pcm(path, max_seconds=MAX_SECONDS + 1)) as blocks:
        for block in blocks:
            samples += block.size
    return samples / SAMPLE_RATE
