"""Stereo calls in the decoding child (``adapter.audio.isolated``): measuring the channels and
shaping one of them come back as they are in-process, errors too, limits following the length."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from adapter.audio import PreparedAudio, measure_channels, prepare, separate_speakers
from adapter.audio.isolated import (
    DecoderPool,
    MeasureTask,
    PrepareTask,
    measure_isolated,
    prepare_isolated,
)
from adapter.engines.base import EngineLimits
from adapter.errors import NotAudio
from tests.audio import stereo_fixtures
from tests.audio.hostile import HOSTILE
from tests.audio.stereo_fixtures import CallRecording

OPENAI = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=1400.0)


@pytest.fixture(scope="module")
def pool() -> Iterator[DecoderPool]:
    made = DecoderPool()
    yield made
    made.close()


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> CallRecording:
    return stereo_fixtures.call_recording(tmp_path_factory.mktemp("call"))


def _named(prepared: PreparedAudio) -> PreparedAudio:
    """``prepared`` with chunk paths reduced to their names (each run has its own folder)."""
    chunks = tuple(replace(chunk, path=Path(chunk.path.name)) for chunk in prepared.chunks)
    return replace(prepared, chunks=chunks)


def test_measuring_in_a_child_is_measuring_here(call: CallRecording, pool: DecoderPool) -> None:
    there = measure_isolated(call.path, pool=pool)

    assert there == measure_channels(call.path)
    assert separate_speakers(there)


@pytest.mark.parametrize("speaker", [0, 1])
def test_a_channel_shaped_in_a_child_is_shaped_as_here(
    call: CallRecording, tmp_path: Path, pool: DecoderPool, speaker: int
) -> None:
    there = prepare_isolated(call.path, tmp_path / "there", OPENAI, channel=speaker, pool=pool)
    here = prepare(call.path, tmp_path / "here", OPENAI, channel=speaker)

    assert _named(there) == _named(here)
    assert all(chunk.path.is_relative_to(tmp_path / "there") for chunk in there.chunks)
    assert there.chunks and there.billed_seconds < 0.8 * there.audio_seconds


def test_errors_come_back_as_they_were(
    fixtures_dir: Path, call: CallRecording, tmp_path: Path, pool: DecoderPool
) -> None:
    pdf = tmp_path / "call.ogg"
    HOSTILE["pdf"](fixtures_dir, pdf)

    with pytest.raises(NotAudio):
        measure_isolated(pdf, pool=pool)
    with pytest.raises(ValueError, match="channel 2 of audio with 2"):
        prepare_isolated(call.path, tmp_path, OPENAI, channel=2, pool=pool)


@pytest.mark.parametrize("task", ["measure", "prepare"])
def test_the_tasks_report_the_length_first(call: CallRecording, tmp_path: Path, task: str) -> None:
    """What lets the child's CPU and wall-clock limits grow with the recording."""
    reported: list[float] = []
    if task == "measure":
        MeasureTask(call.path)(reported.append)
    else:
        PrepareTask(call.path, tmp_path, OPENAI, True, 600.0, channel=1)(reported.append)

    assert reported == [pytest.approx(call.duration, abs=0.05)]
