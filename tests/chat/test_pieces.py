"""Splitting a long text into pieces: order, every character, the limit, the boundaries."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adapter.chat.pieces import PIECE_CHARS, Piece, join, split


def _whole(pieces: list[Piece]) -> str:
    return "".join(p.lead + p.text + p.trail for p in pieces)


@given(st.text(max_size=2_000), st.integers(min_value=1, max_value=300))
def test_pieces_keep_every_character_in_order(text: str, limit: int) -> None:
    pieces = split(text, limit)
    if not text.strip():
        assert pieces == []
        return
    assert _whole(pieces) == text
    for piece in pieces:
        assert 0 < len(piece.text) <= limit
        assert piece.text == piece.text.strip()
        assert not piece.lead.strip() and not piece.trail.strip()
    assert all(not p.trail for p in pieces[:-1])


@given(
    st.lists(st.text(alphabet=st.characters(exclude_characters="[]"), max_size=40), max_size=60),
    st.integers(min_value=1, max_value=200),
)
def test_joining_new_texts_keeps_the_spacing_and_the_order(lines: list[str], limit: int) -> None:
    text = "\n".join(lines)
    assume(text.strip())  # a blank text has no pieces (see above)
    pieces = split(text, limit)
    assert join(pieces, [p.text for p in pieces]) == text
    marked = join(pieces, [f"[{p.text}]" for p in pieces])  # a "translation" that shows its edges
    assert marked.replace("[", "").replace("]", "") == text
    assert marked.count("[") == len(pieces)


def test_lines_are_preferred_to_sentences_and_sentences_to_words() -> None:
    text = "Agent: Hello there. How can I help?\nCustomer: My parcel never came. It was blue."
    pieces = split(text, 40)
    assert [p.text for p in pieces] == [
        "Agent: Hello there. How can I help?",
        "Customer: My parcel never came.",
        "It was blue.",
    ]
    assert [p.lead for p in pieces] == ["", "\n", " "]


def test_words_then_a_hard_cut() -> None:
    assert [p.text for p in split("aaaa bbbb cccc dddd", 10)] == ["aaaa bbbb", "cccc dddd"]
    assert [p.text for p in split("x" * 25, 10)] == ["x" * 10, "x" * 10, "x" * 5]


def test_a_cut_never_separates_a_letter_from_its_accent() -> None:
    text = "e\u0301" * 10  # é as e + combining acute accent, 20 characters
    pieces = split(text, 5)
    assert all(p.text[0] != "\u0301" for p in pieces)
    assert _whole(pieces) == text


def test_ideographic_sentences_end_without_a_space() -> None:
    text = "你好。" * 10 + "我的包裹没有到。"
    pieces = split(text, 12)
    assert all(p.text.endswith("。") for p in pieces)
    assert _whole(pieces) == text


def test_edges_keep_their_whitespace() -> None:
    pieces = split("\n\n  Agent: Hi.  \n", 100)
    assert pieces == [Piece(lead="\n\n  ", text="Agent: Hi.", trail="  \n")]
    assert join(pieces, ["Agente: Hola."]) == "\n\n  Agente: Hola.  \n"


def test_a_long_transcript_gets_pieces_within_the_default_limit() -> None:
    lines = [f"Customer: sentence number {i} of a long complaint." for i in range(1_000)]
    pieces = split("\n".join(lines))
    assert len(pieces) > 1
    assert all(len(p.text) <= PIECE_CHARS for p in pieces)
    assert all(p.lead == "\n" for p in pieces[1:])  # cut at lines


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one"):
        split("text", 0)
    with pytest.raises(ValueError, match="one text per piece"):
        join(split("a b", 100), [])
