"""Constructed variants of the fixtures: per-channel audio shapes and every ignore reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from channels import decide

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "chatwoot"
BASE = json.loads((FIXTURES / "whatsapp_voice_note_ogg_opus.json").read_text(encoding="utf-8"))
REDIRECT = "https://chatwoot.example.test/rails/active_storage/blobs/redirect/abc--def/"


def attachment(
    attachment_id: int = 700,
    *,
    file_type: Any = "audio",
    content_type: Any = "audio/opus",
    extension: Any = None,
    filename: str = "voice_note",
    data_url: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": attachment_id,
        "message_id": BASE["id"],
        "file_type": file_type,
        "account_id": 3,
        "extension": extension,
        "content_type": content_type,
        "data_url": data_url if data_url is not None else REDIRECT + filename,
        "thumb_url": "",
        "file_size": 1234,
        **extra,
    }


def payload(
    *attachments: dict[str, Any], channel: str = "Channel::Whatsapp", **top: Any
) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    body["conversation"]["channel"] = channel
    body["attachments"] = list(attachments)
    body["conversation"]["messages"][0]["attachments"] = list(attachments)
    body.update(top)
    return body


def summary(body: Any) -> tuple[str, str, list[tuple[int, str | None]]]:
    decision = decide(body)
    return (
        decision.status,
        decision.reason,
        [(a.attachment_id, a.extension) for a in decision.attachments],
    )


# --- per channel ---------------------------------------------------------------------------


def test_whatsapp_document_typed_file_with_audio_ogg() -> None:
    body = payload(attachment(file_type="file", content_type="audio/ogg", filename="PTT-2026"))
    assert summary(body) == ("accepted", "audio", [(700, "ogg")])


def test_whatsapp_voice_note_without_extension_is_named_ogg() -> None:
    decision = decide(payload(attachment(content_type="audio/opus", filename="voice_note")))
    assert decision.status == "accepted"
    (audio,) = decision.attachments
    assert (audio.filename, audio.extension, audio.content_type) == (
        "voice_note",
        "ogg",
        "audio/opus",
    )


def test_whatsapp_document_mp3_labelled_octet_stream() -> None:
    body = payload(
        attachment(file_type="file", content_type="application/octet-stream", filename="a.MP3")
    )
    assert summary(body) == ("accepted", "audio", [(700, "mp3")])


def test_twilio_whatsapp_media_sid_without_extension() -> None:
    body = payload(
        attachment(content_type="audio/ogg", filename="ME0123456789abcdef"),
        channel="Channel::TwilioSms",
    )
    body["conversation"]["contact_inbox"]["source_id"] = "whatsapp:+5511987654321"
    decision = decide(body)
    assert (decision.channel, decision.status) == ("whatsapp", "accepted")
    assert decision.attachments[0].extension == "ogg"


def test_telegram_voice_without_extension_is_named_oga() -> None:
    body = payload(attachment(content_type="audio/opus"), channel="Channel::Telegram")
    assert summary(body) == ("accepted", "audio", [(700, "oga")])


@pytest.mark.parametrize("channel", ["Channel::Sms", "Channel::TwilioSms"])
def test_sms_amr_file(channel: str) -> None:
    body = payload(
        attachment(file_type="file", content_type="application/octet-stream", filename="memo.amr"),
        channel=channel,
    )
    decision = decide(body)
    assert (decision.channel, decision.status) == ("sms", "accepted")
    assert decision.attachments[0].extension == "amr"


@pytest.mark.parametrize(
    ("content_type", "extension"), [("audio/amr", "amr"), ("audio/3gpp", "3gp")]
)
def test_sms_mms_without_extension(content_type: str, extension: str) -> None:
    body = payload(
        attachment(content_type=content_type, filename="ME0123"), channel="Channel::TwilioSms"
    )
    assert summary(body) == ("accepted", "audio", [(700, extension)])


def test_sms_3gp_labelled_video_is_not_audio() -> None:
    body = payload(
        attachment(file_type="video", content_type="video/3gpp", filename="memo.3gp"),
        channel="Channel::Sms",
    )
    assert summary(body)[:2] == ("ignored", "no_audio")


@pytest.mark.parametrize("channel", ["Channel::FacebookPage", "Channel::Instagram"])
def test_messenger_voice_clip_mp4_typed_audio(channel: str) -> None:
    body = payload(
        attachment(content_type="video/mp4", filename="audioclip-1700000000000-1234"),
        channel=channel,
    )
    assert summary(body) == ("accepted", "audio", [(700, "mp4")])


@pytest.mark.parametrize("channel", ["Channel::FacebookPage", "Channel::Instagram"])
def test_video_mp4_typed_video_is_not_audio(channel: str) -> None:
    body = payload(
        attachment(
            file_type="video", content_type="video/mp4", extension="mp4", filename="clip.mp4"
        ),
        channel=channel,
    )
    assert summary(body)[:2] == ("ignored", "no_audio")


def test_widget_m4a_upload_without_extension() -> None:
    body = payload(attachment(content_type="audio/mp4"), channel="Channel::WebWidget")
    assert summary(body) == ("accepted", "audio", [(700, "m4a")])


def test_line_audio_without_extension() -> None:
    body = payload(attachment(content_type="audio/x-m4a"), channel="Channel::Line")
    decision = decide(body)
    assert (decision.channel, decision.attachments[0].extension) == ("line", "m4a")


@pytest.mark.parametrize(
    ("channel", "content_type", "extension"),
    [
        ("Channel::Email", "audio/mpeg", "mp3"),
        ("Channel::Api", "audio/wav", "wav"),
        ("Channel::SomethingNew", "audio/flac", "flac"),
        ("Channel::Api", "audio/x-unknown", None),
    ],
)
def test_common_hints(channel: str, content_type: str, extension: str | None) -> None:
    assert summary(payload(attachment(content_type=content_type), channel=channel)) == (
        "accepted",
        "audio",
        [(700, extension)],
    )


def test_unknown_channel_is_other_and_still_decided() -> None:
    decision = decide(payload(attachment(), channel="Channel::Voice"))
    assert (decision.channel, decision.status) == ("other", "accepted")


# --- the audio rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_type", "content_type", "extension", "filename", "audio"),
    [
        ("audio", None, None, "x", True),
        ("image", "audio/ogg", None, "x", True),  # content type alone is enough
        ("file", "application/octet-stream", "caf", "x", True),
        ("file", None, None, "memo.WEBM", True),
        ("file", None, None, "x.oga", True),
        ("file", None, None, "x.opus", True),
        ("file", None, None, "x.pdf", False),
        ("file", None, None, "ogg", False),  # a name, not an extension
        ("image", "image/png", None, "x.ogg", False),  # extension counts on "file" only
        ("video", "video/mp4", "mp4", "x.mp4", False),
        ("location", None, None, "x", False),
        (None, None, "mp3", "x.mp3", False),
    ],
)
def test_audio_rule(
    file_type: str | None,
    content_type: str | None,
    extension: str | None,
    filename: str,
    audio: bool,
) -> None:
    body = payload(
        attachment(
            file_type=file_type, content_type=content_type, extension=extension, filename=filename
        )
    )
    assert (decide(body).status == "accepted") is audio


def test_payload_extension_is_normalised_and_preferred_over_filename() -> None:
    body = payload(
        attachment(file_type="file", extension=".OGG", filename="x.bin", content_type=None)
    )
    assert summary(body) == ("accepted", "audio", [(700, "ogg")])


def test_content_type_parameters_are_dropped() -> None:
    decision = decide(payload(attachment(content_type="Audio/OGG; codecs=opus")))
    assert decision.attachments[0].content_type == "audio/ogg"


def test_filename_is_percent_decoded_and_cannot_climb() -> None:
    decision = decide(payload(attachment(filename="..%2F..%2Fetc%2Fvoice%20n%C3%B3te.ogg")))
    assert decision.attachments[0].filename == "voice nóte.ogg"


def test_duplicate_attachment_ids_are_kept_once() -> None:
    body = payload(attachment(700), attachment(700, filename="again.ogg"), attachment(701))
    assert [a for a, _ in summary(body)[2]] == [700, 701]


def test_pdf_next_to_audio_is_excluded() -> None:
    pdf = attachment(
        702,
        file_type="file",
        content_type="application/pdf",
        extension="pdf",
        filename="invoice.pdf",
    )
    assert [a for a, _ in summary(payload(pdf, attachment(700)))[2]] == [700]


# --- ignore reasons ------------------------------------------------------------------------


def test_message_updated_is_accepted() -> None:
    decision = decide(payload(attachment(), event="message_updated"))
    assert (decision.status, decision.event) == ("accepted", "message_updated")


@pytest.mark.parametrize(
    "event",
    [
        "conversation_updated",
        "conversation_created",
        "webwidget_triggered",
        "",
        None,
        3,
        "MESSAGE_CREATED",
    ],
)
def test_other_events_are_ignored(event: Any) -> None:
    decision = decide(payload(attachment(), event=event))
    assert (decision.status, decision.reason) == ("ignored", "event")
    assert decision.conversation_id == 318  # ids still reported for logs


def test_conversation_updated_event_without_message_shape() -> None:
    body = {
        "event": "conversation_updated",
        "id": 318,
        "channel": "Channel::Whatsapp",
        "changed_attributes": [{"custom_attributes": {}}],
    }
    decision = decide(body)
    assert (decision.status, decision.reason, decision.channel) == ("ignored", "event", "other")


def test_private_message_is_ignored() -> None:
    assert summary(payload(attachment(), private=True))[:2] == ("ignored", "private")


@pytest.mark.parametrize("value", ["true", "false", 1, {}, []])
def test_private_fails_closed_on_odd_values(value: Any) -> None:
    assert summary(payload(attachment(), private=value))[:2] == ("ignored", "private")


@pytest.mark.parametrize("value", [False, None])
def test_private_false_or_null_is_public(value: Any) -> None:
    assert summary(payload(attachment(), private=value))[0] == "accepted"


def test_private_absent_is_public() -> None:
    body = payload(attachment())
    del body["private"]
    assert summary(body)[0] == "accepted"


@pytest.mark.parametrize("message_type", ["incoming", 0])
def test_incoming_string_or_integer(message_type: Any) -> None:
    assert summary(payload(attachment(), message_type=message_type))[0] == "accepted"


@pytest.mark.parametrize(
    "message_type",
    ["outgoing", "activity", "template", 1, 2, 3, False, True, "Incoming", None, 0.0, "0"],
)
def test_not_incoming(message_type: Any) -> None:
    assert summary(payload(attachment(), message_type=message_type))[:2] == (
        "ignored",
        "not_incoming",
    )


def test_own_note_echo_is_ignored() -> None:
    own = {
        "in_reply_to": 90817,
        "transcriber": {"attachment_id": 55120, "language": "pt", "duration": 11.2},
    }
    body = payload(attachment(), content_attributes=own, message_type="outgoing", private=True)
    assert summary(body)[:2] == ("ignored", "own_note")


def test_own_note_marker_wins_even_on_an_incoming_public_message() -> None:
    body = payload(attachment(), content_attributes={"transcriber": {}})
    assert summary(body)[:2] == ("ignored", "own_note")


def test_own_note_marker_in_the_conversation_copy() -> None:
    body = payload(attachment(), content_attributes=None)
    body["conversation"]["messages"][0]["content_attributes"] = {"transcriber": {}}
    assert summary(body)[:2] == ("ignored", "own_note")


def test_outgoing_agent_recording_is_ignored() -> None:
    body = payload(attachment(), message_type="outgoing")
    body["sender"] = {"id": 7, "name": "Priya Raman", "type": "user"}
    assert summary(body)[:2] == ("ignored", "not_incoming")


def test_text_only_is_no_audio() -> None:
    body = payload()
    del body["attachments"]
    del body["conversation"]["messages"][0]["attachments"]
    assert summary(body)[:2] == ("ignored", "no_audio")


# --- where the attachments are -------------------------------------------------------------


def test_falls_back_to_the_conversation_copy_of_the_message() -> None:
    body = payload(attachment())
    del body["attachments"]
    assert summary(body) == ("accepted", "audio", [(700, "ogg")])


def test_fallback_requires_the_same_message_id() -> None:
    body = payload(attachment())
    del body["attachments"]
    body["conversation"]["messages"][0]["id"] = 1
    assert summary(body)[:2] == ("ignored", "no_audio")


def test_top_level_attachments_are_preferred() -> None:
    body = payload(attachment(700))
    body["conversation"]["messages"][0]["attachments"] = [attachment(999)]
    assert [a for a, _ in summary(body)[2]] == [700]


# --- hostile values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data_url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://chatwoot.example.test/a.ogg",
        "//chatwoot.example.test/a.ogg",
        "/rails/active_storage/blobs/redirect/x/a.ogg",
        "https://user:pw@chatwoot.example.test/a.ogg",
        "https://chatwoot.example.test:99999/a.ogg",
        "http://[::1/a.ogg",
        "https://chatwoot.example.test/a b.ogg",
        "https://chatwoot.example.test/a\n.ogg",
        "https:///a.ogg",
        "",
        42,
        None,
        ["https://chatwoot.example.test/a.ogg"],
        "https://chatwoot.example.test/" + "a" * 9000,
    ],
)
def test_unusable_data_url_drops_the_attachment(data_url: Any) -> None:
    bad = attachment(700, data_url=data_url)
    bad["data_url"] = data_url
    good = attachment(701)
    assert [a for a, _ in summary(payload(bad, good))[2]] == [701]
    assert summary(payload(bad))[:2] == ("ignored", "no_audio")


@pytest.mark.parametrize("bad_id", [0, -1, True, False, "700", 7.0, None, 2**63, 2**200])
def test_unusable_attachment_id_drops_the_attachment(bad_id: Any) -> None:
    assert summary(payload(attachment(bad_id)))[:2] == ("ignored", "no_audio")


def test_largest_bigint_id_is_fine() -> None:
    assert summary(payload(attachment(2**63 - 1)))[2] == [(2**63 - 1, "ogg")]


@pytest.mark.parametrize("bad_id", [0, -5, True, "318", None, 2**64])
def test_unusable_conversation_id_is_malformed(bad_id: Any) -> None:
    body = payload(attachment())
    body["conversation"]["id"] = bad_id
    decision = decide(body)
    assert (decision.status, decision.reason, decision.conversation_id) == (
        "ignored",
        "malformed",
        None,
    )


@pytest.mark.parametrize("bad_id", [0, -5, False, "90817", None, 1.5])
def test_unusable_message_id_is_malformed(bad_id: Any) -> None:
    body = payload(attachment(), id=bad_id)
    assert summary(body)[:2] == ("ignored", "malformed")


@pytest.mark.parametrize("shape", [None, "x", 3, [], ["a"], {"a": 1}])
def test_attachment_lists_of_the_wrong_shape(shape: Any) -> None:
    body = payload(attachments=shape)
    body["conversation"]["messages"] = shape
    assert summary(body)[:2] == ("ignored", "no_audio")


@pytest.mark.parametrize("conversation", [None, "318", 318, [], {"id": "318"}])
def test_conversation_of_the_wrong_shape(conversation: Any) -> None:
    decision = decide(payload(attachment(), conversation=conversation))
    assert decision.status == "ignored"
    assert decision.channel == "other"


def test_file_size_is_kept_only_when_sane() -> None:
    decision = decide(
        payload(
            attachment(700, file_size=-1),
            attachment(701, file_size=True),
            attachment(702, file_size=10),
        )
    )
    assert [a.file_size for a in decision.attachments] == [None, None, 10]


@pytest.mark.parametrize("body", [None, [], "x", 3, b"{}"])
def test_not_a_mapping(body: Any) -> None:
    decision = decide(body)
    assert (decision.status, decision.reason) == ("ignored", "malformed")


def test_huge_event_string_is_cut() -> None:
    decision = decide(payload(attachment(), event="x" * 10_000))
    assert decision.event is not None
    assert len(decision.event) <= 64


def test_a_bug_becomes_an_ignored_decision_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import channels._decide as module

    def broken(payload: object) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(module, "decide_strict", broken)
    decision = decide(payload(attachment()))
    assert (decision.status, decision.reason) == ("ignored", "malformed")
    assert "channels.decide failed" in caplog.text
