"""Property tests: ``decide`` returns a sane ``Decision`` for any JSON object."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels import Decision
from channels._decide import decide_strict

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "chatwoot"
PAYLOADS = [
    json.loads(p.read_text(encoding="utf-8"))
    for p in sorted(FIXTURES.glob("*.json"))
    if p.name != "swagger.json"
]

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

PROPERTY_SETTINGS = settings(
    max_examples=300,
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
