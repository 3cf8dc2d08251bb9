"""What every speech-to-text engine takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the audio the engine was given
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None  # ISO 639-1, lower case, or None when unknown
    duration: float  # seconds of audio the engine was given
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class EngineLimits:
    """What an engine accepts in one call. The audio layer shapes files to fit."""

    max_bytes: int | None = None
    max_seconds: float | None = None
    #: file extensions (no dot, lower case) the engine accepts as they are
    accepted_extensions: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "ogg", "wav", "webm"}
        )
    )


class Engine(Protocol):
    """A speech-to-text engine. Implementations raise only ``adapter.errors`` types.

    ``transcribe`` takes the audio file, an optional ISO 639-1 ``language`` hint (an unknown one
    is a :class:`~adapter.errors.ConfigError`) and an optional ``timeout``: the seconds this one
    call may wait on a remote service (None: the engine's own default). An engine that cannot
    interrupt itself says so; its caller's time limit then bounds the call.
    """

    name: str
    limits: EngineLimits

    def transcribe(
        self, path: Path, *, language: str | None = None, timeout: float | None = None
    ) -> Transcript: ...

    def translate(self, path: Path, *, timeout: float | None = None) -> Transcript:
        """The speech of ``path`` in English (Whisper's translate task): the transcript's
        ``language`` is ``"en"``, its segments timed like ``transcribe``'s. An engine or model
        without the task raises :class:`~adapter.errors.EngineRejected` (reason
        ``unsupported``)."""
        ...


__all__ = ["Engine", "EngineLimits", "Segment", "Transcript"]
