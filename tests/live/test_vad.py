"""Utterances in a stream (adapter.live.vad): the turn rules on made-up probabilities, and
Silero on the shared speech samples streamed in pieces of any size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.live.audio import Decoder
from adapter.live.protocol import TurnDetection
from adapter.live.vad import WINDOW, Started, Stopped, Turn, Turns, VoiceDetector
from tests.live.audio import pcm24, silence24

pytestmark = [pytest.mark.local_engine]

RATE = 16_000


def play(probabilities: list[float], turn: TurnDetection = TurnDetection()) -> list[Turn]:
    turns = Turns(turn)
    found = []
    for index, probability in enumerate(probabilities):
        event = turns.window(probability, index * WINDOW)
        if event is not None:
            found.append(event)
    return found


def windows(seconds: float) -> int:
    return round(seconds * RATE / WINDOW)


def test_prefix_padding_and_silence_duration() -> None:
    probabilities = [0.0] * windows(1) + [0.9] * windows(2) + [0.0] * windows(1)
    started, stopped = play(probabilities)
    assert isinstance(started, Started) and isinstance(stopped, Stopped)
    speech_from = windows(1) * WINDOW
    assert started.sample == speech_from - 300 * 16
    speech_to = (windows(1) + windows(2)) * WINDOW
    assert stopped.sample == speech_to + int(0.2 * RATE)  # the end padding
    assert stopped.detected - speech_to >= 500 * 16


def test_hysteresis_a_dip_under_the_threshold_is_not_silence() -> None:
    probabilities = (
        [0.9] * windows(1) + [0.4] * windows(1) + [0.9] * windows(1) + [0.0] * windows(1)
    )
    assert [type(t) for t in play(probabilities)] == [Started, Stopped]


def test_a_long_utterance_is_cut() -> None:
    turns = play([0.9] * windows(60))
    assert [type(t) for t in turns] == [Started, Stopped, Started, Stopped, Started]
    assert turns[1].sample - turns[0].sample <= 25 * RATE + WINDOW
    assert turns[2].sample >= turns[1].sample  # the next one starts where this one ended


@given(
    st.lists(st.floats(0, 1), max_size=400),
    st.floats(0.05, 0.95),
    st.integers(0, 1000),
    st.integers(0, 2000),
)
def test_turns_alternate_and_move_forward(
    probabilities: list[float], threshold: float, prefix: int, silence: int
) -> None:
    found = play(probabilities, TurnDetection(threshold, prefix, silence))
    for index, turn in enumerate(found):
        assert isinstance(turn, Started if index % 2 == 0 else Stopped)
    samples = [t.sample for t in found]
    assert samples == sorted(samples)


def turns_of(pcm: bytes, piece: int) -> list[Turn]:
    decoder = Decoder("pcm16")
    detector = VoiceDetector(TurnDetection())
    found: list[Turn] = []
    for start in range(0, len(pcm), piece):
        found += detector.feed(decoder(pcm[start : start + piece]))
    return found


@pytest.mark.parametrize("clip", ["en1.ogg", "en2.ogg", "en3.ogg"])
def test_one_sentence_is_one_utterance(clip: str) -> None:
    pcm = silence24(1.0) + pcm24(clip) + silence24(1.5)
    found = turns_of(pcm, 960)  # 20 ms pieces
    assert [type(t) for t in found] == [Started, Stopped]
    seconds = len(pcm24(clip)) / 48000
    assert 0.5 <= found[0].sample / RATE <= 1.6
    assert seconds - 1.5 <= (found[1].sample - found[0].sample) / RATE <= seconds + 0.8


def test_the_pieces_do_not_matter() -> None:
    pcm = silence24(0.7) + pcm24("es1.ogg") + silence24(1.0)
    whole = turns_of(pcm, len(pcm))
    assert len(whole) >= 2
    for piece in (333, 4801, 9600):  # odd pieces cut samples in half
        assert turns_of(pcm, piece) == whole


def test_silence_and_noise_are_not_speech() -> None:
    rng = np.random.default_rng(7)
    noise = (rng.normal(0, 300, 24000 * 5)).astype("<i2").tobytes()
    assert turns_of(silence24(5) + noise, 4800) == []
