"""Whisper on one utterance, sized to the utterance: the offline engine's weights, live.

faster-whisper's ``transcribe`` pads every call to Whisper's 30-second window, so the encoder
costs the same for half a second of speech as for thirty (about a second of CPU for tiny.en on
this project's machines, twice that for base). A live utterance is short, and is transcribed
again and again while it lasts, so :class:`LiveWhisper` encodes only the utterance and one
second of silence (CTranslate2's Whisper encoder takes any length up to 30 s): five to ten times
less work, and the same words on the project's speech samples (docs/live.md has the figures).
Audio longer than :data:`SHORT_SECONDS` (a client's own long commit) goes through
faster-whisper's long-form ``transcribe``.

The model is the account's local model (``base`` or ``tiny.en``), loaded once per process for
live use with its own CTranslate2 workers, so that a live utterance never queues behind a
webhook's five-minute chunk in ``transcriber up``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adapter.engines import weights
from adapter.engines.languages import to_iso639_1
from adapter.errors import BadAudio, ConfigError
from adapter.live.audio import RATE, FloatArray

log = logging.getLogger(__name__)

#: audio up to this long is encoded as it is, longer audio in Whisper's 30 s windows
SHORT_SECONDS = 28.0
#: silence appended before encoding (Whisper expects the speech to end before its input does)
PADDING_SECONDS = 2.0
#: beam width of final transcripts; partial ones are greedy
FINAL_BEAM = 5
#: tokens a short utterance may produce: at most this many a second of audio, plus a margin
MAX_TOKENS = 224
TOKENS_PER_SECOND = 12
#: a phrase of at least this many words said again at once, at the end, is Whisper repeating
#: itself (it does, now and then, on audio that ends with the speech): said once
MIN_REPEATED_WORDS = 3
#: an utterance Whisper thinks holds no speech, decoded with little confidence, is empty
NO_SPEECH_PROBABILITY = 0.6
LOW_LOG_PROBABILITY = -1.0


@dataclass(frozen=True)
class Heard:
    text: str
    language: str | None


@dataclass(frozen=True)
class _Key:
    model: str
    model_dir: Path | None
    threads: int
    workers: int


_MODELS: dict[_Key, Any] = {}
_LOCK = threading.Lock()


def _load(key: _Key) -> Any:
    model = _MODELS.get(key)
    if model is not None:
        return model
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise ConfigError(
                    f"{weights.INSTALL_HINT} (faster-whisper is not installed)"
                ) from None
            directory = weights.model_dir(key.model, key.model_dir)
            log.info("loading the local %s model for live transcription", key.model)
            try:
                model = WhisperModel(
                    str(directory),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=key.threads,
                    num_workers=key.workers,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise ConfigError(f"cannot load the local {key.model} model: {exc}") from None
            _MODELS[key] = model
    return model


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def without_repeats(text: str) -> str:
    """``text`` without the phrases Whisper repeated at its end (``A B C A B C`` → ``A B C``)."""
    words = text.split()
    keys = [_key(w) for w in words]
    changed = True
    while changed:
        changed = False
        for size in range(len(keys) // 2, MIN_REPEATED_WORDS - 1, -1):
            if keys[-size:] == keys[-2 * size : -size]:
                words, keys = words[:-size], keys[:-size]
                changed = True
                break
    return " ".join(words)


class LiveWhisper:
    """The local ``model`` for live utterances; ``threads`` CTranslate2 threads per call and
    ``workers`` calls at once (the decode pool's size)."""

    def __init__(
        self, model: str, *, model_dir: Path | None = None, threads: int = 1, workers: int = 1
    ) -> None:
        if model not in weights.MODEL_NAMES:
            raise ConfigError(
                f"unknown local model {model!r}; choose one of: {', '.join(weights.MODEL_NAMES)}"
            )
        self.model = model
        self._key = _Key(model, model_dir, max(1, threads), max(1, workers))

    @property
    def english_only(self) -> bool:
        return self.model.endswith(".en")

    def load(self) -> None:
        _load(self._key)

    def transcribe(
        self,
        audio: FloatArray,
        *,
        language: str | None,
        prompt: str | None = None,
        final: bool = True,
    ) -> Heard:
        """The words of ``audio`` (16 kHz mono); ``language`` (ISO 639-1) or detected.
        ``final``: beam search, else greedy (a partial transcript)."""
        if audio.size == 0:
            return Heard("", language)
        if self.english_only:
            language = "en"
        model = _load(self._key)
        try:
            if audio.size > SHORT_SECONDS * RATE:
                return self._long(model, audio, language, prompt)
            return self._short(model, audio, language, prompt, FINAL_BEAM if final else 1)
        except (RuntimeError, ValueError) as exc:
            raise BadAudio(f"cannot transcribe the utterance: {type(exc).__name__}") from None

    def _short(
        self, model: Any, audio: FloatArray, language: str | None, prompt: str | None, beam: int
    ) -> Heard:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_ctranslate2_storage

        features = model.feature_extractor(audio, padding=int(PADDING_SECONDS * RATE))
        frames = min(features.shape[-1] - features.shape[-1] % 2, 3000)
        features = np.ascontiguousarray(features[np.newaxis, :, :frames], dtype=np.float32)
        encoded = model.model.encode(get_ctranslate2_storage(features), to_cpu=False)
        if language is None:
            found = model.model.detect_language(encoded)[0][0][0]  # "<|es|>"
            language = str(found)[2:-2]
        whisper_language = "jw" if language == "jv" else language
        tokenizer = Tokenizer(
            model.hf_tokenizer,
            model.model.is_multilingual,
            task="transcribe",
            language=whisper_language,
        )
        tokens: list[int] = []
        if prompt and prompt.strip():
            previous = tokenizer.encode(" " + prompt.strip())[-(MAX_TOKENS // 2 - 1) :]
            tokens = [tokenizer.sot_prev, *previous]
        tokens += [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        limit = min(MAX_TOKENS, int(20 + TOKENS_PER_SECOND * audio.size / RATE))
        result = model.model.generate(
            encoded,
            [tokens],
            beam_size=beam,
            max_length=limit,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        text = without_repeats(str(tokenizer.decode(result.sequences_ids[0])).strip())
        score = float(result.scores[0]) if result.scores else 0.0
        if result.no_speech_prob > NO_SPEECH_PROBABILITY and score < LOW_LOG_PROBABILITY:
            text = ""
        return Heard(text, to_iso639_1(language))

    def _long(
        self, model: Any, audio: FloatArray, language: str | None, prompt: str | None
    ) -> Heard:
        segments, info = model.transcribe(
            audio,
            language=language,
            beam_size=FINAL_BEAM,
            vad_filter=False,
            initial_prompt=prompt or None,
            condition_on_previous_text=False,
        )
        text = " ".join(str(s.text).strip() for s in segments if str(s.text).strip())
        return Heard(text, to_iso639_1(str(info.language)) if language is None else language)


__all__ = ["SHORT_SECONDS", "Heard", "LiveWhisper", "without_repeats"]
