"""measure_channels and separate_speakers: call recordings told from stereo that is really mono.

Every file is real speech written as stereo (``tests/audio/stereo_fixtures.py``) and decoded by
the real code. What the recordings measured when the thresholds were chosen (Opus / WAV):

    recording                    r      separation  leads (s)   shared (s)  verdict
    call, clean channels         0.00   41 / 36 dB  10.4 / 4.6  0.0         separate
    call, 5 % bleed              0.11   26 dB       10.4 / 4.6  0.0         separate
    call, 10 % bleed             0.21   20 dB       10.4 / 4.6  0.0         separate
    call, 20 % bleed             0.40   14 dB       10.4 / 4.6  0.0         separate
    call, 30 % bleed             0.57   10 dB        9.7 / 4.4  0.4         same_signal
    call, double talk, 5 %       0.10   25 dB        7.7 / 2.0  2.0         separate
    room, far voice at 30 %     -0.01   10 dB        7.7 / 3.4  4.0         crosstalk
    room, far voice at 50 %     -0.01    6 dB        0.3 / 0.1  14.7        one_voice
    the same voice on both       1.00    0 dB        0.0 / 0.0  9.9         same_signal
    one channel silent           0.00   95 dB        9.9 / 0.0  0.0         silent_channel
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from adapter.audio import (
    ChannelMeasure,
    channels_differ,
    measure_channels,
    separate_speakers,
)
from adapter.audio.stereo import MIN_LEAD_SECONDS, MIN_SEPARATION_DB
from adapter.errors import BadAudio, NotAudio
from tests.audio import stereo_fixtures
from tests.audio.hostile import HOSTILE

KINDS = ["ogg", "wav"]


# --- call recordings ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bleed", [0.0, 0.05, 0.1])
def test_a_call_recording_holds_two_speakers(tmp_path: Path, kind: str, bleed: float) -> None:
    call = stereo_fixtures.call_recording(tmp_path, kind=kind, bleed=bleed)

    measure = measure_channels(call.path)

    assert measure.channels == 2
    assert measure.steady
    assert measure.seconds == pytest.approx(call.duration, abs=0.05)
    assert all(-30 < level < -20 for level in measure.rms_dbfs)
    assert measure.correlation is not None
    assert abs(measure.correlation - 2 * bleed) < 0.05
    assert measure.separation_db is not None and measure.separation_db > 18
    # speaker 0 says two sentences (about 12 s), speaker 1 one (5.4 s); each leads most of it
    said = [sum(end - start for start, end in call.spoken(s)) for s in (0, 1)]
    for lead, spoken in zip(measure.lead_seconds, said, strict=True):
        assert 0.7 * spoken < lead <= spoken
    assert measure.shared_seconds < 0.5
    verdict = channels_differ(measure)
    assert (verdict.separate, verdict.reason) == (True, "separate")
    assert separate_speakers(measure)


@pytest.mark.parametrize("kind", KINDS)
def test_talking_at_once_is_still_two_speakers(tmp_path: Path, kind: str) -> None:
    call = stereo_fixtures.call_recording(tmp_path, kind=kind, layout=stereo_fixtures.DOUBLE_TALK)

    measure = measure_channels(call.path)

    assert measure.shared_seconds > 1.5  # the stretches where both talk
    assert min(measure.lead_seconds) > MIN_LEAD_SECONDS
    assert separate_speakers(measure)


def test_a_clean_call_has_opposed_levels(tmp_path: Path) -> None:
    measure = measure_channels(stereo_fixtures.call_recording(tmp_path, bleed=0.0).path)

    # when one channel speaks the other is quiet: frame levels move against each other
    assert measure.level_correlation is not None and measure.level_correlation < -0.5
    assert measure.separation_db is not None and measure.separation_db > 30


# --- stereo that is really mono -----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_voice_on_both_channels_is_mono(tmp_path: Path, kind: str) -> None:
    measure = measure_channels(stereo_fixtures.same_on_both(tmp_path, kind))

    assert measure.correlation is not None and measure.correlation > 0.95
    assert measure.separation_db is not None and measure.separation_db < 1
    assert measure.lead_seconds == (0.0, 0.0)
    assert measure.level_correlation is not None and measure.level_correlation > 0.95
    assert channels_differ(measure).reason == "same_signal"
    assert not separate_speakers(measure)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("silent", [0, 1])
def test_one_silent_channel_is_mono(tmp_path: Path, kind: str, silent: int) -> None:
    measure = measure_channels(stereo_fixtures.one_channel_silent(tmp_path, kind, silent))

    assert measure.rms_dbfs[silent] < -100
    assert measure.rms_dbfs[1 - silent] > -30
    assert measure.lead_seconds[silent] == 0.0
    assert measure.lead_seconds[1 - silent] > 8
    assert channels_differ(measure).reason == "silent_channel"
    assert not separate_speakers(measure)


@pytest.mark.parametrize(("crosstalk", "reason"), [(0.3, "crosstalk"), (0.5, "one_voice")])
def test_two_microphones_in_one_room_are_mono(
    tmp_path: Path, crosstalk: float, reason: str
) -> None:
    measure = measure_channels(stereo_fixtures.room(tmp_path, "ogg", crosstalk))

    # the far voice arrives 4 ms late: the waveforms do not correlate, the levels do
    assert measure.correlation is not None and abs(measure.correlation) < 0.1
    assert measure.separation_db is not None and measure.separation_db < MIN_SEPARATION_DB
    assert channels_differ(measure).reason == reason


def test_a_call_leaking_too_much_is_mono(tmp_path: Path) -> None:
    measure = measure_channels(stereo_fixtures.call_recording(tmp_path, bleed=0.3).path)

    assert not separate_speakers(measure)


@pytest.mark.parametrize("kind", KINDS)
def test_a_mono_file_is_not_stereo(tmp_path: Path, kind: str) -> None:
    measure = measure_channels(stereo_fixtures.mono(tmp_path, kind))

    assert measure.channels == 1
    assert len(measure.rms_dbfs) == 1
    assert (measure.correlation, measure.separation_db) == (None, None)
    assert channels_differ(measure).reason == "not_stereo"
    assert "1 ch" in measure.summary()


def test_three_channels_are_not_a_call_of_two(tmp_path: Path) -> None:
    measure = measure_channels(stereo_fixtures.three_channels(tmp_path))

    assert measure.channels == 3
    assert len(measure.rms_dbfs) == 3
    assert (measure.correlation, measure.lead_seconds) == (None, (0.0, 0.0))
    assert channels_differ(measure).reason == "not_stereo"


# --- the rules alone ----------------------------------------------------------------------

CALL = ChannelMeasure(
    channels=2,
    seconds=20.0,
    rms_dbfs=(-24.0, -27.0),
    correlation=0.1,
    separation_db=26.0,
    lead_seconds=(10.4, 4.6),
    shared_seconds=0.0,
    active_seconds=15.0,
    level_correlation=-0.4,
)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, "separate"),
        ({"channels": 3, "rms_dbfs": (-24.0, -27.0, -30.0)}, "not_stereo"),
        ({"channels": 1, "rms_dbfs": (-24.0,)}, "not_stereo"),
        ({"steady": False}, "unsteady"),
        ({"rms_dbfs": (-24.0, -70.0)}, "silent_channel"),
        ({"correlation": 0.5}, "same_signal"),
        ({"correlation": -0.9}, "same_signal"),  # one channel inverted: one signal still
        ({"correlation": None}, "same_signal"),
        ({"lead_seconds": (10.4, 0.9)}, "one_voice"),
        ({"separation_db": 11.9}, "crosstalk"),
        ({"separation_db": None}, "crosstalk"),
        ({"correlation": 0.49, "lead_seconds": (1.0, 1.0), "separation_db": 12.0}, "separate"),
    ],
)
def test_each_rule_says_why(changes: dict[str, Any], reason: str) -> None:
    measure = replace(CALL, **changes)

    verdict = channels_differ(measure)

    assert verdict.reason == reason
    assert verdict.separate == (reason == "separate") == separate_speakers(measure)
    assert str(verdict).startswith(f"{reason} (")


def test_the_summary_is_one_line_of_figures() -> None:
    line = CALL.summary()

    assert line == (
        "2 ch, 20.0 s, rms -24.0/-27.0 dBFS, r 0.10, separation 26.0 dB, leads 10.4/4.6 s, "
        "shared 0.0 of 15.0 s, levels r -0.40"
    )


# --- bad input ----------------------------------------------------------------------------


def test_decoding_past_the_bound_is_bad_audio(tmp_path: Path) -> None:
    call = stereo_fixtures.call_recording(tmp_path)

    with pytest.raises(BadAudio, match="more audio than it declares"):
        measure_channels(call.path, max_seconds=5.0)


@pytest.mark.parametrize(("case", "error"), [("pdf", NotAudio), ("random bytes", BadAudio)])
def test_what_is_not_audio_is_refused(
    fixtures_dir: Path, tmp_path: Path, case: str, error: type[Exception]
) -> None:
    src = tmp_path / "call.ogg"
    HOSTILE[case](fixtures_dir, src)

    with pytest.raises(error):
        measure_channels(src)
