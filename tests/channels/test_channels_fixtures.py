"""Every shared Chatwoot fixture payload with the decision it must produce."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from channels import AudioAttachment, Decision, decide

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "chatwoot"


@dataclass(frozen=True)
class Expected:
    status: str
    reason: str
    channel: str
    conversation_id: int
    message_id: int
    attachments: tuple[tuple[int, str, str, str], ...] = ()  # id, filename, extension, type


EXPECTED: dict[str, Expected] = {
    "whatsapp_voice_note_ogg_opus.json": Expected(
        "accepted",
        "audio",
        "whatsapp",
        318,
        90817,
        ((55120, "voice_note.ogg", "ogg", "audio/opus"),),
    ),
    "email_mp3_with_text.json": Expected(
        "accepted",
        "audio",
        "email",
        319,
        90818,
        ((55121, "voicemail-2026-06-16.mp3", "mp3", "audio/mpeg"),),
    ),
    "webwidget_audio_upload.json": Expected(
        "accepted",
        "audio",
        "web_widget",
        320,
        90819,
        ((55122, "New Recording 12.m4a", "m4a", "audio/mp4"),),
    ),
    "telegram_voice.json": Expected(
        "accepted",
        "audio",
        "telegram",
        321,
        90820,
        ((55123, "file_37.oga", "oga", "audio/opus"),),
    ),
    "api_channel_audio.json": Expected(
        "accepted",
        "audio",
        "api",
        322,
        90821,
        ((55124, "ivr-call-20260616-0042.mp3", "mp3", "audio/mpeg"),),
    ),
    "two_audio_attachments_email.json": Expected(
        "accepted",
        "audio",
        "email",
        323,
        90822,
        (
            (55125, "part-1.mp3", "mp3", "audio/mpeg"),
            (55126, "part-2.m4a", "m4a", "audio/mp4"),
        ),
    ),
    "outgoing_agent_audio_whatsapp.json": Expected(
        "ignored", "not_incoming", "whatsapp", 318, 90823
    ),
    "text_only_whatsapp.json": Expected("ignored", "no_audio", "whatsapp", 324, 90824),
}


def load(name: str) -> dict[str, object]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_fixture_has_an_expectation() -> None:
    payloads = {p.name for p in FIXTURES.glob("*.json")} - {"swagger.json"}
    assert payloads == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_decision(name: str) -> None:
    expected = EXPECTED[name]
    decision = decide(load(name))
    assert isinstance(decision, Decision)
    assert decision.status == expected.status
    assert decision.reason == expected.reason
    assert decision.event == "message_created"
    assert decision.channel == expected.channel
    assert decision.conversation_id == expected.conversation_id
    assert decision.message_id == expected.message_id
    got = tuple(
        (a.attachment_id, a.filename, a.extension, a.content_type) for a in decision.attachments
    )
    assert got == expected.attachments


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.attachments))
def test_accepted_attachment_carries_url_and_size(name: str) -> None:
    payload = load(name)
    raw = {a["id"]: a for a in payload["attachments"]}  # type: ignore[union-attr,index]
    for attachment in decide(payload).attachments:
        assert isinstance(attachment, AudioAttachment)
        source = raw[attachment.attachment_id]
        assert attachment.url == source["data_url"]
        assert attachment.file_size == source["file_size"]


def test_two_audio_email_excludes_the_pdf() -> None:
    decision = decide(load("two_audio_attachments_email.json"))
    assert [a.attachment_id for a in decision.attachments] == [55125, 55126]
    assert 55127 not in {a.attachment_id for a in decision.attachments}


def test_fixture_as_message_updated_is_accepted_too() -> None:
    payload = load("whatsapp_voice_note_ogg_opus.json")
    payload["event"] = "message_updated"
    decision = decide(payload)
    assert (decision.status, decision.event) == ("accepted", "message_updated")
