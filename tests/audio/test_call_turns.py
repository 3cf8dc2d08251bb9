"""A stereo call recording through the whole audio side with a real engine: measured as two
speakers, each channel shaped alone and transcribed by the local Whisper, the two transcripts
woven into turns in the call's order, each turn the words of its speaker only."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.audio import measure_channels, prepare, separate_speakers, stitch
from adapter.engines import LocalEngine, weights
from adapter.engines.base import EngineLimits, Segment
from adapter.speakers import merge_turns, turns_text
from tests.audio import stereo_fixtures
from tests.engines.conftest import wer

pytestmark = [pytest.mark.local_engine, pytest.mark.slow]

OPENAI = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=1400.0)


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> LocalEngine:
    weights.model_dir("base", model_dir)
    return LocalEngine("base", model_dir=model_dir)


def _segments(src: Path, workdir: Path, channel: int, engine: LocalEngine) -> list[Segment]:
    """What ``channel`` says, timed in the recording (chunks stitched as the pipeline does)."""
    prepared = prepare(src, workdir, OPENAI, channel=channel)
    parts = [(chunk, engine.transcribe(chunk.path, language="en")) for chunk in prepared.chunks]
    return list(stitch(parts).segments)


@pytest.mark.parametrize("layout", ["call", "double talk"])
def test_a_call_recording_becomes_its_turns(
    tmp_path: Path, engine: LocalEngine, layout: str
) -> None:
    spoken = stereo_fixtures.DOUBLE_TALK if layout == "double talk" else stereo_fixtures.CALL
    call = stereo_fixtures.call_recording(tmp_path, layout=spoken)  # 5 % bleed each way
    assert separate_speakers(measure_channels(call.path))

    first, second = (_segments(call.path, tmp_path / f"w{c}", c, engine) for c in (0, 1))
    turns = merge_turns(first, second, ("Agent", "Customer"))

    assert [turn.speaker for turn in turns] == [turn.speaker for turn in call.turns]
    for turn, expected in zip(turns, call.turns, strict=True):
        # each turn holds its speaker's sentence, and none of the other's leaking in
        assert wer(expected.text, turn.text) <= 0.15, turn.text
        assert turn.start == pytest.approx(expected.start, abs=0.6)
    text = turns_text(turns)
    assert text.startswith("Agent: Hello,")
    assert text.count("\n") == 2
