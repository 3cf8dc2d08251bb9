"""A long text cut into pieces a chat model translates one at a time, and put back together.
Pure: no I/O.

Why pieces: a model's answer is bounded (``prompts.PIECE_MAX_TOKENS``), and a long answer is
where models drift (they start to summarise, or stop). Pieces of at most ``PIECE_CHARS``
characters (about 1,500 tokens of English) keep every answer well inside its bound.

Where a cut goes, by preference, in the last two thirds of the allowed length: after a line,
after a sentence (``.``, ``!``, ``?``, ``…`` before a space; the ideographic full stop and the
full-width exclamation and question marks anywhere), after a word; failing all, at the length
itself (never between a letter and its combining mark).
The whitespace around each piece is kept aside, not sent, and put back as it was: line breaks
between pieces survive whatever the model does with a piece's edges.

    split("Agent: Hi.\\nCustomer: …", limit) -> [Piece(lead="", text="Agent: Hi.", trail=""), …]
    join(pieces, translations)               -> the translations with the original spacing
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

#: the most characters of one piece sent to the chat model
PIECE_CHARS = 6_000

#: a sentence's end with any closing quotes or brackets after it
_SENTENCE_END = re.compile(
    r"[.!?\u2026][\"'\u201d\u2019)\]]*(?=\s)"
    r"|[\u3002\uff01\uff1f][\u300d\u300f\u201d\u2019)\uff09]*"
)


@dataclass(frozen=True)
class Piece:
    """One piece of a text: the whitespace before it, its text, the whitespace after it (only
    the last piece has any: the text's own trailing whitespace)."""

    lead: str
    text: str  # never empty, no whitespace at either end, at most the limit long
    trail: str = ""


def split(text: str, limit: int = PIECE_CHARS) -> list[Piece]:
    """``text`` in order, as pieces of at most ``limit`` characters each (whitespace aside);
    none for a text that is only whitespace. Joining every piece's ``lead + text + trail``
    gives ``text`` back exactly."""
    if limit < 1:
        raise ValueError("a piece must be allowed at least one character")
    pieces: list[Piece] = []
    start = 0
    while True:
        begin = start
        while begin < len(text) and text[begin].isspace():
            begin += 1
        if begin == len(text):
            if pieces:
                pieces[-1] = replace(pieces[-1], trail=text[start:])
            return pieces
        end = _cut(text, begin, limit)
        body = text[begin:end].rstrip()
        pieces.append(Piece(lead=text[start:begin], text=body))
        start = begin + len(body)


def join(pieces: Sequence[Piece], texts: Sequence[str]) -> str:
    """Each piece's new text (its translation) in place of its text, the spacing as it was."""
    if len(pieces) != len(texts):
        raise ValueError("one text per piece")
    return "".join(p.lead + t + p.trail for p, t in zip(pieces, texts, strict=True))


def _cut(text: str, begin: int, limit: int) -> int:
    """Where the piece starting at ``begin`` (not whitespace) ends: an index after ``begin``."""
    hard = begin + limit
    if hard >= len(text):
        return len(text)
    earliest = begin + max(1, limit // 3)  # a cut any earlier makes needlessly small pieces
    line = text.rfind("\n", earliest, hard + 1)
    if line != -1:
        return line
    sentence = _last_sentence_end(text, earliest, hard)
    if sentence is not None:
        return sentence
    for index in range(hard, earliest - 1, -1):
        if text[index].isspace():
            return index
    while hard > begin + 1 and unicodedata.combining(text[hard]):
        hard -= 1  # keep a letter with its accents
    return hard


def _last_sentence_end(text: str, earliest: int, hard: int) -> int | None:
    """The end of the last sentence ending between ``earliest`` and ``hard``, if any."""
    found = None
    # one character past ``hard``: the space that shows a sentence ended right at the limit
    for match in _SENTENCE_END.finditer(text, earliest, hard + 1):
        if match.end() <= hard:
            found = match.end()
    return found


__all__ = ["PIECE_CHARS", "Piece", "join", "split"]
