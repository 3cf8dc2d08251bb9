"""Shape a customer's audio into files an engine accepts: the decision and its result.

The decision, cheapest first:

1. An engine with no size or length limit (the local engine) gets the source file untouched,
   unless silence removal cuts something.
2. A file the engine accepts as it is (extension, bytes, seconds, and not much larger than its
   Opus re-encoding would be) is copied under its canonical extension, or remuxed to drop
   video and cover art. No re-encoding, unless silence removal cuts something.
3. Anything else, and one channel of a stereo call (``channel``), is decoded twice,
   streaming. Pass one measures the power of every 30 ms frame (:mod:`adapter.audio.vad`);
   silences longer than a second are marked for removal and cut points are chosen at quiet
   moments (:mod:`adapter.audio.split`). Pass two encodes each chunk as 16 kHz mono Opus in
   Ogg (:mod:`adapter.audio.convert`). Peak memory is the frame power array (one float per
   30 ms, two for a channel of a stereo call) plus one decoded block, whatever the length.

With ``channel`` only that channel of the source is shaped (one side of a call recorded a
speaker per channel, :mod:`adapter.audio.stereo`): always re-encoded, since no engine can be
told to hear one channel of a file, and timed in the original's time like any chunk. Of a
two-channel source, pass one measures both channels, and the frames where the other channel
leads are encoded as silence (and cut like silence): what the chosen channel holds there is
the other speaker's crosstalk, which an engine transcribes however faint (Whisper wrote every
word of a 5 % bleed, 26 dB down, into the wrong channel's transcript).

Every file written goes in a fresh directory inside ``workdir``; the caller removes ``workdir``.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from adapter.audio.convert import OPUS_BIT_RATE, OPUS_BYTES_PER_SECOND, copy_as, encode_chunks
from adapter.audio.convert import remux_audio as _remux_audio
from adapter.audio.decode import SAMPLE_RATE, FloatArray, decode_bound, iter_pcm
from adapter.audio.probe import AudioInfo, probe
from adapter.audio.split import ChunkPlan, plan_chunks
from adapter.audio.stereo import channel_frames
from adapter.audio.timemap import TimeMap
from adapter.audio.vad import FRAME_SECONDS, BoolArray, EnergyMeter, speech_mask
from adapter.engines.base import EngineLimits

logger = logging.getLogger(__name__)

#: silence removal is applied only when it saves at least this many seconds
MIN_SAVING_SECONDS = 1.0
#: an accepted file is re-encoded anyway when it is over this size and its Opus version would be
#: less than a quarter of it (a long WAV, a 128 kbit/s MP3 of twenty minutes)
SHRINK_MIN_BYTES = 8 * 1024 * 1024
_SHRINK_RATIO = 4
#: seconds kept free under an engine's max_seconds
_LENGTH_MARGIN = 1.0
#: how far (fraction of the target, at most _WINDOW_MAX seconds) a cut may move to find quiet
_WINDOW_FRACTION = 0.1
_WINDOW_MAX = 30.0
#: stands for "no limit" where a frame count is needed
_UNLIMITED_FRAMES = 2**62
_WHOLE_FILE = 2**62


@dataclass(frozen=True)
class AudioChunk:
    """One file to send to the engine."""

    index: int
    path: Path
    offset: float  #: seconds into the original audio where this chunk starts
    duration: float  #: seconds of audio in the file
    billed_seconds: float  #: seconds the engine is sent (and may bill) for this file
    timemap: TimeMap  #: chunk time -> original time (absolute; ``to_original(0) == offset``)
    lead_overlap: float = 0.0  #: seconds at the start repeating the end of the previous chunk
    source_duration: float = 0.0  #: seconds of the whole original audio


@dataclass(frozen=True)
class PreparedAudio:
    """The files to send, in order, and what they cost."""

    info: AudioInfo
    #: empty when silence removal found nothing but silence
    chunks: tuple[AudioChunk, ...]
    audio_seconds: float  #: length of the original audio
    billed_seconds: float  #: total seconds sent, overlaps included
    upload_bytes: int


def prepare(
    src: Path,
    workdir: Path,
    limits: EngineLimits,
    *,
    remove_silence: bool = True,
    target_chunk_seconds: float = 600.0,
    overlap_seconds: float = 2.0,
    channel: int | None = None,
) -> PreparedAudio:
    """Turn ``src`` into chunks ``limits`` accepts; see the module docstring for the rules.

    ``channel`` (0 is the first) shapes that channel alone, as 16 kHz mono Opus.

    Raises :class:`~adapter.errors.NotAudio` for input that is not audio,
    :class:`~adapter.errors.BadAudio` for empty or corrupt audio, and ``ValueError`` for limits
    too small to hold a second of audio or a channel the source does not have.
    """
    if target_chunk_seconds <= 0 or overlap_seconds < 0:
        raise ValueError("target_chunk_seconds must be positive and overlap_seconds not negative")
    info = probe(src)
    if channel is not None and not 0 <= channel < info.channels:
        raise ValueError(f"channel {channel} of audio with {info.channels} channel(s)")
    as_is = channel is None  # a file sent as it is holds every channel
    if as_is and not remove_silence:
        sent = _without_reencoding(src, info, workdir, limits, target_chunk_seconds)
        if sent is not None:
            return sent

    longest = _longest_chunk_seconds(limits)
    if longest < 1.0:
        raise ValueError("the engine limits leave less than a second per chunk")
    target = min(target_chunk_seconds if limits.max_seconds is not None else math.inf, longest)
    overlap = min(overlap_seconds, target / 4)
    if as_is and not remove_silence and info.duration <= target:
        return _encode_whole(src, info, workdir)

    powers, samples, crosstalk = _measure(src, info, channel)
    audio_seconds = samples / SAMPLE_RATE
    keep = _frames_to_send(powers, remove_silence, crosstalk)
    if keep is None:
        logger.debug("audio is all silence; nothing to send")
        return PreparedAudio(info, (), audio_seconds, 0.0, 0)
    if as_is and keep.all():
        sent = _without_reencoding(src, info, workdir, limits, target_chunk_seconds)
        if sent is not None:
            return sent

    plans = plan_chunks(
        powers,
        keep,
        samples,
        target=_frames(target - overlap),
        longest=_frames(longest - overlap),
        overlap=_frames(overlap),
        window=_frames(min(_WINDOW_MAX, _WINDOW_FRACTION * target)),
    )
    return _encode(src, info, workdir, plans, audio_seconds, channel, crosstalk)


def _without_reencoding(
    src: Path, info: AudioInfo, workdir: Path, limits: EngineLimits, target_chunk_seconds: float
) -> PreparedAudio | None:
    """The source itself for an unlimited engine, a copy when it fits as it is, else ``None``."""
    if limits.max_bytes is None and limits.max_seconds is None:
        return _untouched(src, info)
    if _fits_as_is(info, limits, target_chunk_seconds):
        return _as_is(src, info, workdir)
    return None


def _measure(
    src: Path, info: AudioInfo, channel: int | None
) -> tuple[FloatArray, int, BoolArray | None]:
    """Pass one: the power of every frame of the decoded source (or of its ``channel``), the
    samples decoded and, for a channel of a two-channel source, the frames that are the other
    channel's crosstalk (their power counted as 0: they will be encoded as silence)."""
    bound = decode_bound(info.duration)
    if channel is not None and info.channels == 2:
        frames = channel_frames(src, channel, max_seconds=bound)
        return frames.powers, frames.samples, frames.crosstalk
    meter = EnergyMeter()
    with closing(iter_pcm(src, max_seconds=bound, channel=channel)) as blocks:
        for block in blocks:
            meter.feed(block)
    return meter.powers(), meter.samples, None


