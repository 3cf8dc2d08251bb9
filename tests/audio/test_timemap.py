"""TimeMap: chunk time -> original time, by example and by property."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapter.audio import TimeMap


def test_shift_adds_the_offset() -> None:
    timemap = TimeMap.shift(600.0, 120.0)

    assert timemap.to_original(0.0) == 600.0
    assert timemap.to_original(30.5) == 630.5
    assert timemap.duration == 120.0


def test_spans_skip_the_removed_silences() -> None:
    # kept 1-3 s and 7-8 s and 10-14 s of the original
    timemap = TimeMap.from_spans([(1.0, 3.0), (7.0, 8.0), (10.0, 14.0)])

    assert timemap.to_original(0.0) == 1.0
    assert timemap.to_original(1.5) == 2.5
    assert timemap.to_original(2.0) == 7.0  # the junction maps to where the next words start
    assert timemap.to_original(2.5) == 7.5
    assert timemap.to_original(3.0) == 10.0
    assert timemap.to_original(7.0) == 14.0
    assert timemap.duration == 7.0


def test_outside_the_chunk_time_runs_at_one_second_per_second() -> None:
    timemap = TimeMap.from_spans([(5.0, 6.0), (9.0, 10.0)])

    assert timemap.to_original(-0.5) == 4.5
    assert timemap.to_original(2.5) == 10.5


def test_anchors_must_not_go_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        TimeMap(((0.0, 5.0), (1.0, 4.0)))
    with pytest.raises(ValueError, match="at least one"):
        TimeMap(())


@st.composite
def span_lists(draw: st.DrawFn) -> list[tuple[float, float]]:
    """Disjoint, increasing spans on a 10 ms grid, as prepare() produces them."""
    steps = draw(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 500)), min_size=1))
    spans, position = [], 0
    for gap, length in steps:
        start = position + gap
        spans.append((start / 100, (start + length) / 100))
        position = start + length
    return spans


@given(span_lists(), st.floats(0, 1, allow_nan=False))
@example([(0.0, 0.01), (0.02, 0.03), (0.04, 0.05)], 1 - 2**-53)  # u < 1 rounds onto a junction
def test_every_chunk_moment_lands_in_its_span(spans: list[tuple[float, float]], u: float) -> None:
    timemap = TimeMap.from_spans(spans)
    position = 0.0
    for start, end in spans:
        inside = position + u * (end - start)
        original = timemap.to_original(inside)
        position += end - start
        if inside < position:
            assert original == pytest.approx(start + u * (end - start), abs=1e-6)
        else:  # the end of a span (u = 1, or u rounded up to it) is the start of the next one
            assert original >= end - 1e-6
    assert timemap.to_original(timemap.duration) == pytest.approx(spans[-1][1], abs=1e-6)


@given(span_lists(), st.lists(st.floats(-10, 100, allow_nan=False), min_size=2, max_size=20))
def test_mapping_never_goes_backwards(spans: list[tuple[float, float]], times: list[float]) -> None:
    timemap = TimeMap.from_spans(spans)
    mapped = [timemap.to_original(t) for t in sorted(times)]

    assert mapped == sorted(mapped)
