"""The private notes' text (transcripts, and failure notes) and the exact JSON that posts them
(sans-I/O), and our notes recognised when Chatwoot returns them."""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any

import pytest

from adapter.helpdesk import format_duration, format_note, language_name, note_payload
from adapter.helpdesk.notes import (
    CHATWOOT_MAX_CONTENT,
    FAILED_SENTENCE,
    FAILURE_NOTE_HEADER,
    FAILURE_SENTENCES,
    MAX_NOTE_CHARS,
    NOTED_SKIPS,
    TRUNCATED_MARKER,
    UNDELIVERED_SENTENCE,
    NoteReference,
    failure_code,
    failure_note_payload,
    format_failure_note,
    header_filename,
    note_reference,
    owes_failure_note,
)
from adapter.scan.sift import sift
from tests.scan.test_sift import CONVERSATION, UNTIL, audio, message
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


# ─── failure notes ───────────────────────────────────────────────────────────────────────────


def test_failure_note_says_why_in_words_and_names_the_file() -> None:
    note = format_failure_note("too_large", filename="voice_note.ogg")
    assert note == (
        "🎙️ **Not transcribed** · voice\\_note.ogg\n\n"
        "The recording is too large to transcribe automatically. Please listen to it."
    )
    assert format_failure_note("too_large").startswith(f"{FAILURE_NOTE_HEADER}\n\n")


@pytest.mark.parametrize(
    "reason",
    [*sorted(NOTED_SKIPS), "engine_rejected", "bad_audio", "internal", "permanent", None],
)
def test_every_reason_gets_one_plain_sentence_without_its_code(reason: str | None) -> None:
    note = format_failure_note(reason)
    header, sentence = note.split("\n\n")
    assert header == FAILURE_NOTE_HEADER
    assert sentence.count(". ") == 1 and sentence.endswith(".")  # one sentence, and a request
    assert "Please" in sentence
    if reason and "_" in reason:
        assert reason not in note and reason.replace("_", "\\_") not in note
    expected = FAILURE_SENTENCES.get(reason or "", FAILED_SENTENCE)
    assert sentence == expected


def test_a_transcript_that_could_not_be_posted_says_so() -> None:
    note = format_failure_note("helpdesk_rejected", filename="a.ogg", transcribed=True)
    assert note.endswith(UNDELIVERED_SENTENCE)


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("[click](https://evil.example) **now** #1 <b>.ogg", None),  # escaped, see below
        ("a\x00b\x1b[31mc\x07.ogg", "a b \\[31mc .ogg"),
        ("invoice\u202egpj.ogg", "invoice gpj.ogg"),  # a right-to-left override
        ("line\u2028two\rthree\n.ogg", "line two three .ogg"),
        ("\x00\x01\u200b", ""),  # nothing visible: no name at all
    ],
    ids=["markdown", "control", "bidi", "separators", "invisible"],
)
def test_hostile_file_names_stay_one_inert_line(filename: str, shown: str | None) -> None:
    note = format_failure_note("not_audio", filename=filename)
    header, sentence = note.split("\n\n")
    assert sentence == FAILURE_SENTENCES["not_audio"]
    assert all(unicodedata.category(c)[0] != "C" for c in header)
    if shown is None:
        assert header.endswith("\\[click\\](https://evil.example) \\*\\*now\\*\\* \\#1 \\<b\\>.ogg")
    elif shown:
        assert header == f"{FAILURE_NOTE_HEADER} · {shown}"
    else:
        assert header == FAILURE_NOTE_HEADER


def test_a_very_long_file_name_is_cut() -> None:
    note = format_failure_note("too_short", filename="x" * 50_000 + ".ogg")
    header = note.split("\n\n")[0]
    assert header == f"{FAILURE_NOTE_HEADER} · {'x' * 120}"
    assert len(note) < 300


def test_failure_note_payload_is_exactly_the_contract() -> None:
    note = format_failure_note("no_key", filename="voice.oga")
    payload = failure_note_payload(note, message_id=90820, attachment_id=55123, error="no_key")
    assert payload == {
        "content": note,
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {
            "in_reply_to": 90820,
            "transcriber": {"attachment_id": 55123, "error": "no_key"},
        },
    }
    assert json.loads(json.dumps(payload)) == payload
    assert spec_violations(MESSAGES_OP, payload) == []


@pytest.mark.parametrize(
    ("outcome", "reason", "owed", "code"),
    [
        ("failed", "engine_rejected", True, "engine_rejected"),
        ("failed", None, True, "failed"),
        ("skipped", "not_audio", True, "not_audio"),
        ("skipped", "too_large", True, "too_large"),
        ("skipped", "too_short", True, "too_short"),
        ("skipped", "no_key", True, "no_key"),
        ("skipped", "budget", True, "budget"),
        ("skipped", "disabled", False, "disabled"),
        ("retry", "rate_limited", False, "rate_limited"),
    ],
)
def test_which_ends_owe_a_note_and_its_code(
    outcome: str, reason: str | None, owed: bool, code: str
) -> None:
    assert owes_failure_note(outcome, reason) is owed
    assert failure_code(outcome, reason) == code


def read_back(payload: Any, *, keep_mark: bool) -> dict[str, Any]:
    """A note as Chatwoot returns it; a real Chatwoot keeps only ``in_reply_to``."""
    attributes = dict(payload["content_attributes"])
    if not keep_mark:
        attributes.pop("transcriber")
    return {
        "id": 501,
        "message_type": 1,
        "private": True,
        "created_at": 1_800_000_100,
        "content": payload["content"],
        "content_attributes": attributes,
        "attachments": [],
    }


@pytest.mark.parametrize("keep_mark", [True, False])
def test_failure_notes_are_recognised_read_back(keep_mark: bool) -> None:
    name = "voice_[1].oga"
    note = format_failure_note("too_large", filename=name)
    payload = failure_note_payload(note, message_id=10, attachment_id=100, error="too_large")
    reference = note_reference(read_back(payload, keep_mark=keep_mark))
    if keep_mark:
        assert reference == NoteReference(10, 100, None)
    else:
        assert reference == NoteReference(10, None, header_filename(name))
    nameless = failure_note_payload(
        format_failure_note(None), message_id=10, attachment_id=100, error="failed"
    )
    assert note_reference(read_back(nameless, keep_mark=False)) == NoteReference(10, None, None)
    public = {**read_back(payload, keep_mark=keep_mark), "private": False}
    assert note_reference(public) is None


def test_audio_a_failure_note_answers_is_known_to_the_reconciler() -> None:
    """A lost database or a reinstall never transcribes it again."""
    name = "voice.oga"
    voice = message(10, audio(100, name))
    note = format_failure_note("too_large", filename=name)
    payload = failure_note_payload(note, message_id=10, attachment_id=100, error="too_large")
    sifted = sift([voice, read_back(payload, keep_mark=False)], CONVERSATION, until=UNTIL)
    assert sifted.audio == ()
    assert sifted.counts.known == 1
