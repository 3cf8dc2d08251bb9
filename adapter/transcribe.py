"""The one path from an audio file to a transcript: probe → prepare → split → engine → stitch.

``transcribe_file`` runs it in one go (``transcriber transcribe``). The pipeline runs the same
pieces as separate units of work: ``shape`` once per attempt, ``transcribe_chunk`` once per
chunk (each its own Dramatiq message, in parallel across workers), ``assemble`` once when the
ledger says the last chunk is done. Chunks are at most ``chunk_seconds`` long for every
engine, and each engine call gets a timeout that follows its chunk's duration.

``shape`` decodes customers' files, so it runs in a child process with memory, CPU and
wall-clock limits (:mod:`adapter.audio.isolated`): a decoder that crashes or runs away ends
that transcription with a named error, and the process that called it (under ``up``, the
webhook receiver's) lives on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from adapter.audio import AudioChunk, PreparedAudio, TimeMap, stitch
from adapter.audio.isolated import DecodeBounds, measure_isolated, prepare_isolated
from adapter.audio.stereo import ChannelVerdict, channels_differ
from adapter.engines.base import Engine, EngineLimits, Segment, Transcript
from adapter.speakers import DEFAULT_LABELS, Turn, merge_turns, turns_text


@dataclass(frozen=True)
class ChunkPolicy:
    """How audio is cut and how long one chunk's engine call may take."""

    chunk_seconds: float = 300.0
    max_chunk_bytes: int | None = None
    timeout_seconds: float = 60.0
    timeout_factor: float = 2.0

    def limits(self, engine: EngineLimits) -> EngineLimits:
        """The engine's own limits, tightened to this policy's chunk length and size."""
        seconds = min(engine.max_seconds or self.chunk_seconds, self.chunk_seconds)
        size = engine.max_bytes
        if self.max_chunk_bytes is not None:
            size = min(size or self.max_chunk_bytes, self.max_chunk_bytes)
        return replace(engine, max_seconds=seconds, max_bytes=size)

    def timeout(self, duration: float) -> float:
        """Seconds one engine call on ``duration`` seconds of audio may take."""
        return self.timeout_seconds + self.timeout_factor * max(duration, 0.0)


@dataclass(frozen=True)
class FileTranscript:
    transcript: Transcript
    audio_seconds: float
    billed_seconds: float


def shape(
    src: Path,
    workdir: Path,
    engine: Engine,
    policy: ChunkPolicy,
    *,
    remove_silence: bool,
    bounds: DecodeBounds | None = None,
    channel: int | None = None,
) -> PreparedAudio:
    """Probe ``src`` and cut it into chunk files ``engine`` accepts (``BadAudio``, ``NotAudio``),
    in a child process under ``bounds`` (a crash or a limit hit: ``BadAudio``; the wall-clock
    limit or a child killed from outside: ``TransientError``). ``channel``: that channel
    only, not the channels mixed (a speaker of a stereo call)."""
    return prepare_isolated(
        src,
        workdir,
        policy.limits(engine.limits),
        remove_silence=remove_silence,
        target_chunk_seconds=policy.chunk_seconds,
        bounds=bounds,
        channel=channel,
    )


def speakers_verdict(src: Path, *, bounds: DecodeBounds | None = None) -> ChannelVerdict:
    """Whether ``src`` is a stereo call recording whose channels carry different speakers, and
    why (measured in a child process, like ``shape``; a file without two channels is not
    decoded)."""
    return channels_differ(measure_isolated(src, bounds=bounds))


def transcribe_chunk(
    engine: Engine, path: Path, duration: float, policy: ChunkPolicy, language: str | None
) -> Transcript:
    """One engine call on one chunk file, with the timeout its duration allows."""
    return engine.transcribe(path, language=language, timeout=policy.timeout(duration))


def translate_chunk(engine: Engine, path: Path, duration: float, policy: ChunkPolicy) -> Transcript:
    """One call of the engine's translate task (English) on one chunk file."""
    return engine.translate(path, timeout=policy.timeout(duration))


def assemble(parts: Sequence[tuple[AudioChunk, Transcript]], duration: float) -> Transcript:
    """One transcript of the original audio; no chunks at all means the audio was silence."""
    if not parts:
        return Transcript("", None, duration, ())
    return stitch(parts)


@dataclass(frozen=True)
class ChunkResult:
    """A done chunk: which channel it holds (None: all mixed), where it sits, what the engine
    heard, and its English translation when the engine was asked for one."""

    channel: int | None
    chunk: AudioChunk
    transcript: Transcript
    translation: Transcript | None = None


@dataclass(frozen=True)
class Assembled:
    transcript: Transcript
    #: the engine's translation (chunks already in English count as they are), or None
    translation: Transcript | None = None
    #: a stereo call's turns (the transcript's text is then their lines)
    turns: tuple[Turn, ...] = ()
    translated_turns: tuple[Turn, ...] = ()


