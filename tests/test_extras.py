"""adapter.extras: what a note holds beyond the transcript, decided without I/O."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from adapter.engines.base import Segment, Transcript
from adapter.extras import Extras, parse_speakers

CARD = "4111 1111 1111 1111"  # Luhn-valid
NOT_A_CARD = "4111 1111 1111 1112"  # one digit off: Luhn fails


def test_a_summary_is_due_from_the_minimum_on() -> None:
    wanted = Extras(summary_min_seconds=60)
    assert not wanted.wants_summary(59.9)
    assert wanted.wants_summary(60)
    assert wanted.wants_summary(1500)
    assert not wanted.wants_summary(None)
    assert not Extras().wants_summary(10_000)  # 0: no summaries


def test_translation_only_from_another_known_language() -> None:
    wanted = Extras(translate_to="en")
    assert wanted.wants_translation("es")
    assert not wanted.wants_translation("en")
    assert not wanted.wants_translation(None)  # unknown: nothing to say it differs
    assert not Extras().wants_translation("es")


def test_the_route_of_a_translation() -> None:
    to_english, to_german = Extras(translate_to="en"), Extras(translate_to="de")
    assert to_english.translation_route("es", chat=True) == "chat"
    assert to_english.translation_route("es", chat=False) == "engine"
    assert to_german.translation_route("es", chat=True) == "chat"
    assert to_german.translation_route("es", chat=False) == "unavailable"
    assert to_german.translation_route("de", chat=False) == "none"
    assert to_english.engine_translates(chat=False)
    assert not to_english.engine_translates(chat=True)
    assert not to_german.engine_translates(chat=False)


def test_masking_follows_the_account() -> None:
    text = f"card {CARD}, other {NOT_A_CARD}, mail ana@example.com"
    assert Extras().mask(text) == text
    masked = Extras(redact=frozenset({"cards", "email"})).mask(text)
    assert "1111 1111 1111 1111" not in masked and "ana@example.com" not in masked
    assert NOT_A_CARD in masked  # fails Luhn: stays
    assert "[card ••••1111]" in masked and "[e-mail]" in masked


def test_a_number_said_across_two_segments_is_masked_in_both() -> None:
    segments = (
        Segment(0.0, 2.0, "my card is 4111 1111"),
        Segment(2.0, 4.0, "1111 1111 thanks"),
        Segment(4.0, 6.0, "write to ana@example.com"),
    )
    transcript = Transcript(" ".join(s.text for s in segments), "en", 6.0, segments)
    masked = Extras(redact=frozenset({"cards", "email"})).mask_transcript(transcript)
    assert [s.text for s in masked.segments] == [
        "my card is [card ••••1111]",
        "thanks",
        "write to [e-mail]",
    ]
    assert [(s.start, s.end) for s in masked.segments] == [(0, 2), (2, 4), (4, 6)]
    assert "4111" not in masked.text and "ana@" not in masked.text


@given(
    st.lists(st.text(alphabet="abc 0123456789-", max_size=20), max_size=6),
    st.integers(min_value=0, max_value=6),
)
def test_no_card_survives_however_the_segments_cut_it(words: list[str], at: int) -> None:
    pieces = [*words[:at], *CARD.split(" "), *words[at:]]
    segments = tuple(Segment(float(i), float(i + 1), p) for i, p in enumerate(pieces))
    transcript = Transcript(" ".join(pieces), "en", float(len(pieces)), segments)
    masked = Extras(redact=frozenset({"cards"})).mask_transcript(transcript)
    joined = " ".join(s.text for s in masked.segments)
    assert not re.search(r"4111\D{0,3}1111\D{0,3}1111\D{0,3}1111", joined)
    assert "4111 1111 1111 1111" not in masked.text


def test_speakers_as_stored() -> None:
    assert parse_speakers(None) is None
    assert parse_speakers("") is None
    assert parse_speakers("Agent,Customer") == ("Agent", "Customer")
