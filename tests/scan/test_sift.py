"""Sifting one conversation's messages (``adapter.scan.sift``): the webhooks' rules, our own
notes as proof of work done, hostile entries."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.helpdesk.notes import format_note, note_payload
from adapter.scan.sift import Counts, sift

CONVERSATION = {"id": 7, "inbox_id": 2, "meta": {"channel": "Channel::Whatsapp"}}
UNTIL = 2_000_000_000.0


def audio(attachment_id: int, name: str = "voice.oga", **extra: Any) -> dict[str, Any]:
    return {
        "id": attachment_id,
        "file_type": "audio",
        "extension": None,
        "content_type": "audio/ogg",
        "data_url": f"https://chat.example.test/rails/active_storage/blobs/redirect/x/{name}",
        "file_size": 1000 + attachment_id,
        **extra,
    }


def message(message_id: int, *attachments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "message_type": 0,
        "private": False,
        "created_at": 1_800_000_000 + message_id,
        "content": None,
        "attachments": list(attachments),
        **extra,
    }


def our_note(message_id: int, attachment_id: int, filename: str, *, keep_mark: bool) -> dict:
    payload = note_payload(
        format_note("hola", "es", 3.0, filename=filename),
        message_id=10,
        attachment_id=attachment_id,
        language="es",
        duration=3.0,
    )
    attributes: dict[str, Any] = dict(payload["content_attributes"])
    if not keep_mark:  # what a real Chatwoot stores: only the keys it knows
        attributes.pop("transcriber")
    return {
        "id": message_id,
        "message_type": 1,
        "private": True,
        "created_at": 1_800_000_100,
        "content": payload["content"],
        "content_attributes": attributes,
        "attachments": [],
    }


def test_incoming_audio_is_found_with_its_inbox_and_channel() -> None:
    sifted = sift([message(10, audio(100))], CONVERSATION, until=UNTIL)
    (decision,) = sifted.audio
    assert (decision.conversation_id, decision.message_id) == (7, 10)
    assert decision.channel == "whatsapp"
    assert decision.inbox_id == 2
    assert [a.attachment_id for a in decision.attachments] == [100]
    assert sifted.counts == Counts(messages=1, audio=1)


def test_outgoing_private_activity_and_text_messages_give_nothing() -> None:
    messages = [
        message(1, audio(11), message_type=1),
        message(2, audio(12), private=True),
        message(3, audio(13), message_type=2),
        message(4, audio(14), message_type=3),
        message(5),
        message(6, audio(16), message_type="outgoing"),
    ]
    sifted = sift(messages, CONVERSATION, until=UNTIL)
    assert sifted.audio == ()
    assert sifted.counts == Counts(messages=6)


def test_messages_after_the_window_are_left_for_the_next_scan() -> None:
    late = message(10, audio(100), created_at=int(UNTIL) + 1)
    sifted = sift([late], CONVERSATION, until=UNTIL)
    assert sifted.audio == () and sifted.counts == Counts()


@pytest.mark.parametrize("keep_mark", [True, False], ids=["with-mark", "chatwoot-dropped-it"])
def test_audio_our_note_answers_is_known(keep_mark: bool) -> None:
    messages = [message(10, audio(100)), our_note(11, 100, "voice.oga", keep_mark=keep_mark)]
    sifted = sift(messages, CONVERSATION, until=UNTIL)
    assert sifted.audio == ()
    assert sifted.counts == Counts(messages=2, audio=1, known=1)


def test_our_note_written_after_the_window_still_marks_its_audio_known() -> None:
    note = {**our_note(11, 100, "voice.oga", keep_mark=False), "created_at": int(UNTIL) + 60}
    sifted = sift([message(10, audio(100)), note], CONVERSATION, until=UNTIL)
    assert sifted.audio == ()
    assert sifted.counts == Counts(messages=1, audio=1, known=1)
    assert [a.attachment_id for d in sifted.noted for a in d.attachments] == [100]


def test_two_notes_for_one_attachment_do_not_cover_its_sibling() -> None:
    messages = [
        message(10, audio(100, "first.m4a"), audio(101, "second.m4a")),
        our_note(11, 100, "first.m4a", keep_mark=True),
        our_note(12, 100, "first.m4a", keep_mark=True),
    ]
    sifted = sift(messages, CONVERSATION, until=UNTIL)
    assert [a.attachment_id for d in sifted.audio for a in d.attachments] == [101]


def test_a_note_for_one_of_two_attachments_leaves_the_other() -> None:
    messages = [
        message(10, audio(100, "first.m4a"), audio(101, "second.m4a")),
        our_note(11, 100, "first.m4a", keep_mark=False),
    ]
    sifted = sift(messages, CONVERSATION, until=UNTIL)
    assert [a.attachment_id for d in sifted.audio for a in d.attachments] == [101]
    assert sifted.counts.known == 1


def test_someone_elses_private_note_is_not_ours() -> None:
    agent = {**our_note(11, 100, "voice.oga", keep_mark=False), "content": "call them back"}
    sifted = sift([message(10, audio(100)), agent], CONVERSATION, until=UNTIL)
    assert len(sifted.audio) == 1


def test_audio_without_a_data_url_is_skipped_with_a_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = audio(100)
    del broken["data_url"]
    with caplog.at_level(logging.WARNING):
        sifted = sift([message(10, broken)], CONVERSATION, until=UNTIL)
    assert sifted.audio == ()
    assert sifted.counts == Counts(messages=1, skipped=1)
    assert "without a usable data_url" in caplog.text


def test_a_message_without_an_id_is_skipped() -> None:
    sifted = sift([message(10, audio(100), id="ten")], CONVERSATION, until=UNTIL)
    assert sifted.audio == ()
    assert sifted.counts.skipped == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "message_type",
                    "private",
                    "created_at",
                    "attachments",
                    "content",
                    "content_attributes",
                ]
            ),
            JSON,
        ),
        max_size=5,
    ),
    st.dictionaries(st.text(max_size=8), JSON),
)
def test_any_messages_sift_without_raising(messages: list[dict], conversation: dict) -> None:
    sifted = sift(messages, conversation, until=UNTIL)
    assert sifted.counts.messages <= len(messages)


def test_a_message_gives_at_most_max_attachments(caplog: pytest.LogCaptureFixture) -> None:
    many = message(10, *(audio(100 + n, f"v{n}.oga") for n in range(40)))
    sifted = sift([many, message(11, audio(200))], CONVERSATION, until=UNTIL, max_attachments=15)
    first, second = sifted.audio
    assert [a.attachment_id for a in first.attachments] == list(range(100, 115))
    assert [a.attachment_id for a in second.attachments] == [200]
    assert sifted.counts == Counts(messages=2, audio=16)
    assert "40 audio attachments" in caplog.text and "139" in caplog.text
