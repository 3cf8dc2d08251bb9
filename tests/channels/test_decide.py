"""decide(): every shared fixture, each ignore reason, malformed payloads, and any JSON at all."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels import AudioAttachment, Decision, _decide, decide
from channels._decide import decide_strict
from tests.channels import payloads
from tests.channels.payloads import PAYLOADS, attachment, load, payload, summary

# --- the shared fixtures -------------------------------------------------------------------


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


def test_every_fixture_has_an_expectation() -> None:
    assert set(payloads.NAMES) == set(EXPECTED)


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
    body = load(name)
    raw = {a["id"]: a for a in body["attachments"]}
    for audio in decide(body).attachments:
        assert isinstance(audio, AudioAttachment)
        source = raw[audio.attachment_id]
        assert audio.url == source["data_url"]
        assert audio.file_size == source["file_size"]


def test_two_audio_email_excludes_the_pdf() -> None:
    decision = decide(load("two_audio_attachments_email.json"))
    assert [a.attachment_id for a in decision.attachments] == [55125, 55126]
    assert 55127 not in {a.attachment_id for a in decision.attachments}


def test_fixture_as_message_updated_is_accepted_too() -> None:
    body = load("whatsapp_voice_note_ogg_opus.json")
    body["event"] = "message_updated"
    decision = decide(body)
    assert (decision.status, decision.event) == ("accepted", "message_updated")


# --- ignore reasons, where the attachments are, malformed payloads ---------------------------


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
    def broken(payload: object) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(_decide, "decide_strict", broken)
    decision = decide(payload(attachment()))
    assert (decision.status, decision.reason) == ("ignored", "malformed")
    assert "channels.decide failed" in caplog.text


# --- properties: any JSON ------------------------------------------------------------------

KNOWN_KEYS = [
    "event",
    "id",
    "message_type",
    "private",
    "content_attributes",
    "attachments",
    "conversation",
    "channel",
    "messages",
    "data_url",
    "file_type",
    "content_type",
    "extension",
    "file_size",
    "contact_inbox",
    "source_id",
    "additional_attributes",
    "type",
    "transcriber",
]
INTERESTING = [
    "message_created",
    "message_updated",
    "incoming",
    "outgoing",
    "audio",
    "file",
    "video",
    "audio/opus",
    "audio/",
    "video/mp4",
    "ogg",
    ".OGG",
    "Channel::Whatsapp",
    "Channel::TwilioSms",
    "Channel::FacebookPage",
    "whatsapp:+1",
    "instagram_direct_message",
    "https://chatwoot.example.test/a/b.ogg",
    "http://127.0.0.1/x",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https://[::1",
    "https://h:0/",
    "%2F..%2F",
    "",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(INTERESTING)
    | st.text(max_size=20)
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=30,
)
json_objects = st.dictionaries(keys, json_values, max_size=10)

#: hypothesis' default of 100 examples: 300 tripled the time and reached no more lines of channels/
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(decision: object) -> None:
    assert isinstance(decision, Decision)
    assert decision.status in ("accepted", "ignored")
    assert isinstance(decision.reason, str)
    assert decision.reason
    assert isinstance(decision.channel, str)
    assert decision.event is None or (isinstance(decision.event, str) and len(decision.event) <= 64)
    for value in (decision.conversation_id, decision.message_id):
        assert value is None or (type(value) is int and value > 0)
    if decision.status == "ignored":
        assert decision.attachments == ()
        return
    assert decision.reason == "audio"
    assert decision.conversation_id is not None
    assert decision.message_id is not None
    assert decision.attachments
    ids = [a.attachment_id for a in decision.attachments]
    assert len(ids) == len(set(ids))
    for audio in decision.attachments:
        assert type(audio.attachment_id) is int
        assert audio.attachment_id > 0
        parts = urlsplit(audio.url)
        assert parts.scheme in ("http", "https")
        assert parts.hostname
        assert audio.filename is None or "/" not in audio.filename
        assert audio.extension is None or audio.extension.isalnum()


@PROPERTY_SETTINGS
@given(json_objects)
def test_any_json_object(body: dict[str, Any]) -> None:
    check(decide_strict(body))


@PROPERTY_SETTINGS
@given(json_values)
def test_any_json_value(body: Any) -> None:
    check(decide_strict(body))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> Any:
    body = copy.deepcopy(draw(st.sampled_from(PAYLOADS)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        paths = [p for p in _paths(body) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return body


@PROPERTY_SETTINGS
@given(mutated_fixtures())
def test_mutated_fixtures(body: Any) -> None:
    check(decide_strict(body))


@PROPERTY_SETTINGS
@given(st.sampled_from(PAYLOADS), json_values)
def test_any_attachment_entry(body: Any, entry: Any) -> None:
    body = copy.deepcopy(body)
    body["attachments"] = [entry, *body.get("attachments", [])]
    check(decide_strict(body))
