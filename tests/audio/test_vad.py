"""Frame energies and the silence mask, on signals with known answers."""

from __future__ import annotations

import numpy as np

from adapter.audio.vad import FRAME, EnergyMeter, runs, speech_mask, threshold_dbfs, to_dbfs
from tests.audio import gen

RATE = 16000


def _powers(*pieces: gen.Samples, block: int = 1000) -> np.ndarray:
    signal = np.concatenate(pieces)
    meter = EnergyMeter()
    for i in range(0, signal.size, block):
        meter.feed(signal[i : i + block])
    assert meter.samples == signal.size
    return meter.powers()


def test_energy_meter_is_independent_of_block_sizes() -> None:
    signal = gen.speech_like(3.0, RATE)
    whole = _powers(signal, block=signal.size)
    odd = _powers(signal, block=777)

    assert whole.size == odd.size == -(-signal.size // FRAME)
    assert np.allclose(whole, odd, rtol=1e-5)


def test_a_sine_has_half_its_squared_amplitude_as_power() -> None:
    powers = _powers(gen.tone(1.0, RATE, freq=500.0, amplitude=0.5))

    assert np.allclose(powers[:-1], 0.125, rtol=0.01)


def test_mask_cuts_long_silences_and_keeps_padding() -> None:
    tone, quiet = gen.tone, gen.silence
    powers = _powers(
        quiet(2.0, RATE), tone(1.0, RATE), quiet(0.6, RATE), tone(1.0, RATE), quiet(3.0, RATE),
        tone(1.0, RATE), quiet(1.5, RATE),
    )  # fmt: skip

    keep = speech_mask(powers)

    kept = [(a * FRAME / RATE, b * FRAME / RATE) for a, b in runs(keep)]
    # sound at 2-3, 3.6-4.6 and 7.6-8.6 s touches 30 ms frames from 1.98 to 3.0, 3.6 to 4.62 and
    # 7.59 to 8.61 s; 0.3 s of padding stays beside each, the 0.6 s pause stays whole
    expected = [(1.68, 4.92), (7.29, 8.91)]
    assert np.allclose(kept, expected)


def test_all_silence_keeps_nothing_and_faint_noise_is_silence() -> None:
    noise = (1e-4 * np.random.default_rng(0).standard_normal(RATE * 3)).astype(np.float32)

    assert not speech_mask(_powers(gen.silence(3.0, RATE))).any()
    assert not speech_mask(_powers(noise)).any()


def test_a_short_utterance_in_long_silence_is_kept() -> None:
    powers = _powers(gen.silence(300.0, RATE), gen.tone(1.0, RATE), gen.silence(300.0, RATE))

    keep = speech_mask(powers)

    assert 1.0 < keep.sum() * FRAME / RATE < 1.7


def test_threshold_stays_below_a_quiet_second_speaker() -> None:
    # a loud agent at -15 dBFS, a quiet customer at -35 dBFS, line noise at -50 dBFS
    levels = np.concatenate([np.full(500, -50.0), np.full(500, -15.0), np.full(500, -35.0)])

    threshold = threshold_dbfs(levels.astype(np.float32))

    assert threshold is not None
    assert -50 < threshold < -35


def test_to_dbfs_of_silence_is_finite() -> None:
    assert np.isfinite(to_dbfs(np.zeros(3, dtype=np.float32))).all()
