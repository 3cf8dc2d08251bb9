"""Where a moment of a chunk file was in the customer's original audio.

A chunk is made of spans of the original audio laid end to end (silences cut out, and the
whole thing shifted by the chunk's offset). :class:`TimeMap` keeps two anchors per span,
``(chunk_time, original_time)`` at its start and at its end, and interpolates linearly between
them. Where a silence was cut, two anchors share a chunk time; a time exactly there maps to the
start of the later span (where the next words begin).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TimeMap:
    """Piecewise-linear map from seconds in a chunk file to seconds in the original audio."""

    #: ``(chunk_time, original_time)`` pairs, both non-decreasing
    anchors: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.anchors:
            raise ValueError("a time map needs at least one anchor")
        for (c0, o0), (c1, o1) in zip(self.anchors, self.anchors[1:], strict=False):
            if c1 < c0 or o1 < o0:
                raise ValueError("time map anchors must not go backwards")

    @classmethod
    def shift(cls, offset: float, duration: float) -> TimeMap:
        """A chunk that is the original from ``offset`` on, uncut, for ``duration`` seconds."""
        return cls(((0.0, offset), (duration, offset + duration)))

    @classmethod
    def from_spans(cls, spans: Sequence[tuple[float, float]]) -> TimeMap:
        """A chunk made of the original's ``[start, end)`` spans (seconds), in order."""
        anchors: list[tuple[float, float]] = []
        position = 0.0
        for start, end in spans:
            if end < start:
                raise ValueError("a span must not end before it starts")
            anchors.append((position, start))
            position += end - start
            anchors.append((position, end))
        return cls(tuple(anchors))

    @property
    def duration(self) -> float:
        """Seconds of chunk the anchors cover."""
        return self.anchors[-1][0] - self.anchors[0][0]

    def to_original(self, t: float) -> float:
        """Seconds in the original audio for ``t`` seconds into the chunk.

        Past either end the map goes on at one second per second.
        """
        anchors = self.anchors
        times = [c for c, _ in anchors]
        i = bisect_right(times, t) - 1
        if i < 0:
            c0, o0 = anchors[0]
            return o0 + (t - c0)
        c0, o0 = anchors[i]
        if i + 1 >= len(anchors):
            return o0 + (t - c0)
        c1, o1 = anchors[i + 1]
        # bisect_right guarantees c0 <= t < c1, so c1 > c0 here
        return o0 + (t - c0) * (o1 - o0) / (c1 - c0)
