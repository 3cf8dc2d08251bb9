"""Cut points at quiet frames and chunk plans over the kept frames, with known answers."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from adapter.audio.split import choose_cuts, plan_chunks
from adapter.audio.vad import FRAME


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
