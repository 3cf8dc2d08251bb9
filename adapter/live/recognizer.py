"""The account's engine on a live utterance.

    local (faster-whisper)   LiveWhisper in the process's DecodePool: finals before partials,
                             partials greedy while the utterance is spoken
    openai (or compatible)   one engine call per finished utterance: the utterance written as a
                             16 kHz WAV in the private work directory, ``Engine.transcribe``
                             in a thread, the file removed; no partials (each would be paid for)

An account whose engine cannot be built (an openai account with no key) still streams: each
utterance then fails with the reason (``…transcription.failed``), and nothing is paid for.
"""

from __future__ import annotations

import asyncio
import tempfile
import wave
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
from anyio import to_thread

from adapter.accounts import EngineSettings
from adapter.engines.base import Engine
from adapter.engines.factory import DEFAULT_LOCAL_MODEL
from adapter.engines.openai_engine import DEFAULT_MODEL
from adapter.errors import TranscriberError
from adapter.live.audio import RATE, FloatArray
from adapter.live.pool import DecodePool
from adapter.live.whisper import Heard, LiveWhisper

#: an engine call on one utterance may take this long plus its duration
REMOTE_TIMEOUT_SECONDS = 30.0


class Recognizer(Protocol):
    """What a live session asks of the account's engine."""

    engine: str
    model: str | None
    #: whether partial transcripts can be had (cheaply) while an utterance is spoken
    partials: bool
    #: the language every utterance defaults to (the account's hint), or None
    language: str | None

    async def transcribe(
        self, audio: FloatArray, *, language: str | None, prompt: str | None, final: bool
    ) -> Heard: ...


class LocalRecognizer:
    engine = "local"
    partials = True

    def __init__(self, whisper: LiveWhisper, pool: DecodePool, language: str | None) -> None:
        self.whisper = whisper
        self.pool = pool
        self.model: str | None = whisper.model
        self.language = "en" if whisper.english_only else language

    async def transcribe(
        self, audio: FloatArray, *, language: str | None, prompt: str | None, final: bool
    ) -> Heard:
        call = partial(
            self.whisper.transcribe, audio, language=language, prompt=prompt, final=final
        )
        return await asyncio.wrap_future(self.pool.submit(call, urgent=final))


class RemoteRecognizer:
    partials = False

    def __init__(self, engine: Engine, model: str | None, work_dir: Path) -> None:
        self.engine_impl = engine
        self.engine = engine.name
        self.model = model
        self.language: str | None = None
        self.work_dir = work_dir

    async def transcribe(
        self, audio: FloatArray, *, language: str | None, prompt: str | None, final: bool
    ) -> Heard:
        return await to_thread.run_sync(partial(self._call, audio, language))

    def _call(self, audio: FloatArray, language: str | None) -> Heard:
        seconds = audio.size / RATE
        with tempfile.TemporaryDirectory(prefix="live-", dir=self.work_dir) as folder:
            path = Path(folder) / "utterance.wav"
            write_wav(path, audio)
            heard = self.engine_impl.transcribe(
                path, language=language, timeout=REMOTE_TIMEOUT_SECONDS + seconds
            )
        return Heard(heard.text.strip(), heard.language)


class FailingRecognizer:
    """An engine that cannot be had: every utterance fails with ``error``."""

    engine = "none"
    partials = False

    def __init__(self, error: TranscriberError, engine: str, model: str | None) -> None:
        self.error = error
        self.engine = engine
        self.model = model
        self.language: str | None = None

    async def transcribe(
        self, audio: FloatArray, *, language: str | None, prompt: str | None, final: bool
    ) -> Heard:
        raise self.error


def write_wav(path: Path, audio: FloatArray) -> None:
    """16 kHz mono s16le WAV of ``audio`` (float samples in [-1, 1])."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())


@dataclass(frozen=True)
class LocalOptions:
    """How the process runs the offline engine live: the pool, and CTranslate2's threads."""

    pool: DecodePool
    threads: int


def recognizer_for(settings: EngineSettings, local: LocalOptions, work_dir: Path) -> Recognizer:
    """The recognizer of an account's engine settings (built without a model load)."""
    if settings.kind == "local":
        whisper = LiveWhisper(
            settings.model or DEFAULT_LOCAL_MODEL,
            model_dir=settings.model_dir,
            threads=local.threads,
            workers=local.pool.size,
        )
        return LocalRecognizer(whisper, local.pool, settings.language)
    engine = settings.engine()
    return RemoteRecognizer(engine, settings.model or DEFAULT_MODEL, work_dir)


__all__ = [
    "FailingRecognizer",
    "LocalOptions",
    "LocalRecognizer",
    "Recognizer",
    "RemoteRecognizer",
    "recognizer_for",
    "write_wav",
]
