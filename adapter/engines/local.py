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

``transcribe`` and ``translate`` (Whisper's translate task: any language to English; the
English-only ``tiny.en`` has no such task and raises :class:`EngineRejected`, ``unsupported``)
share one private ``_run``: the decoding, the choice of path and the mapping of errors.

Two decoding paths
------------------
* **sequential**: ``WhisperModel.transcribe``. One 30 s window after another, each prompted with
  the text before it; a window whose text compresses too well or scores too low is decoded again
  by sampling at higher temperatures (the fallback); about one segment per sentence.
* **batched**: faster-whisper's ``BatchedInferencePipeline``. Silero VAD (shipped inside
  faster-whisper, run by onnxruntime: nothing is downloaded) cuts the speech into pieces of at
  most 30 s and drops the silence between them; ``batch_size`` pieces are encoded and decoded
  together. No prompt from earlier pieces, no fallback, one segment per piece (up to 30 s).

``decoding="auto"`` (the default) decodes audio of :data:`BATCHED_FROM_SECONDS` (30 s) or more
batched and shorter audio sequentially. Under 30 s there is one piece and nothing to batch: the
two paths cost the same, and the sequential one keeps its fallback and its finer segments. From
two windows on the batched path is faster, and more so the longer the audio; the pipeline's
chunks (``TRANSCRIBER_CHUNK_SECONDS``, at most 300 s) of long recordings go batched, voice notes
under 30 s sequentially. ``decoding="sequential"`` or ``"batched"`` forces a path.

