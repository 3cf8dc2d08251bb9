"""prepare(channel=…): one speaker of a call recording, alone, timed in the call's time.

Each chunk is decoded back; where it sounds is mapped through its time map to the original
recording and must fall on what that channel's speaker said, never on the other speaker's
turns (which the channel holds only as crosstalk, encoded as silence)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from adapter.audio import AudioChunk, PreparedAudio, prepare, probe
from adapter.engines.base import EngineLimits
from tests.audio import gen, stereo_fixtures
from tests.audio.stereo_fixtures import CallRecording

Spans = list[tuple[float, float]]

#: window (s) over which a decoded chunk's level is read, and the level that is sound
WINDOW = 0.02
SOUND = 0.01
#: how far (s) heard sound may stray outside a speaker's utterance (frames, padding, codec)
SLACK = 0.1


def _heard(chunk: AudioChunk) -> Spans:
    """Where ``chunk`` sounds, in seconds of the original recording."""
    loud = gen.levels(chunk.path, window=WINDOW) > SOUND
    edges = np.flatnonzero(np.diff(np.concatenate(([0], loud.astype(int), [0]))))
    return [
        (chunk.timemap.to_original(a * WINDOW), chunk.timemap.to_original(b * WINDOW))
        for a, b in zip(edges[0::2], edges[1::2], strict=True)
    ]


def _inside(span: tuple[float, float], spans: Spans) -> bool:
    start, end = span
    return any(a - SLACK <= start and end <= b + SLACK for a, b in spans)


def _check_speaker(prepared: PreparedAudio, call: CallRecording, speaker: int) -> None:
    """The chunks are 16 kHz mono Opus holding ``speaker``'s words, all of them, and no other."""
    assert prepared.chunks
    own = call.spoken(speaker)
    heard: Spans = []
    for chunk in prepared.chunks:
        info = probe(chunk.path)
        assert (chunk.path.suffix, info.codec, info.channels) == (".ogg", "opus", 1)
        assert chunk.offset == pytest.approx(chunk.timemap.to_original(0.0))
        assert chunk.source_duration == pytest.approx(call.duration, abs=0.05)
        heard += _heard(chunk)
    assert heard
    assert all(_inside(span, own) for span in heard), (heard, own)
    # each utterance is heard from its first sound to its last
    for start, end in own:
        within = [h for h in heard if _inside(h, [(start, end)])]
        assert within, (start, end)
        assert within[0][0] == pytest.approx(start, abs=0.06)
        assert within[-1][1] == pytest.approx(end, abs=0.06)


@pytest.mark.parametrize("kind", ["ogg", "wav"])
@pytest.mark.parametrize("speaker", [0, 1])
def test_each_channel_is_its_speaker_alone(
    tmp_path: Path, workdir: Path, openai_limits: EngineLimits, kind: str, speaker: int
) -> None:
    call = stereo_fixtures.call_recording(tmp_path, kind=kind)

    prepared = prepare(call.path, workdir, openai_limits, channel=speaker)

    _check_speaker(prepared, call, speaker)
    assert prepared.audio_seconds == pytest.approx(call.duration, abs=0.05)
    # the other speaker's turns and the silences are cut: billed is about what was said
    said = sum(end - start for start, end in call.spoken(speaker))
    assert said - 0.5 < prepared.billed_seconds < said + 1.5


@pytest.mark.parametrize("speaker", [0, 1])
def test_without_silence_removal_the_other_speaker_is_silence(
    tmp_path: Path, workdir: Path, openai_limits: EngineLimits, speaker: int
) -> None:
    call = stereo_fixtures.call_recording(tmp_path, bleed=0.1)

    prepared = prepare(call.path, workdir, openai_limits, remove_silence=False, channel=speaker)

    (chunk,) = prepared.chunks
    assert chunk.duration == pytest.approx(call.duration, abs=0.05)
    assert chunk.timemap.to_original(5.0) == pytest.approx(5.0)  # nothing cut: same times
    levels = gen.levels(chunk.path, window=0.1)
    for start, end in call.spoken(speaker):
        assert levels[round(start * 10) + 1 : round(end * 10) - 1].mean() > 0.03
    for start, end in call.spoken(1 - speaker):
        # the bleed (10 %, about 0.008 RMS here) is gone; what stays is the noise and the
        # moments the other speaker was quiet between words
        assert levels[round(start * 10) + 1 : round(end * 10) - 1].mean() < 0.002
    _check_speaker(prepared, call, speaker)


