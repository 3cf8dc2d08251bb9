"""A note with more than the transcript: the summary, the translation and speaker turns
(sans-I/O), each escaped, the whole still one note our reconciler recognises."""

from __future__ import annotations

import re

import pytest

from adapter.helpdesk.notes import (
    MAX_NOTE_CHARS,
    TRUNCATED_MARKER,
    NoteTurn,
    format_note,
    format_summary,
    note_reference,
)

SPANISH = "Hola, quería saber si mi pedido ya salió."
ENGLISH = "Hello, I wanted to know whether my order has shipped."


def test_summary_translation_then_the_original() -> None:
    note = format_note(
        SPANISH,
        "es",
        151,
        filename="call.ogg",
        summary="- The customer asks about order 48213.\n- Promised: a call back on Friday.",
        translation=ENGLISH,
        translation_language="en",
    )
    assert note == (
        "🎙️ **Transcript** (Spanish · es · 2:31) · call.ogg\n\n"
        "**Summary**\n- The customer asks about order 48213.\n- Promised: a call back on Friday."
        "\n\n**Translation** (English · en)\n\n"
        f"{ENGLISH}\n\n"
        "**Original** (Spanish · es)\n\n"
        f"{SPANISH}"
    )


def test_without_extras_the_note_is_as_before() -> None:
    plain = format_note(SPANISH, "es", 11)
    assert plain == format_note(SPANISH, "es", 11, summary="  ", translation="", turns=())


@pytest.mark.parametrize(
    ("summary", "items"),
    [
        ("* one\n* two", ["- one", "- two"]),
        ("1. one\n2) two", ["- one", "- two"]),
        ("• one\n\n   \n- two", ["- one", "- two"]),
        ("plain line", ["- plain line"]),
    ],
)
def test_a_summary_is_always_plain_bullets(summary: str, items: list[str]) -> None:
    assert format_summary(summary).splitlines() == items


@pytest.mark.parametrize(
    "hostile",
    [
        "- [click](https://evil.example/phish)",
        "- ![x](https://evil.example/pixel.png)",
        "- <img src=x onerror=alert(1)>",
        "# Heading\n## another",
        "- **bold** `code` | table |",
    ],
)
def test_what_the_chat_model_writes_stays_inert(hostile: str) -> None:
    shown = format_summary(hostile)
    # what Markdown would act on: an unescaped "](", "<", "#" at a line's start, "**", "`"
    for live in (r"(?<!\\)\]\(", r"(?<!\\)<", r"(?m)^#", r"(?<!\\)\*\*", r"(?<!\\)`"):
        assert not re.search(live, shown), (live, shown)
    assert all(line.startswith("- ") for line in shown.splitlines())


def test_speaker_turns_are_paragraphs_with_the_label_and_time() -> None:
    turns = [
        NoteTurn("Agent", 0.4, "Good afternoon, how can I help?"),
        NoteTurn("Customer", 3.2, "My parcel never came. [link](x)"),
        NoteTurn("**Agent**", 65.0, "I will check."),
    ]
    note = format_note("ignored when there are turns", "en", 70, turns=turns)
    body = note.split("\n\n")[1:]
    assert body == [
        "**Agent** (0:00): Good afternoon, how can I help?",
        "**Customer** (0:03): My parcel never came. \\[link\\](x)",
        "**\\*\\*Agent\\*\\*** (1:05): I will check.",
    ]


def test_a_translated_call_shows_the_translated_turns_as_lines() -> None:
    turns = [NoteTurn("Agent", 0, "Buenas tardes"), NoteTurn("Customer", 2, "Hola")]
    note = format_note(
        "Agent: Buenas tardes\nCustomer: Hola",
        "es",
        4,
        translation="Agent: Good afternoon\nCustomer: Hello",
        translation_language="en",
        turns=turns,
    )
    assert "Agent: Good afternoon\n\nCustomer: Hello\n\n**Original** (Spanish · es)" in note
    assert note.endswith("**Agent** (0:00): Buenas tardes\n\n**Customer** (0:02): Hola")


def test_a_long_note_with_extras_is_cut_below_the_limit() -> None:
    long = "palabra " * 30_000
    note = format_note(long, "es", 3000, summary="- s", translation=long, translation_language="en")
    assert len(note) <= MAX_NOTE_CHARS
    assert note.endswith(TRUNCATED_MARKER)


def test_a_note_with_extras_is_still_recognised_as_ours() -> None:
    note = format_note(SPANISH, "es", 151, filename="call.ogg", summary="- s", translation=ENGLISH)
    found = note_reference({"private": True, "content": note, "content_attributes": {}})
    assert found is not None and found.filename == "call.ogg"
