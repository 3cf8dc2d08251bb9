"""Join the transcripts of a recording's chunks into one transcript of the original audio.

* Segment times go through each chunk's :class:`~adapter.audio.timemap.TimeMap`, so they are
  seconds of the original audio, with removed silences accounted for.
* A chunk's first ``lead_overlap`` seconds repeat the end of the chunk before it. Segments that
  end inside that overlap were heard by the previous chunk already and are dropped. Then the
  longest run of words (up to ``_MAX_SEAM_WORDS``) that ends the text so far and also starts
  the new chunk's text is dropped once, compared without case or punctuation.
* The language is the one detected over most seconds of audio; the duration is the original's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from adapter.audio.prepare import AudioChunk
from adapter.engines.base import Segment, Transcript

#: longest repeated run of words looked for at a seam (2 s of overlap holds about 6 words)
_MAX_SEAM_WORDS = 16
#: a segment ending this close after the overlap still counts as inside it
_OVERLAP_TOLERANCE = 0.25

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


@dataclass
class _Piece:
    """Words of a chunk's transcript, with the segment (original times) they came from."""

    words: list[str]
    segment: Segment | None


def _normal(word: str) -> str:
    folded = _NOT_WORD.sub("", word.casefold())
    return folded or word


def seam_overlap(before: Sequence[str], after: Sequence[str], limit: int = _MAX_SEAM_WORDS) -> int:
    """How many words at the start of ``after`` repeat the words at the end of ``before``."""
    tail = [_normal(w) for w in before[-limit:]]
    head = [_normal(w) for w in after[:limit]]
    for k in range(min(len(tail), len(head)), 0, -1):
        if tail[-k:] == head[:k]:
            return k
    return 0


def _pieces(chunk: AudioChunk, transcript: Transcript, duration: float) -> list[_Piece]:
    if not transcript.segments:
        return [_Piece(transcript.text.split(), None)]
    pieces: list[_Piece] = []
    for segment in transcript.segments:
        if chunk.lead_overlap > 0 and segment.end <= chunk.lead_overlap + _OVERLAP_TOLERANCE:
            continue
        start = chunk.timemap.to_original(segment.start)
        end = chunk.timemap.to_original(segment.end)
        start = max(0.0, start)
        end = max(start, end)
        if duration > 0:
            end = min(end, duration)
            start = min(start, end)
        pieces.append(_Piece(segment.text.split(), Segment(start, end, segment.text.strip())))
    return pieces


def _drop_words(pieces: list[_Piece], count: int) -> None:
    """Remove ``count`` words from the front of ``pieces`` (and segments left without words)."""
    while count > 0 and pieces:
        first = pieces[0]
        taken = min(count, len(first.words))
        first.words = first.words[taken:]
        count -= taken
        if not first.words:
            pieces.pop(0)
        elif first.segment is not None:
            segment = first.segment
            first.segment = Segment(segment.start, segment.end, " ".join(first.words))


def stitch(parts: Sequence[tuple[AudioChunk, Transcript]]) -> Transcript:
    """One transcript of the original audio from ``(chunk, transcript)`` pairs, in any order."""
    ordered = sorted(parts, key=lambda part: (part[0].index, part[0].offset))
    if not ordered:
        return Transcript(text="", language=None, duration=0.0, segments=())
    duration = max(chunk.source_duration for chunk, _ in ordered)
    if duration <= 0:
        duration = max(chunk.timemap.anchors[-1][1] for chunk, _ in ordered)
    words: list[str] = []
    segments: list[Segment] = []
    seconds_by_language: dict[str, float] = {}
    for chunk, transcript in ordered:
        if transcript.language:
            spoken = transcript.language
            seconds_by_language[spoken] = seconds_by_language.get(spoken, 0.0) + chunk.duration
        pieces = _pieces(chunk, transcript, duration)
        if chunk.lead_overlap > 0 and words:
            head = [word for piece in pieces for word in piece.words[:_MAX_SEAM_WORDS]]
            _drop_words(pieces, seam_overlap(words, head))
        for piece in pieces:
            words.extend(piece.words)
            if piece.segment is not None:
                segments.append(piece.segment)
    language = (
        max(seconds_by_language.items(), key=lambda item: item[1])[0]
        if seconds_by_language
        else None
    )
    return Transcript(
        text=" ".join(words),
        language=language,
        duration=duration,
        segments=tuple(segments),
    )
