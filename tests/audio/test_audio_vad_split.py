"""Frame energies, the silence mask and cut points, on signals with known answers."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from adapter.audio.split import choose_cuts, plan_chunks
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


def test_cuts_land_in_the_quietest_frames() -> None:
    powers = np.ones(1000, dtype=np.float32)
    powers[[180, 420, 610, 790]] = 0.0
    powers[[181, 421, 611, 791]] = 0.0

    cuts = choose_cuts(powers, target=200, longest=260, window=40)

    assert cuts == [180, 420, 610, 790]


def test_a_cut_goes_in_the_middle_of_a_long_pause() -> None:
    powers = np.ones(600, dtype=np.float32)
    powers[170:230] = 1e-6  # 1.8 s of near silence, a way before the ideal cut at 300

    cuts = choose_cuts(powers, target=300, longest=450, window=150)

    assert cuts == [199]


@given(
    st.integers(1, 20_000),
    st.integers(10, 3_000),
    st.integers(0, 200),
    st.integers(0, 2**32 - 1),
)
def test_cuts_respect_the_longest_chunk(count: int, target: int, window: int, seed: int) -> None:
    powers = np.random.default_rng(seed).random(count).astype(np.float32)
    longest = target + target // 4

    cuts = choose_cuts(powers, target=target, longest=longest, window=window)

    bounds = [0, *cuts, count]
    assert bounds == sorted(set(bounds))
    assert all(b - a <= longest for a, b in itertools.pairwise(bounds))


def test_plan_overlaps_and_follows_the_kept_frames() -> None:
    powers = np.ones(100, dtype=np.float32)
    keep = np.ones(100, dtype=np.bool_)
    keep[40:60] = False  # a cut silence
    powers[30] = 0.0

    plans = plan_chunks(
        powers, keep, 100 * FRAME - 100, target=40, longest=50, overlap=5, window=10
    )

    spans = [[(a // FRAME, -(-b // FRAME)) for a, b in plan.spans] for plan in plans]
    assert spans[0][0][0] == 0
    assert plans[0].lead_overlap == 0
    assert all(plan.lead_overlap == 5 * FRAME for plan in plans[1:])
    # the kept timeline has 80 frames; every frame is in a chunk, the silence in none
    covered = set()
    for plan_spans in spans:
        for a, b in plan_spans:
            covered |= set(range(a, b))
    assert covered == set(range(40)) | set(range(60, 100))
    assert plans[-1].spans[-1][1] == 100 * FRAME - 100
