"""Utterances in a stream: Silero VAD (the ONNX model faster-whisper ships) and the turn rules.

Silero scores each window of :data:`WINDOW` samples (32 ms at 16 kHz), seeing the previous
window's last :data:`CONTEXT` samples and carrying its LSTM state (``h``, ``c``) from window to
window: :class:`VoiceDetector` keeps that state per stream, so audio may arrive in pieces of any
size. The model is loaded once per process (:func:`silero`); onnxruntime's ``run`` may be
called from several threads at once.

:class:`Turns` is pure: window probabilities in, speech started / stopped out::

    silent ── p ≥ threshold ──▶ speaking (start = first speech - prefix padding, never before
      ▲                            │        the previous utterance's end)
      │                            │ p < threshold - 0.15 for silence_duration: stopped, the
      └────────────────────────────┘ utterance ends where the silence began (+ a little)
                                     or MAX_UTTERANCE_SECONDS of it: cut there, and a new one
                                     starts at the next speech window
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from adapter.errors import ConfigError
from adapter.live.audio import RATE, FloatArray
from adapter.live.protocol import TurnDetection

#: samples per VAD window (Silero's at 16 kHz) and of the previous window it sees
WINDOW = 512
CONTEXT = 64
#: the hysteresis under the threshold before a window counts as silence
NEGATIVE_MARGIN = 0.15
#: an utterance is cut after this long: Whisper reads 30 s at a time
MAX_UTTERANCE_SECONDS = 25.0
#: kept after the last speech window when an utterance ends (the last syllable's tail)
END_PADDING_SECONDS = 0.2

_MODEL: Any = None
_LOCK = threading.Lock()


def model_path() -> Path:
    """faster-whisper's copy of Silero VAD v6."""
    try:
        import faster_whisper
    except ImportError:
        raise ConfigError(
            "live transcription needs the local extra (faster-whisper ships its VAD model): "
            "pip install 'helpdesk-transcriber[local]'"
        ) from None
    return Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


def silero() -> Any:
    """The process's onnxruntime session of Silero VAD, loaded on first use."""
    global _MODEL
    if _MODEL is not None:
        return _MODEL
    with _LOCK:
        if _MODEL is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = 1
            options.intra_op_num_threads = 1
            options.enable_cpu_mem_arena = False
            options.log_severity_level = 4
            path = model_path()
            if not os.path.exists(path):
                raise ConfigError(f"Silero VAD model missing at {path}")
            _MODEL = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"], sess_options=options
            )
    return _MODEL


@dataclass(frozen=True)
class Started:
    """Speech began; the utterance's audio starts at ``sample`` (prefix padding included)."""

    sample: int


@dataclass(frozen=True)
class Stopped:
    """Speech ended at ``sample`` (where the utterance's audio ends); detected at ``detected``
    (the end of the window that made it so: the silence is included)."""

    sample: int
    detected: int


Turn = Started | Stopped


class Turns:
    """The turn rules of server VAD over window probabilities (module docstring)."""

    def __init__(self, turn: TurnDetection, *, start: int = 0) -> None:
        self.threshold = turn.threshold
        self.negative = max(turn.threshold - NEGATIVE_MARGIN, 0.01)
        self.prefix = int(turn.prefix_padding_ms * RATE / 1000)
        self.silence = int(turn.silence_duration_ms * RATE / 1000)
        self.max_samples = int(MAX_UTTERANCE_SECONDS * RATE)
        self.end_padding = int(END_PADDING_SECONDS * RATE)
        self.speaking = False
        self.start = start
        #: no utterance starts before this sample (the previous one's end)
        self._floor = start
        self._silence_from: int | None = None

    def window(self, probability: float, position: int) -> Turn | None:
        """The window of ``WINDOW`` samples at ``position`` scored ``probability``."""
        end = position + WINDOW
        if not self.speaking:
            if probability >= self.threshold:
                self.speaking = True
                self.start = max(self._floor, position - self.prefix, 0)
                self._silence_from = None
                return Started(self.start)
            return None
        if probability >= self.threshold:
            self._silence_from = None
        elif probability < self.negative and self._silence_from is None:
            self._silence_from = position
        if self._silence_from is not None and end - self._silence_from >= max(self.silence, 1):
            return self._stop(min(self._silence_from + self.end_padding, end), end)
        if end - self.start >= self.max_samples:
            return self._stop(end, end)
        return None

    def _stop(self, sample: int, detected: int) -> Stopped:
        self.speaking = False
        self._silence_from = None
        self._floor = sample
        return Stopped(sample, detected)


class Detector(Protocol):
    """What a session asks of voice activity detection (:class:`VoiceDetector`, or a test's)."""

    def feed(self, samples: FloatArray) -> list[Turn]: ...


class VoiceDetector:
    """Silero over one stream's 16 kHz samples, with :class:`Turns` deciding."""

    def __init__(self, turn: TurnDetection, *, start: int = 0) -> None:
        self.turns = Turns(turn, start=start)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        #: absolute sample index of ``_pending[0]``
        self._position = start

    @property
    def speaking(self) -> bool:
        return self.turns.speaking

    def feed(self, samples: FloatArray) -> list[Turn]:
        """Score every whole window that ``samples`` completes; the turns they make."""
        data = np.concatenate([self._pending, samples]) if self._pending.size else samples
        count = data.size // WINDOW
        if count == 0:
            self._pending = data
            return []
        windows = data[: count * WINDOW].reshape(count, WINDOW)
        contexts = np.empty((count, CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        if count > 1:
            contexts[1:] = windows[:-1, -CONTEXT:]
        batch = np.concatenate([contexts, windows], axis=1).astype(np.float32, copy=False)
        probabilities, self._h, self._c = silero().run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -CONTEXT:].copy()
        self._pending = data[count * WINDOW :].copy()
        turns: list[Turn] = []
        for index, probability in enumerate(np.asarray(probabilities).reshape(-1)):
            found = self.turns.window(float(probability), self._position + index * WINDOW)
            if found is not None:
                turns.append(found)
        self._position += count * WINDOW
        return turns


__all__ = [
    "MAX_UTTERANCE_SECONDS",
    "WINDOW",
    "Detector",
    "Started",
    "Stopped",
    "Turn",
    "Turns",
    "VoiceDetector",
    "model_path",
    "silero",
]