Measured with ``bench/engine_rtf.py`` (faster-whisper 1.2.1, int8, ``cpu_threads=2`` on the
two-core development machine, which other work shared: load average 2-5). RTF is processing
seconds per audio second, decoding the file included; batched is ``batch_size=8`` (4 measured
the same within noise; 8 is faster-whisper's default)::

    input              tiny.en RTF                    base RTF
                       sequential  batched  ratio     sequential  batched  ratio
    3 notes, 17 s       0.140      0.144    1.03       0.658      0.407    0.62 (CPU 1.16)
    45 s                0.060      0.055    0.92       0.137      0.103    0.75
    1 min               0.064      0.051    0.80       0.164      0.132    0.80
    5 min               0.078      0.047    0.61       0.285      0.099    0.35
    30 min              0.082      0.052    0.64       0.160      0.077    0.48

On the notes the wall-clock ratios wander from run to run on a shared machine (base: 0.62-0.92);
the CPU seconds do not (tiny.en 0.95-0.97, base 1.03-1.16). Word error rate against the
reference texts: base 0 on both paths, except sequential at 5 and 30 min (0.045 and 0.004: its
fallback's sampling); tiny.en the same on both at 5 and 30 min (0.069, 0.064) and on the notes
(0.085), worse batched at 45 s and 1 min (0.136 against 0.073, 0.121 against 0.070): without the
earlier text as a prompt it mishears the synthetic voice's first sentence at the start of each
piece. The long inputs repeat three sentences, so the sequential path's fallback fires more than
on real speech (5 of 48 windows of the 5 min input, base): the ratios from 5 min on flatter the
batched path somewhat.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from adapter.engines import weights
from adapter.engines.base import EngineLimits, Segment, Transcript
from adapter.engines.languages import language_hint, to_iso639_1
from adapter.errors import BadAudio, ConfigError, EngineRejected

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

# Never let huggingface_hub (imported by faster-whisper) reach for the network: every model path
# this module gives faster-whisper is a local directory, and huggingface_hub reads this variable
# once, when it is first imported, so it is set before that can happen.
os.environ["HF_HUB_OFFLINE"] = "1"

SAMPLE_RATE = 16_000

#: how a call decodes: ``auto`` picks by the audio's length (:meth:`LocalEngine.decoding_for`)
Decoding = Literal["auto", "sequential", "batched"]
_Task = Literal["transcribe", "translate"]

#: ``auto`` decodes audio at least this long batched, shorter audio sequentially
BATCHED_FROM_SECONDS = 30.0
#: VAD pieces (of at most 30 s) decoded together by the batched path
DEFAULT_BATCH_SIZE = 8
#: Whisper's beam, on both paths
BEAM_SIZE = 5

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
    ``decoding`` forces one path (``"sequential"`` or ``"batched"``, for benchmarks and tests) or
    lets the audio's length choose (``"auto"``, see the module docstring); ``batch_size`` is the
    batched path's.
    """

    name = "local"

    def __init__(
        self,
        model: str = "base",
        *,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        model_dir: Path | None = None,
        decoding: Decoding = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if model not in weights.MODEL_NAMES:
            raise ConfigError(
                f"unknown local model {model!r}; choose one of: {', '.join(weights.MODEL_NAMES)}"
            )
        if decoding not in ("auto", "sequential", "batched"):
            raise ConfigError(f"unknown decoding {decoding!r}; choose auto, sequential or batched")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        self.model = model
        self.decoding: Decoding = decoding
        self.batch_size = batch_size
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

    def decoding_for(self, seconds: float) -> Literal["sequential", "batched"]:
        """The path a call on ``seconds`` of audio takes: the forced one, else batched from
        :data:`BATCHED_FROM_SECONDS` on."""
        if self.decoding != "auto":
            return self.decoding
        return "batched" if seconds >= BATCHED_FROM_SECONDS else "sequential"

    def transcribe(
        self, path: Path, *, language: str | None = None, timeout: float | None = None
    ) -> Transcript:
        """Transcribe ``path``; ``language`` (ISO 639-1) skips detection and steers decoding.

        ``timeout`` is ignored: a local call cannot be interrupted (see the module docstring).
        """
        return self._run(path, "transcribe", self._hint(language))

    def translate(self, path: Path, *, timeout: float | None = None) -> Transcript:
        """The speech of ``path`` in English (Whisper's translate task; the spoken language is
        detected). ``tiny.en`` has no such task: :class:`EngineRejected` (``unsupported``).

        ``timeout`` is ignored, as in :meth:`transcribe`.
        """
        if self.english_only:
            raise EngineRejected(
                f"the local {self.model} model is English only and cannot translate",
                reason="unsupported",
            )
        return self._run(path, "translate", None)

    def _run(self, path: Path, task: _Task, language: str | None) -> Transcript:
        """Decode ``path`` and run ``task`` on the path :meth:`decoding_for` picks."""
        model = self._model()
        audio = _decode(path)
        decoding = self.decoding_for(audio.size / SAMPLE_RATE)
        log.debug("%s %s: %s, %.1f s", task, path.name, decoding, audio.size / SAMPLE_RATE)
        try:
            if decoding == "batched":
                from faster_whisper import BatchedInferencePipeline

                # the pipeline is a thin wrapper holding per-call state: one per call
                raw_segments, info = BatchedInferencePipeline(model).transcribe(
                    audio,
                    language=language,
                    task=task,
                    beam_size=BEAM_SIZE,
                    batch_size=self.batch_size,
                )
            else:
                raw_segments, info = model.transcribe(
                    audio, language=language, task=task, vad_filter=False, beam_size=BEAM_SIZE
                )
            segments = tuple(
                Segment(start=float(s.start), end=float(s.end), text=str(s.text).strip())
                for s in raw_segments
            )
        except (RuntimeError, ValueError) as exc:
            raise BadAudio(
                f"cannot {task} {path.name}: {type(exc).__name__}", reason="undecodable"
            ) from None
        text = " ".join(segment.text for segment in segments if segment.text)
        spoken = (
            "en" if task == "translate" or self.english_only else to_iso639_1(str(info.language))
        )
        return Transcript(
            text=text, language=spoken, duration=float(info.duration), segments=segments
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


__all__ = [
    "BATCHED_FROM_SECONDS",
    "DEFAULT_BATCH_SIZE",
    "LOCAL_EXTENSIONS",
    "Decoding",
    "LocalEngine",
]