def _frames_to_send(
    powers: FloatArray, remove_silence: bool, muted: BoolArray | None
) -> BoolArray | None:
    """Which frames to send: all, or (removing silence) the speech when that saves enough;
    ``muted`` frames count as silence.

    ``None`` when silence removal finds nothing but silence.
    """
    keep: BoolArray = np.ones(powers.size, dtype=np.bool_)
    if not remove_silence:
        return keep
    mask = speech_mask(powers, muted=muted)
    if not mask.any():
        return None
    saved = float(powers.size - np.count_nonzero(mask)) * FRAME_SECONDS
    return mask if saved >= MIN_SAVING_SECONDS else keep


def _frames(seconds: float) -> int:
    if math.isinf(seconds):
        return _UNLIMITED_FRAMES
    return max(1, math.floor(seconds / FRAME_SECONDS))


def _longest_chunk_seconds(limits: EngineLimits) -> float:
    """Longest chunk (overlap included) that fits both limits once encoded as Opus."""
    longest = math.inf
    if limits.max_seconds is not None:
        longest = limits.max_seconds - _LENGTH_MARGIN
    if limits.max_bytes is not None:
        longest = min(longest, limits.max_bytes / OPUS_BYTES_PER_SECOND)
    return longest


def _fits_as_is(info: AudioInfo, limits: EngineLimits, target_chunk_seconds: float) -> bool:
    if info.extension is None or info.extension not in limits.accepted_extensions:
        return False
    if limits.max_bytes is not None and info.size > limits.max_bytes:
        return False
    if limits.max_seconds is not None and info.duration > min(
        limits.max_seconds - _LENGTH_MARGIN, target_chunk_seconds
    ):
        return False
    reencoded = info.duration * OPUS_BIT_RATE / 8
    return not (info.size > SHRINK_MIN_BYTES and reencoded * _SHRINK_RATIO < info.size)


