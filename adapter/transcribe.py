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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from adapter.audio import AudioChunk, PreparedAudio, TimeMap, stitch
from adapter.audio.isolated import DecodeBounds, prepare_isolated
from adapter.engines.base import Engine, EngineLimits, Segment, Transcript


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
) -> PreparedAudio:
    """Probe ``src`` and cut it into chunk files ``engine`` accepts (``BadAudio``, ``NotAudio``),
    in a child process under ``bounds`` (a crash or a limit hit: ``BadAudio``; the wall-clock
    limit or a child killed from outside: ``TransientError``)."""
    return prepare_isolated(
        src,
        workdir,
        policy.limits(engine.limits),
        remove_silence=remove_silence,
        target_chunk_seconds=policy.chunk_seconds,
        bounds=bounds,
    )


def transcribe_chunk(
    engine: Engine, path: Path, duration: float, policy: ChunkPolicy, language: str | None
) -> Transcript:
    """One engine call on one chunk file, with the timeout its duration allows."""
    return engine.transcribe(path, language=language, timeout=policy.timeout(duration))


def assemble(parts: list[tuple[AudioChunk, Transcript]], duration: float) -> Transcript:
    """One transcript of the original audio; no chunks at all means the audio was silence."""
    if not parts:
        return Transcript("", None, duration, ())
    return stitch(parts)


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


def transcript_json(transcript: Transcript) -> str:
    return json.dumps(
        {
            "text": transcript.text,
            "language": transcript.language,
            "duration": transcript.duration,
            "segments": [asdict(s) for s in transcript.segments],
        }
    )


def transcript_from_json(data: str) -> Transcript:
    raw = json.loads(data)
    return Transcript(
        text=raw["text"],
        language=raw["language"],
        duration=raw["duration"],
        segments=tuple(Segment(**s) for s in raw["segments"]),
    )


def timemap_json(timemap: TimeMap) -> str:
    return json.dumps([list(anchor) for anchor in timemap.anchors])


def timemap_from_json(data: str | None, offset: float, duration: float) -> TimeMap:
    if not data:
        return TimeMap.shift(offset, duration)
    return TimeMap(tuple((float(c), float(o)) for c, o in json.loads(data)))


__all__ = [
    "ChunkPolicy",
    "FileTranscript",
    "assemble",
    "shape",
    "timemap_from_json",
    "timemap_json",
    "transcribe_chunk",
    "transcribe_file",
    "transcript_from_json",
    "transcript_json",
]
