"""The private note's text and the exact JSON that posts it."""

from __future__ import annotations

import json
import math

import pytest

from adapter.helpdesk import format_duration, format_note, language_name, note_payload
from adapter.helpdesk.notes import CHATWOOT_MAX_CONTENT, MAX_NOTE_CHARS, TRUNCATED_MARKER
from tests.standins.chatwoot_server import MESSAGES_OP, spec_violations


def test_header_then_text() -> None:
    note = format_note("Hola, quería saber si mi pedido ya salió.", "es", 11.4)
    assert note == (
        "🎙️ **Transcript** (Spanish · es · 0:11)\n\nHola, quería saber si mi pedido ya salió."
    )


def test_filename_and_chunked() -> None:
    note = format_note("Hello there", "en", 3725, filename="part-1.mp3", chunked=True)
    header, marker, text = note.split("\n\n")
    assert header == "🎙️ **Transcript** (English · en · 1:02:05) · part-1.mp3"
    assert "in parts" in marker
    assert text == "Hello there"


def test_unknown_language() -> None:
    assert format_note("hm", None, 2).startswith("🎙️ **Transcript** (language unknown · 0:02)")


def test_language_name_given_by_the_engine_is_normalised() -> None:
    assert format_note("x", "Spanish", 1).startswith("🎙️ **Transcript** (Spanish · es · 0:01)")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_transcript_says_no_speech(text: str) -> None:
    note = format_note(text, "en", 4)
    assert note.endswith("_No speech detected._")


def test_markdown_in_speech_is_escaped() -> None:
    note = format_note("# not a heading\n- not a list\n1. nor this [link](http://x) <b>", "en", 1)
    body = note.split("\n\n", 1)[1]
    assert body.splitlines() == [
        "\\# not a heading",
        "\\- not a list",
        "1\\. nor this \\[link\\](http://x) \\<b\\>",
    ]


def test_filename_is_one_line_and_escaped() -> None:
    note = format_note("x", "en", 1, filename="a\nb_[c].ogg")
    assert note.splitlines()[0].endswith("· a b\\_\\[c\\].ogg")


def test_long_transcript_is_truncated_below_chatwoots_limit() -> None:
    note = format_note("word " * 60_000, "en", 3600)
    assert len(note) <= MAX_NOTE_CHARS < CHATWOOT_MAX_CONTENT
    assert note.endswith(TRUNCATED_MARKER)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00"),
        (0.4, "0:00"),
        (11.4, "0:11"),
        (59.6, "1:00"),
        (61, "1:01"),
        (3600, "1:00:00"),
        (-3, "0:00"),
        (math.nan, "0:00"),
        (math.inf, "0:00"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_note_payload_is_exactly_the_contract() -> None:
    note = format_note("Olá", "pt", 11.236)
    payload = note_payload(
        note, message_id=90817, attachment_id=55120, language="pt", duration=11.236
    )
    assert payload == {
        "content": note,
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {
            "in_reply_to": 90817,
            "transcriber": {"attachment_id": 55120, "language": "pt", "duration": 11.24},
        },
    }
    assert json.loads(json.dumps(payload)) == payload
    assert spec_violations(MESSAGES_OP, payload) == []


def test_note_payload_unknown_language_is_null() -> None:
    payload = note_payload("x", message_id=1, attachment_id=2, language=None, duration=math.nan)
    assert payload["content_attributes"]["transcriber"] == {
        "attachment_id": 2,
        "language": None,
        "duration": 0.0,
    }
    assert spec_violations(MESSAGES_OP, payload) == []


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("es", "Spanish"),
        ("pt", "Portuguese"),
        ("ja", "Japanese"),
        ("yue", "Chinese"),
        ("EN-us", "English"),
        ("xx", "Unknown language"),
        (None, "Unknown language"),
        ("!!", "Unknown language"),
    ],
)
def test_language_name(code: str | None, name: str) -> None:
    assert language_name(code) == name