def _outdir(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="prepared-", dir=workdir))


def _untouched(src: Path, info: AudioInfo) -> PreparedAudio:
    logger.debug("sending the source as it is")
    chunk = _whole_chunk(src, info)
    return PreparedAudio(info, (chunk,), info.duration, info.duration, info.size)


def _whole_chunk(path: Path, info: AudioInfo) -> AudioChunk:
    return AudioChunk(
        index=0,
        path=path,
        offset=0.0,
        duration=info.duration,
        billed_seconds=info.duration,
        timemap=TimeMap.shift(0.0, info.duration),
        source_duration=info.duration,
    )


def _as_is(src: Path, info: AudioInfo, workdir: Path) -> PreparedAudio:
    """Copy (or remux, when other streams ride along) without re-encoding."""
    assert info.extension is not None
    outdir = _outdir(workdir)
    dst = outdir / f"chunk-000.{info.extension}"
    if info.has_other_streams:
        try:
            _remux_audio(src, dst, info.extension)
        except (av.FFmpegError, ValueError) as exc:
            logger.debug("remux failed (%s); re-encoding instead", type(exc).__name__)
            dst.unlink(missing_ok=True)
            return _encode_whole(src, info, workdir)
        logger.debug("remuxed the audio stream to .%s", info.extension)
    else:
        copy_as(src, dst)
        logger.debug("copied the source as .%s", info.extension)
    size = dst.stat().st_size
    return PreparedAudio(info, (_whole_chunk(dst, info),), info.duration, info.duration, size)


def _encode_whole(src: Path, info: AudioInfo, workdir: Path) -> PreparedAudio:
    whole = ChunkPlan(index=0, spans=((0, _WHOLE_FILE),), lead_overlap=0)
    return _encode(src, info, workdir, [whole], info.duration, None, None)


def _encode(
    src: Path,
    info: AudioInfo,
    workdir: Path,
    plans: list[ChunkPlan],
    audio_seconds: float,
    channel: int | None,
    muted: BoolArray | None,
) -> PreparedAudio:
    outdir = _outdir(workdir)
    paths = [outdir / f"chunk-{plan.index:03d}.ogg" for plan in plans]
    bound = decode_bound(info.duration)
    total, written = encode_chunks(
        src, plans, paths, max_seconds=bound, channel=channel, muted=muted
    )
    source_duration = total / SAMPLE_RATE if total else audio_seconds
    chunks: list[AudioChunk] = []
    for plan, path, samples in zip(plans, paths, written, strict=True):
        if samples == 0:
            path.unlink(missing_ok=True)
            continue
        spans = _clip(plan.spans, total)
        timemap = TimeMap.from_spans([(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in spans])
        duration = samples / SAMPLE_RATE
        chunks.append(
            AudioChunk(
                index=len(chunks),
                path=path,
                offset=timemap.to_original(0.0),
                duration=duration,
                billed_seconds=duration,
                timemap=timemap,
                lead_overlap=min(plan.lead_overlap, samples) / SAMPLE_RATE if chunks else 0.0,
                source_duration=source_duration,
            )
        )
    logger.debug("encoded %d chunk(s) of 16 kHz mono Opus", len(chunks))
    billed = sum(chunk.billed_seconds for chunk in chunks)
    size = sum(os.path.getsize(chunk.path) for chunk in chunks)
    return PreparedAudio(info, tuple(chunks), source_duration, billed, size)


def _clip(spans: tuple[tuple[int, int], ...], total: int) -> list[tuple[int, int]]:
    clipped = [(a, min(b, total)) for a, b in spans if a < total]
    return [(a, b) for a, b in clipped if b > a] or [(0, 0)]


__all__ = ["AudioChunk", "PreparedAudio", "prepare"]
