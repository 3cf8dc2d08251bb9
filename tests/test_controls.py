"""``adapter.controls`` (pure): an account's inboxes, on-demand mode, minimum length and
language hints, over the contract's decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.controls import (
    LABEL_REASON,
    Controls,
    controls_of,
    decide_for,
    label_added,
    labelled,
    parse_inboxes,
    parse_languages,
)
from channels import decide
from tests.fixtures import FIXTURES

AUDIO = decide(json.loads((FIXTURES / "chatwoot" / "telegram_voice.json").read_text()))


def labels_changed(before: Any, now: Any, **extra: Any) -> dict[str, Any]:
    return {
        "event": "conversation_updated",
        "id": 321,
        "inbox_id": 14,
        "channel": "Channel::Telegram",
        "labels": now,
        "changed_attributes": [{"label_list": {"previous_value": before, "current_value": now}}],
        **extra,
    }


def test_the_fixture_is_audio_of_inbox_14() -> None:
    assert (AUDIO.status, AUDIO.inbox_id) == ("accepted", 14)


def test_every_inbox_and_auto_mode_change_nothing() -> None:
    assert Controls().admit(AUDIO, labelled=False) == AUDIO


def test_another_inbox_is_ignored() -> None:
    decision = Controls(inboxes=frozenset({5})).admit(AUDIO, labelled=True)
    assert (decision.status, decision.reason, decision.attachments) == ("ignored", "inbox", ())
    assert Controls(inboxes=frozenset({5, 14})).admit(AUDIO, labelled=False) == AUDIO


def test_on_demand_waits_for_the_label() -> None:
    wanted = Controls(mode="on_demand")
    assert wanted.admit(AUDIO, labelled=False).reason == "on_demand"
    assert wanted.admit(AUDIO, labelled=True) == AUDIO
    ignored = decide({"event": "message_created", "message_type": "outgoing"})
    assert wanted.admit(ignored, labelled=False) == ignored  # already ignored: unchanged


def test_the_label_added_names_the_conversation_to_read() -> None:
    wanted = Controls(mode="on_demand")
    payload = labels_changed([], ["transcribe"])
    decision = decide_for(payload, decide(payload), wanted)
    assert (decision.status, decision.reason, decision.conversation_id) == (
        "accepted",
        LABEL_REASON,
        321,
    )
    assert (decision.message_id, decision.attachments, decision.channel) == (None, (), "telegram")
    # auto mode, another inbox, the label there before, removed, or another label: nothing
    assert decide_for(payload, decide(payload), Controls()).status == "ignored"
    elsewhere = Controls(mode="on_demand", inboxes=frozenset({5}))
    assert decide_for(payload, decide(payload), elsewhere).status == "ignored"
    for before, now in (
        (["transcribe"], ["transcribe", "vip"]),
        (["transcribe"], []),
        ([], ["vip"]),
        (None, None),
        ("transcribe", "transcribe"),
    ):
        other = labels_changed(before, now)
        assert decide_for(other, decide(other), wanted).status == "ignored", (before, now)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(JSON)
def test_any_payload_is_decided_without_raising(value: Any) -> None:
    payload = {"event": "conversation_updated", "id": 5, "changed_attributes": value}
    decision = decide_for(payload, decide(payload), Controls(mode="on_demand"))
    assert decision.status in ("accepted", "ignored")
    assert isinstance(label_added(payload), bool)
    assert isinstance(labelled({"labels": value}), bool)


def test_labelled_reads_the_conversation_labels() -> None:
    assert labelled({"labels": ["vip", "transcribe"]})
    assert not labelled({"labels": ["Transcribe"]})  # Chatwoot labels are lower case
    assert not labelled({"labels": "transcribe"})
    assert not labelled(None)


def test_language_hints_and_minimum() -> None:
    wanted = Controls(min_seconds=2.5, inbox_languages={5: "es"})
    assert wanted.language_for(5, "en") == "es"
    assert wanted.language_for(6, "en") == "en"
    assert wanted.language_for(None, None) is None
    assert wanted.too_short(2.4) and not wanted.too_short(2.5)
    assert not Controls().too_short(0.1)


@pytest.mark.parametrize(
    ("stored", "parsed"),
    [
        (None, None),
        ("", None),
        ("5", frozenset({5})),
        ("5,7", frozenset({5, 7})),
        ("x", None),
        ("²", None),  # str.isdigit says yes, int() says no
    ],
)
def test_stored_inboxes(stored: str | None, parsed: frozenset[int] | None) -> None:
    assert parse_inboxes(stored) == parsed


def test_stored_languages_are_read_defensively() -> None:
    assert parse_languages('{"5": "es", "7": "fr"}') == {5: "es", 7: "fr"}
    for bad in (None, "", "not json", "[1]", '{"x": "es", "5": 3}', '{"²": "es"}'):
        assert parse_languages(bad) == {}
    wanted = controls_of("5", "on_demand", 1.5, '{"5": "es"}')
    assert (wanted.on_demand, wanted.min_seconds, wanted.inboxes) == (True, 1.5, frozenset({5}))
    assert controls_of(None, "something", None, None) == Controls()
