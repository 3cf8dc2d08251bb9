"""A live stream's note (``adapter.helpdesk.notes``, pure): its header, its JSON (in reply to
nothing, ``transcriber.source`` = ``stream``), and that ``note_reference`` never takes it for
a voice note's note, with or without the attributes a real Chatwoot drops."""

from __future__ import annotations

import math

import pytest

from adapter.helpdesk.notes import (
    NOTE_HEADER,
    STREAM_NOTE_HEADER,
    format_note,
    note_payload,
    note_reference,
    stream_note_payload,
)


def test_the_stream_note_s_header_and_body() -> None:
    note = format_note(
        "Hola, <b>¿dónde</b> está mi pedido?", "spanish", 192.4, header=STREAM_NOTE_HEADER
    )
    header, _, body = note.partition("\n\n")
    assert header == "🎙️ **Live transcript** (Spanish · es · 3:12)"
    assert body == "Hola, \\<b\\>¿dónde\\</b\\> está mi pedido?"
    assert format_note("", None, 0, header=STREAM_NOTE_HEADER).endswith("_No speech detected._")


@pytest.mark.parametrize(
    ("language", "duration", "code", "seconds"),
    [("en", 12.345, "en", 12.35), ("English", math.nan, "en", 0.0), (None, 3.0, None, 3.0)],
)
def test_the_stream_note_s_json(
    language: str | None, duration: float, code: str | None, seconds: float
) -> None:
    assert stream_note_payload("NOTE", language=language, duration=duration) == {
        "content": "NOTE",
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {
            "transcriber": {"source": "stream", "language": code, "duration": seconds}
        },
    }


def test_a_stream_note_answers_no_audio() -> None:
    note = format_note("hello", "en", 5, header=STREAM_NOTE_HEADER)
    sent = {"private": True, **stream_note_payload(note, language="en", duration=5)}
    stored = {"id": 9, "private": True, "content": note, "content_attributes": {}}
    assert note_reference(sent) is None
    assert note_reference(stored) is None  # Chatwoot dropped our attributes
    # a voice note's own note is still recognised, by its attributes or its header
    voice = format_note("hello", "en", 5, filename="a.ogg")
    assert voice.startswith(NOTE_HEADER)
    body = note_payload(voice, message_id=7, attachment_id=8, language="en", duration=5)
    reference = note_reference({"private": True, **body})
    assert reference is not None and reference.attachment_id == 8
    reference = note_reference(
        {"private": True, "content": voice, "content_attributes": {"in_reply_to": 7}}
    )
    assert reference is not None and (reference.in_reply_to, reference.filename) == (7, "a.ogg")
