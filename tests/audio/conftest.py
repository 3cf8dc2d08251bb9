"""Fixtures for the audio tests: the shared voice notes, engine limits, a file factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from adapter.engines.base import EngineLimits
from tests.audio import gen
from tests.fixtures import AUDIO

FIXTURES = AUDIO

#: what OpenAI's transcription endpoint takes (gpt-4o-transcribe: 25 MB, 1400 s)
OPENAI = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=1400.0)

Make = Callable[..., Path]


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def openai_limits() -> EngineLimits:
    return OPENAI


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def make(tmp_path: Path) -> Make:
    """``make(name, signal, kind, **write_options)`` writes a file under tmp_path.

    ``signal`` is a ``gen.pattern`` layout (a list of ``(seconds, frequency)`` pairs), a
    function of the sample rate returning samples, or samples at the kind's rate.
    """
    source = tmp_path / "src"
    source.mkdir()

    def _make(name: str, signal: object, kind: str, **options: object) -> Path:
        rate = gen.KINDS[kind].rate
        if isinstance(signal, list):
            signal = gen.pattern(signal, rate)
        elif callable(signal):
            signal = signal(rate)
        return gen.write(source / name, signal, kind, **options)  # type: ignore[arg-type]

    return _make
