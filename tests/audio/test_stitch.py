"""stitch(): overlap words once, segment times in the original audio, majority language."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.audio import AudioChunk, TimeMap, stitch
from adapter.audio.stitch import seam_overlap
from adapter.engines.base import Segment, Transcript


def _chunk(index: int, spans: list[tuple[float, float]], lead: float, total: float) -> AudioChunk:
    timemap = TimeMap.from_spans(spans)
    return AudioChunk(
        index=index,
        path=Path(f"chunk-{index:03d}.ogg"),
        offset=spans[0][0],
        duration=timemap.duration,
        billed_seconds=timemap.duration,
        timemap=timemap,
        lead_overlap=lead,
        source_duration=total,
    )


def _said(text: str, language: str | None = "en", *segments: Segment) -> Transcript:
    return Transcript(text=text, language=language, duration=0.0, segments=tuple(segments))


def test_text_only_transcripts_lose_the_repeated_words_once() -> None:
    first = _chunk(0, [(0.0, 600.0)], 0.0, 1000.0)
    second = _chunk(1, [(598.0, 1000.0)], 2.0, 1000.0)

    joined = stitch(
        [
            (second, _said("of the order, and then nothing else.")),
            (first, _said("I would like to ask about the status of the order,")),
        ]
    )

    assert (
        joined.text == "I would like to ask about the status of the order, and then nothing else."
    )
    assert joined.duration == 1000.0
    assert joined.language == "en"


def test_segments_are_mapped_to_original_time_and_overlap_segments_dropped() -> None:
    # chunk 0: original 0-10 s and 14-20 s (a 4 s pause cut); chunk 1 from 18 s on, 2 s overlap
    first = _chunk(0, [(0.0, 10.0), (14.0, 20.0)], 0.0, 30.0)
    second = _chunk(1, [(18.0, 30.0)], 2.0, 30.0)
    parts = [
        (
            first,
            _said(
                "",
                "en",
                Segment(0.5, 4.0, " Hello there."),
                Segment(10.0, 13.0, " My parcel is late."),
                Segment(14.2, 16.0, " Ticket four two."),
            ),
        ),
        (
            second,
            _said(
                "",
                "en",
                Segment(0.0, 1.9, " Ticket four two."),
                Segment(2.1, 5.0, " Thanks, bye."),
            ),
        ),
    ]

    joined = stitch(parts)

    assert joined.text == "Hello there. My parcel is late. Ticket four two. Thanks, bye."
    assert [(s.start, s.end) for s in joined.segments] == [
        pytest.approx((0.5, 4.0)),
        pytest.approx((14.0, 17.0)),
        pytest.approx((18.2, 20.0)),
        pytest.approx((20.1, 23.0)),
    ]
    assert [s.text for s in joined.segments][-1] == "Thanks, bye."


def test_a_segment_straddling_the_seam_keeps_only_its_new_words() -> None:
    first = _chunk(0, [(0.0, 10.0)], 0.0, 18.0)
    second = _chunk(1, [(8.0, 18.0)], 2.0, 18.0)
    parts = [
        (first, _said("", "en", Segment(6.0, 10.0, " please call me back"))),
        (second, _said("", "en", Segment(1.0, 4.0, " me back tomorrow morning"))),
    ]

    joined = stitch(parts)

    assert joined.text == "please call me back tomorrow morning"
    assert joined.segments[-1].text == "tomorrow morning"
    assert joined.segments[-1].start == pytest.approx(9.0)


def test_language_is_the_one_heard_longest() -> None:
    chunks = [_chunk(i, [(i * 100.0, i * 100.0 + length)], 0.0, 400.0) for i, length in
              enumerate([100.0, 50.0, 100.0, 30.0])]  # fmt: skip
    languages = ["es", "en", "es", None]

    joined = stitch(
        [(c, _said(f"w{i}", lang)) for i, (c, lang) in enumerate(zip(chunks, languages))]
    )

    assert joined.language == "es"
    assert joined.text == "w0 w1 w2 w3"


def test_unknown_language_and_nothing_to_stitch() -> None:
    only = _chunk(0, [(0.0, 5.0)], 0.0, 5.0)

    assert stitch([(only, _said("hola", None))]).language is None
    assert stitch([]) == Transcript(text="", language=None, duration=0.0, segments=())


def test_seam_overlap_ignores_case_and_punctuation() -> None:
    assert seam_overlap(["the", "Order,"], ["order", "is", "late"]) == 1
    assert seam_overlap(["a", "b", "c"], ["b", "c", "d"]) == 2
    assert seam_overlap(["a", "b"], ["c", "d"]) == 0
    assert seam_overlap([], ["c"]) == 0


@given(
    st.lists(st.integers(0, 10**6), min_size=1, max_size=120, unique=True),
    st.lists(st.tuples(st.integers(1, 40), st.integers(1, 8)), min_size=1, max_size=6),
)
def test_overlapping_chunks_stitch_back_to_the_words(
    ids: list[int], cuts: list[tuple[int, int]]
) -> None:
    """Distinct words cut into chunks that repeat 1-8 words of their predecessor."""
    words = [f"w{i}" for i in ids]
    pieces: list[list[str]] = []
    start = 0
    for step, overlap in cuts:
        if start >= len(words):
            break
        begin = max(0, start - overlap) if pieces else 0
        pieces.append(words[begin : start + step])
        start += step
    if start < len(words):
        pieces.append(words[max(0, start - 2) :] if pieces else words)
    parts = [
        (_chunk(i, [(i * 10.0, i * 10.0 + 12.0)], 2.0 if i else 0.0, 100.0), _said(" ".join(p)))
        for i, p in enumerate(pieces)
    ]

    assert stitch(parts).text.split() == words
