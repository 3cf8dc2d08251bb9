"""Streaming decode: same samples whatever the container, bounded by what the file declares."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from adapter.audio.decode import SAMPLE_RATE, iter_pcm
from adapter.errors import BadAudio
from tests.audio import gen
from tests.audio.conftest import Make


def _all(path: Path, **options: float) -> np.ndarray:
    with closing(iter_pcm(path, **options)) as blocks:
        return np.concatenate(list(blocks))


def test_lossless_sources_decode_to_the_same_16k_mono_samples(make: Make) -> None:
    layout = [(0.5, 0.0), (1.0, 1000.0), (0.5, 0.0)]
    wav = _all(make("a.wav", layout, "wav"))
    flac = _all(make("a.flac", layout, "flac"))
    stereo = _all(make("b.wav", layout, "wav", channels=2))

    assert wav.size == flac.size == stereo.size == 2 * SAMPLE_RATE
    assert np.allclose(wav, flac, atol=1e-4)
    assert np.allclose(wav, stereo, atol=1e-3)
    assert wav.dtype == np.float32


def test_decoding_past_the_bound_is_bad_audio(make: Make) -> None:
    path = make("a.ogg", gen.bursts(5.0, burst=1.0, gap=1.0), "ogg")

    assert _all(path, max_seconds=6.0).size == pytest.approx(5 * SAMPLE_RATE, abs=400)
    with pytest.raises(BadAudio, match="more audio than it declares"):
        _all(path, max_seconds=2.0)