def test_a_long_channel_is_split_in_the_calls_time(tmp_path: Path, workdir: Path) -> None:
    call = stereo_fixtures.call_recording(tmp_path, kind="wav")
    limits = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=8.0)

    prepared = prepare(
        call.path, workdir, limits, target_chunk_seconds=5.0, overlap_seconds=0.5, channel=0
    )

    assert len(prepared.chunks) >= 2
    for before, after in itertools.pairwise(prepared.chunks):
        assert after.offset > before.offset
        assert after.lead_overlap == pytest.approx(0.5, abs=0.03)
    for chunk in prepared.chunks:
        assert chunk.duration <= 7.0
    _check_speaker(prepared, call, 0)


@pytest.mark.parametrize(
    "limits",
    [EngineLimits(), EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=1400.0)],
    ids=["unlimited", "openai"],
)
def test_a_channel_is_always_reencoded(tmp_path: Path, workdir: Path, limits: EngineLimits) -> None:
    # a stereo Ogg/Opus file any engine takes as it is, nothing to cut: still never sent whole
    src = stereo_fixtures.same_on_both(tmp_path, "ogg")

    prepared = prepare(src, workdir, limits, remove_silence=False, channel=1)

    (chunk,) = prepared.chunks
    assert chunk.path != src
    assert chunk.path.is_relative_to(workdir)
    assert probe(chunk.path).channels == 1
    # the same voice on both channels: neither leads, nothing is muted
    assert gen.levels(chunk.path, window=0.5).max() > 0.05


def test_a_silent_channel_sends_nothing(
    tmp_path: Path, workdir: Path, openai_limits: EngineLimits
) -> None:
    src = stereo_fixtures.one_channel_silent(tmp_path, "wav", channel=1)

    assert prepare(src, workdir, openai_limits, channel=1).chunks == ()
    assert prepare(src, workdir, openai_limits, channel=0).chunks


def test_the_only_channel_of_a_mono_file(
    fixtures_dir: Path, workdir: Path, openai_limits: EngineLimits
) -> None:
    src = fixtures_dir / "en1.ogg"

    (chunk,) = prepare(src, workdir, openai_limits, channel=0).chunks

    assert chunk.path.read_bytes() != src.read_bytes()
    assert probe(chunk.path).duration == pytest.approx(probe(src).duration, abs=0.7)


def test_a_channel_of_three_is_that_channel(
    tmp_path: Path, workdir: Path, openai_limits: EngineLimits
) -> None:
    # crosstalk is looked for between two channels only: of three, a channel is taken as it is
    src = stereo_fixtures.three_channels(tmp_path)
    call = stereo_fixtures.call_recording(tmp_path, bleed=0.0)

    left = prepare(src, workdir, openai_limits, remove_silence=False, channel=0)
    centre = prepare(src, workdir, openai_limits, remove_silence=False, channel=2)

    levels = [gen.levels(p.chunks[0].path, window=0.1) for p in (left, centre)]
    start, end = call.spoken(1)[0]  # the second speaker: not on the left, in the centre
    during = slice(round(start * 10) + 1, round(end * 10) - 1)
    assert levels[0][during].mean() < 0.001
    assert levels[1][during].mean() > 0.02


@pytest.mark.parametrize("channel", [-1, 2])
def test_a_channel_the_file_lacks_is_refused(
    tmp_path: Path, workdir: Path, openai_limits: EngineLimits, channel: int
) -> None:
    src = stereo_fixtures.same_on_both(tmp_path, "wav")

    with pytest.raises(ValueError, match=f"channel {channel} of audio with 2 channel"):
        prepare(src, workdir, openai_limits, channel=channel)
