"""adapter.speakers: labels parsed strictly, two channels' segments woven into turns."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.engines.base import Segment
from adapter.speakers import (
    DEFAULT_LABELS,
    MAX_LABEL_CHARS,
    Turn,
    merge_turns,
    parse_labels,
    turns_text,
)

# --- labels -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "labels"),
    [
        ("Agent, Customer", ("Agent", "Customer")),
        ("  Agente ,Cliente  ", ("Agente", "Cliente")),
        ("Soporte técnico, Señora García", ("Soporte técnico", "Señora García")),
        ("A" * MAX_LABEL_CHARS + ",B", ("A" * MAX_LABEL_CHARS, "B")),
    ],
)
def test_two_names_are_trimmed(spec: str, labels: tuple[str, str]) -> None:
    assert parse_labels(spec) == labels


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Agent", "exactly two"),
        ("Agent, Customer, Supervisor", "exactly two"),
        ("", "exactly two"),
        ("Agent,", "empty"),
        (" , Customer", "empty"),
        ("A" * (MAX_LABEL_CHARS + 1) + ",B", f"at most {MAX_LABEL_CHARS}"),
        ("Agent\n, Customer", None),  # trimmed away: fine, see below
        ("Ag\x00ent, Customer", "control"),
        ("Agent, Cus\ttomer", "control"),
        ("Agent, \u202eremotsuC", "control"),  # a bidi override would reverse the note's text
        ("Agent, Cus\u200btomer", "control"),  # zero-width space
        ("Agent, Cus\u2028tomer", "control"),  # line separator
        ("Agent, agent", "differ"),
    ],
)
def test_bad_labels_are_refused_with_the_rule(spec: str, message: str | None) -> None:
    if message is None:
        assert parse_labels(spec) == ("Agent", "Customer")
        return
    with pytest.raises(ValueError, match=message):
        parse_labels(spec)


def test_default_labels_parse_as_themselves() -> None:
    assert parse_labels(", ".join(DEFAULT_LABELS)) == DEFAULT_LABELS


@given(st.text(max_size=100))
def test_parsed_labels_always_keep_the_rules(spec: str) -> None:
    try:
        labels = parse_labels(spec)
    except ValueError:
        return
    assert len(labels) == 2
    for label in labels:
        assert label == label.strip()
        assert 0 < len(label) <= MAX_LABEL_CHARS
        assert "," not in label
        assert not any(unicodedata.category(c)[0] == "C" for c in label)
        assert not any(unicodedata.category(c) in ("Zl", "Zp") for c in label)
    assert parse_labels(",".join(labels)) == labels


# --- turns --------------------------------------------------------------------------------


def seg(start: float, end: float, text: str) -> Segment:
    return Segment(start, end, text)


def test_a_call_reads_as_a_dialogue() -> None:
    agent = [seg(0.0, 2.0, " Hello, how can I help?"), seg(9.0, 11.0, " Let me check.")]
    customer = [
        seg(2.5, 5.0, " My parcel never came."),
        seg(5.0, 8.0, " I ordered it last week."),
        seg(12.0, 13.0, " Thanks."),
    ]

    turns = merge_turns(agent, customer, ("Agent", "Customer"))

    assert turns == [
        Turn(0, "Agent", 0.0, 2.0, "Hello, how can I help?"),
        Turn(1, "Customer", 2.5, 8.0, "My parcel never came. I ordered it last week."),
        Turn(0, "Agent", 9.0, 11.0, "Let me check."),
        Turn(1, "Customer", 12.0, 13.0, "Thanks."),
    ]
    assert turns_text(turns) == (
        "Agent: Hello, how can I help?\n"
        "Customer: My parcel never came. I ordered it last week.\n"
        "Agent: Let me check.\n"
        "Customer: Thanks."
    )


def test_blank_segments_neither_show_nor_split_a_turn() -> None:
    agent = [seg(0.0, 1.0, "One"), seg(3.0, 4.0, "two")]
    customer = [seg(1.5, 2.0, "  "), seg(2.0, 2.5, "")]

    assert merge_turns(agent, customer) == [Turn(0, "Speaker 1", 0.0, 4.0, "One two")]


def test_a_short_interjection_inside_a_long_segment_is_its_own_turn() -> None:
    agent = [seg(0.0, 10.0, "A long explanation"), seg(10.0, 12.0, "and more")]
    customer = [seg(4.0, 4.5, "Okay")]

    turns = merge_turns(agent, customer)

    assert [(t.speaker, t.text) for t in turns] == [
        (0, "A long explanation"),
        (1, "Okay"),
        (0, "and more"),
    ]


def test_simultaneous_starts_put_the_first_channel_first() -> None:
    turns = merge_turns([seg(1.0, 2.0, "hi")], [seg(1.0, 1.5, "hello")])

    assert [t.speaker for t in turns] == [0, 1]


def test_a_merged_turn_ends_at_its_latest_end() -> None:
    (turn,) = merge_turns([seg(0.0, 5.0, "long"), seg(1.0, 2.0, "short")], [])

    assert (turn.start, turn.end, turn.text) == (0.0, 5.0, "long short")


def test_nothing_said_is_no_turns() -> None:
    assert merge_turns([], []) == []
    assert turns_text([]) == ""


# --- properties ---------------------------------------------------------------------------

texts = st.text(alphabet=st.sampled_from("ab \t"), max_size=6)
times = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@st.composite
def segments(draw: st.DrawFn) -> list[Segment]:
    made = []
    for start, length, text in draw(st.lists(st.tuples(times, times, texts), max_size=8)):
        made.append(Segment(start, start + length, text))
    return made


@given(segments(), segments(), st.sampled_from([DEFAULT_LABELS, ("Agent", "Customer")]))
def test_turns_keep_order_labels_and_every_word(
    first: list[Segment], second: list[Segment], labels: tuple[str, str]
) -> None:
    turns = merge_turns(first, second, labels)

    # in time order, alternating speakers, labelled by speaker, none empty
    assert all(a.start <= b.start for a, b in itertools.pairwise(turns))
    assert all(a.speaker != b.speaker for a, b in itertools.pairwise(turns))
    assert all(t.label == labels[t.speaker] and t.text.strip() for t in turns)
    assert all(t.start <= t.end for t in turns)
    # every word of each speaker is there, in the order of its segments' starts
    for speaker, said in enumerate((first, second)):
        ordered = sorted((s for s in said if s.text.strip()), key=lambda s: s.start)
        words = " ".join(s.text for s in ordered).split()
        assert " ".join(t.text for t in turns if t.speaker == speaker).split() == words
    # each turn spans the segments it holds
    for speaker, said in enumerate((first, second)):
        for s in said:
            if s.text.strip():
                assert any(
                    t.speaker == speaker and t.start <= s.start and s.end <= t.end for t in turns
                )


@given(segments(), segments())
def test_turns_text_has_one_line_per_turn(first: list[Segment], second: list[Segment]) -> None:
    turns = merge_turns(first, second)

    lines = turns_text(turns).split("\n") if turns else []

    assert len(lines) == len(turns)
    assert all(line.startswith(f"{t.label}: ") for line, t in zip(lines, turns, strict=True))
