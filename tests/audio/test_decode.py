"""Streaming decode: same samples whatever the container, bounded by what the file declares."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from adapter.audio.decode import SAMPLE_RATE, iter_pcm, iter_planes
from adapter.errors import BadAudio
from tests.audio import gen, stereo_fixtures
from tests.audio.conftest import Make


def _all(path: Path, **options: float | None) -> np.ndarray:
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


def _planes(path: Path) -> np.ndarray:
    with closing(iter_planes(path)) as blocks:
        return np.concatenate(list(blocks), axis=1)


@pytest.mark.parametrize("kind", ["ogg", "wav"])
def test_a_channel_alone_or_every_channel(tmp_path: Path, kind: str) -> None:
    call = stereo_fixtures.call_recording(tmp_path, kind=kind, bleed=0.0)

    planes = _planes(call.path)
    first, second = _all(call.path, channel=0), _all(call.path, channel=1)

    assert planes.shape == (2, first.size) == (2, second.size)
    assert np.array_equal(planes[0], first)
    assert np.array_equal(planes[1], second)
    assert np.allclose(_all(call.path), (first + second) / 2, atol=1e-6)
    # the first speaker's words are on the first channel only, the second's on the second
    (start, end), _ = call.spoken(0)
    (other_start, other_end) = call.spoken(1)[0]
    a, b = (round(t * SAMPLE_RATE) for t in (start, end))
    c, d = (round(t * SAMPLE_RATE) for t in (other_start, other_end))
    assert _rms(first[a:b]) > 30 * _rms(second[a:b])  # the other holds noise, 60 dB down
    assert _rms(second[c:d]) > 30 * _rms(first[c:d])


def test_a_channel_of_a_mono_file(fixtures_dir: Path) -> None:
    voice = fixtures_dir / "en1.ogg"

    assert np.array_equal(_all(voice, channel=0), _all(voice))
    assert _planes(voice).shape[0] == 1
    with pytest.raises(BadAudio, match="no channel 2"):
        _all(voice, channel=1)
    with pytest.raises(ValueError, match="channel"):
        _all(voice, channel=-1)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
