"""Channel: the audio rule every channel shares, and how each channel names its audio."""

from __future__ import annotations

import pytest

from channels import decide
from tests.channels.payloads import attachment, payload, summary

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


# --- per channel: names when nothing in the payload gives an extension -----------------


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
