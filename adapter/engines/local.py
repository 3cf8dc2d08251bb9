"""The offline engine: faster-whisper (CTranslate2) with the weights the ``local`` extra bundles.

A model is loaded once per process and shared by every engine and thread that asks for it:
loading is guarded by a lock, and faster-whisper's ``WhisperModel`` may be called from several
threads at once (CTranslate2 queues the calls on its workers). Models load lazily, on the first
transcription, so that a forking parent (``transcriber worker``) never holds one.

faster-whisper is imported only when a model is loaded: importing this module works without the
``local`` extra, and the error then says what to install.

A call cannot be interrupted: CTranslate2 runs it to the end, so ``transcribe``'s ``timeout`` is
accepted (the :class:`~adapter.engines.base.Engine` protocol) but not enforced; the caller's time
limit (the actor's) is what bounds a local transcription.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adapter.engines import weights
from adapter.engines.base import EngineLimits, Segment, Transcript
from adapter.engines.languages import language_hint, to_iso639_1
from adapter.errors import BadAudio, ConfigError

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

# Never let huggingface_hub (imported by faster-whisper) reach for the network: every model path
# this module gives faster-whisper is a local directory, and huggingface_hub reads this variable
# once, when it is first imported, so it is set before that can happen.
os.environ["HF_HUB_OFFLINE"] = "1"

SAMPLE_RATE = 16_000

#: What PyAV's bundled FFmpeg decodes: every audio extension of the contract, plus OpenAI's list.
LOCAL_EXTENSIONS = frozenset(
    {
        "3gp", "aac", "amr", "caf", "flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg",
        "opus", "wav", "webm",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _Key:
    model: str
    compute_type: str
    cpu_threads: int


_MODELS: dict[_Key, Any] = {}
_LOAD_LOCK = threading.Lock()


def _load(key: _Key, model_dir: Path | None) -> Any:
    """The process-wide ``WhisperModel`` for ``key``, loaded on first use."""
    model = _MODELS.get(key)
    if model is not None:
        return model
    with _LOAD_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        os.environ["HF_HUB_OFFLINE"] = "1"  # again, in case a test or a user cleared it
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise ConfigError(f"{weights.INSTALL_HINT} (faster-whisper is not installed)") from None
        directory = weights.model_dir(key.model, model_dir)
        log.info("loading the local %s model from %s", key.model, directory)
        try:
            model = WhisperModel(
                str(directory),
                device="cpu",
                compute_type=key.compute_type,
                cpu_threads=key.cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ConfigError(
                f"cannot load the local {key.model} model from {directory}: {exc}"
            ) from None
        _MODELS[key] = model
        return model


def _decode(path: Path) -> NDArray[np.float32]:
    """The audio as 16 kHz mono float32 samples, or :class:`BadAudio`."""
    import av
    from faster_whisper import decode_audio

    try:
        samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except FileNotFoundError:
        raise BadAudio(f"no such audio file: {path.name}", reason="missing_file") from None
    except (av.error.FFmpegError, OSError, IndexError, ValueError, EOFError) as exc:
        raise BadAudio(
            f"cannot decode {path.name}: {type(exc).__name__}", reason="undecodable"
        ) from None
    audio: NDArray[np.float32] = np.asarray(samples, dtype=np.float32)
    if audio.size == 0:
        raise BadAudio(f"{path.name} holds no audio samples", reason="empty")
    return audio


class LocalEngine:
    """Speech to text on this machine's CPU, offline.

    ``model`` is ``"base"`` (multilingual, detects the language) or ``"tiny.en"`` (English only,
    about four times faster, language always "en"). ``compute_type`` and ``cpu_threads`` go to
    CTranslate2 (``cpu_threads=0``: its default, or ``OMP_NUM_THREADS``). ``model_dir`` is the
    cache directory the base model is assembled into (default: see ``weights.default_cache_dir``).
    """

    name = "local"

    def __init__(
        self,
        model: str = "base",
        *,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        model_dir: Path | None = None,
    ) -> None:
        if model not in weights.MODEL_NAMES:
            raise ConfigError(
                f"unknown local model {model!r}; choose one of: {', '.join(weights.MODEL_NAMES)}"
            )
        self.model = model
        self.limits = EngineLimits(
            max_bytes=None, max_seconds=None, accepted_extensions=LOCAL_EXTENSIONS
        )
        self._key = _Key(model, compute_type, cpu_threads)
        self._model_dir = model_dir

    def __repr__(self) -> str:
        return f"LocalEngine(model={self.model!r}, compute_type={self._key.compute_type!r})"

    @property
    def english_only(self) -> bool:
        return self.model.endswith(".en")

    def whisper_model(self) -> object:
        """The shared faster-whisper ``WhisperModel`` (loading it on first use)."""
        return self._model()

    def _model(self) -> Any:  # faster-whisper has no type hints
        return _load(self._key, self._model_dir)

    def transcribe(
        self, path: Path, *, language: str | None = None, timeout: float | None = None
    ) -> Transcript:
        """Transcribe ``path``; ``language`` (ISO 639-1) skips detection and steers decoding.

        ``timeout`` is ignored: a local call cannot be interrupted (see the module docstring).
        """
        hint = self._hint(language)
        model = self._model()
        audio = _decode(path)
        try:
            raw_segments, info = model.transcribe(
                audio, language=hint, vad_filter=False, beam_size=5
            )
            segments = tuple(
                Segment(start=float(s.start), end=float(s.end), text=str(s.text).strip())
                for s in raw_segments
            )
        except (RuntimeError, ValueError) as exc:
            raise BadAudio(
                f"cannot transcribe {path.name}: {type(exc).__name__}", reason="undecodable"
            ) from None
        text = " ".join(segment.text for segment in segments if segment.text)
        detected = "en" if self.english_only else to_iso639_1(str(info.language))
        return Transcript(
            text=text, language=detected, duration=float(info.duration), segments=segments
        )

    def detect_language(self, path: Path) -> str | None:
        """The ISO 639-1 code of the language spoken in the first 30 s of ``path``."""
        if self.english_only:
            return "en"
        model = self._model()
        audio = _decode(path)
        try:
            language, _probability, _all = model.detect_language(audio=audio)
        except (RuntimeError, ValueError) as exc:
            raise BadAudio(
                f"cannot detect the language of {path.name}: {type(exc).__name__}",
                reason="undecodable",
            ) from None
        return to_iso639_1(str(language))

    def _hint(self, language: str | None) -> str | None:
        code = language_hint(language)
        if code is None:
            return None
        if self.english_only:
            return "en"
        # Whisper names Javanese "jw"; every other ISO code Whisper knows is its own code.
        return "jw" if code == "jv" else code


__all__ = ["LOCAL_EXTENSIONS", "LocalEngine"]
