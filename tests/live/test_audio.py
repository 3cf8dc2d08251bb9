"""The stream's bytes as 16 kHz samples (adapter.live.audio)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.live.audio import _ULAW, Decoder, Resampler


def sine(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


@pytest.mark.parametrize("source", [24_000, 8_000])
def test_a_tone_keeps_its_pitch_and_level(source: int) -> None:
    out = Resampler(source, 16_000)(sine(source, 1.0))
    assert out.size == 16_000
    middle = out[2000:14000]
    spectrum = np.abs(np.fft.rfft(middle))
    assert abs(np.argmax(spectrum) * 16_000 / middle.size - 440) < 3
    assert 0.45 < np.abs(middle).max() < 0.55


def test_what_16_khz_cannot_hold_is_filtered_out() -> None:
    out = Resampler(24_000, 16_000)(sine(24_000, 1.0, hz=10_000))
    assert np.abs(out[2000:14000]).max() < 0.01


@given(st.lists(st.integers(0, 3000), min_size=1, max_size=20))
def test_pieces_of_any_size_make_the_same_samples(cuts: list[int]) -> None:
    pcm = (sine(24_000, 0.5) * 32767).astype("<i2").tobytes()
    whole = Decoder("pcm16")(pcm)
    decoder = Decoder("pcm16")
    pieces, at = [], 0
    for size in cuts:
        pieces.append(decoder(pcm[at : at + size]))
        at += size
    pieces.append(decoder(pcm[at:]))
    assert np.allclose(np.concatenate(pieces), whole, atol=1e-6)
    assert decoder.seconds_in() == 0.5


def test_mulaw_values() -> None:
    decoder = Decoder("g711_ulaw")
    # G.711: 0xFF and 0x7F are zero, 0x80 and 0x00 the loudest of each sign
    samples = np.frombuffer(bytes([0xFF, 0x7F, 0x80, 0x00]), dtype=np.uint8)
    assert list(_ULAW[samples] * 32768) == [0, 0, 32124, -32124]
    assert decoder(bytes(8000)).size == 16_000