def assemble_results(
    results: Sequence[ChunkResult], duration: float, labels: tuple[str, str] | None
) -> Assembled:
    """The transcript (and the engine's translation) of the original audio from its done
    chunks: chunks of one channel each are stitched per channel and woven into turns."""
    translated = any(r.translation is not None for r in results)

    def heard(r: ChunkResult) -> tuple[AudioChunk, Transcript]:
        return r.chunk, r.transcript

    def english(r: ChunkResult) -> tuple[AudioChunk, Transcript]:
        return r.chunk, r.translation or r.transcript

    if not any(r.channel is not None for r in results):
        return Assembled(
            assemble([heard(r) for r in results], duration),
            assemble([english(r) for r in results], duration) if translated else None,
        )
    names = labels or DEFAULT_LABELS
    by_channel = [[r for r in results if r.channel == c] for c in (0, 1)]
    spoken = [assemble([heard(r) for r in rs], duration) for rs in by_channel]
    turns = tuple(merge_turns(spoken[0].segments, spoken[1].segments, names))
    transcript = Transcript(turns_text(turns), _main_language(spoken), duration, ())
    if not translated:
        return Assembled(transcript, None, turns)
    english_parts = [assemble([english(r) for r in rs], duration) for rs in by_channel]
    english_turns = tuple(merge_turns(english_parts[0].segments, english_parts[1].segments, names))
    translation = Transcript(turns_text(english_turns), "en", duration, ())
    return Assembled(transcript, translation, turns, english_turns)


def _main_language(transcripts: Sequence[Transcript]) -> str | None:
    """The language of the channel that spoke longest."""
    spoken = [
        (sum(s.end - s.start for s in t.segments) or len(t.text), t.language)
        for t in transcripts
        if t.language
    ]
    return max(spoken, key=lambda item: item[0])[1] if spoken else None


def transcribe_file(
    path: Path,
    workdir: Path,
    engine: Engine,
    policy: ChunkPolicy,
    *,
    language: str | None = None,
    remove_silence: bool = True,
) -> FileTranscript:
    """The whole path in this thread, one chunk after another."""
    prepared = shape(path, workdir, engine, policy, remove_silence=remove_silence)
    parts = [
        (chunk, transcribe_chunk(engine, chunk.path, chunk.duration, policy, language))
        for chunk in prepared.chunks
    ]
    transcript = assemble(parts, prepared.info.duration)
    return FileTranscript(transcript, prepared.audio_seconds, prepared.billed_seconds)


# ─── chunks as data (what the ledger stores between the steps) ──────────────────────────────


def transcript_json(transcript: Transcript, translation: Transcript | None = None) -> str:
    """A chunk's result as stored: the transcript, and its translation when one was made."""
    data = _transcript_dict(transcript)
    if translation is not None:
        data["translation"] = _transcript_dict(translation)
    return json.dumps(data)


def _transcript_dict(transcript: Transcript) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "language": transcript.language,
        "duration": transcript.duration,
        "segments": [asdict(s) for s in transcript.segments],
    }


def transcript_from_json(data: str) -> Transcript:
    return _transcript_of(json.loads(data))


def translation_from_json(data: str) -> Transcript | None:
    raw = json.loads(data).get("translation")
    return None if raw is None else _transcript_of(raw)


def _transcript_of(raw: dict[str, Any]) -> Transcript:
    return Transcript(
        text=raw["text"],
        language=raw["language"],
        duration=raw["duration"],
        segments=tuple(Segment(**s) for s in raw["segments"]),
    )


def turns_json(turns: Sequence[Turn]) -> str | None:
    """A stereo call's turns as stored, or None for other audio."""
    return json.dumps([asdict(t) for t in turns]) if turns else None


def turns_from_json(data: str | None) -> tuple[Turn, ...]:
    return tuple(Turn(**t) for t in json.loads(data)) if data else ()


def timemap_json(timemap: TimeMap) -> str:
    return json.dumps([list(anchor) for anchor in timemap.anchors])


def timemap_from_json(data: str | None, offset: float, duration: float) -> TimeMap:
    if not data:
        return TimeMap.shift(offset, duration)
    return TimeMap(tuple((float(c), float(o)) for c, o in json.loads(data)))


__all__ = [
    "Assembled",
    "ChunkPolicy",
    "ChunkResult",
    "FileTranscript",
    "assemble",
    "assemble_results",
    "shape",
    "speakers_verdict",
    "timemap_from_json",
    "timemap_json",
    "transcribe_chunk",
    "transcribe_file",
    "transcript_from_json",
    "transcript_json",
    "translate_chunk",
    "translation_from_json",
    "turns_from_json",
    "turns_json",
]
