"""The webhook core without I/O: every answer it can give, and properties over any input."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.observability import Metric
from adapter.store import Delivery
from adapter.web.sansio import Rejection, delivery_key, parse_webhook, precheck
from adapter.web.signing import sign

SECRET = b"whsec-core-0123456789"
OLD = b"whsec-core-previous-42"
NOW = 1_760_000_000.0  # far from the real clock: the core must not read one
VOICE = {
    "event": "message_created",
    "id": 11,
    "message_type": "incoming",
    "private": False,
    "content_attributes": {},
    "conversation": {"id": 5, "channel": "Channel::Telegram"},
    "attachments": [
        {
            "id": 77,
            "file_type": "audio",
            "data_url": "https://chat.example.test/rails/active_storage/blobs/x/v.oga",
            "extension": "oga",
        }
    ],
}


def headers(body: bytes, *, secret: bytes = SECRET, stamp: float = NOW, **extra: str) -> dict:
    ts = str(int(stamp))
    return {"x-chatwoot-timestamp": ts, "x-chatwoot-signature": sign(secret, ts, body), **extra}


def parse(body: bytes, head: dict[str, str], *, now: float = NOW, secrets: Any = (SECRET,)) -> Any:
    return parse_webhook(3, head, body, secrets, now)


BODY = json.dumps(VOICE).encode()


def test_a_signed_voice_note_is_a_delivery_to_record() -> None:
    result = parse(BODY, headers(BODY, **{"x-chatwoot-delivery": "d-1"}))
    assert isinstance(result, Delivery)
    assert (result.account_id, result.key) == (3, "id:d-1")
    assert result.decision.status == "accepted"
    assert [a.attachment_id for a in result.decision.attachments] == [77]


def test_without_a_delivery_id_the_body_is_the_identity() -> None:
    result = parse(BODY, headers(BODY))
    assert isinstance(result, Delivery)
    assert result.key == "sha256:" + hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("abc", "id:abc"),
        ("  padded  ", "id:padded"),
        ("", None),
        ("x" * 200, None),  # too long to be a key
        ("tab\there", None),  # not printable
        ("ünïcode", None),
    ],
)
def test_delivery_key(header: str, key: str | None) -> None:
    expected = key or "sha256:" + hashlib.sha256(b"{}").hexdigest()
    assert delivery_key(header, b"{}") == expected


@pytest.mark.parametrize(
    ("head", "now", "status", "metric"),
    [
        ({}, NOW, 401, Metric.WEBHOOK_REJECTED_SIGNATURE),
        ({"x-chatwoot-signature": "sha256=00"}, NOW, 401, Metric.WEBHOOK_REJECTED_SIGNATURE),
        (headers(BODY, secret=b"wrong-secret"), NOW, 401, Metric.WEBHOOK_REJECTED_SIGNATURE),
        (headers(BODY), NOW + 301, 401, Metric.WEBHOOK_REJECTED_STALE),
        (headers(BODY), NOW - 301, 401, Metric.WEBHOOK_REJECTED_STALE),
    ],
)
def test_rejections(head: dict[str, str], now: float, status: int, metric: Metric) -> None:
    result = parse(BODY, head, now=now)
    assert isinstance(result, Rejection)
    assert (result.status, result.metric) == (status, metric)


def test_the_window_is_inclusive_and_the_previous_secret_still_works() -> None:
    for now in (NOW - 300, NOW + 300):
        assert isinstance(parse(BODY, headers(BODY), now=now), Delivery)
    signed_with_old = headers(BODY, secret=OLD)
    assert isinstance(parse(BODY, signed_with_old, secrets=(SECRET, OLD)), Delivery)
    assert isinstance(parse(BODY, signed_with_old, secrets=(SECRET,)), Rejection)


def test_an_unknown_account_is_404_before_anything_else() -> None:
    result = parse(b"garbage", {}, secrets=None)
    assert isinstance(result, Rejection) and result.status == 404


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 100_000])
def test_a_signed_body_that_is_not_a_json_object_is_400(body: bytes) -> None:
    result = parse(body, headers(body))
    assert isinstance(result, Rejection)
    assert (result.status, result.metric) == (400, Metric.WEBHOOK_REJECTED_BAD_JSON)


def test_the_body_is_parsed_only_after_the_signature() -> None:
    body = b"not json"
    result = parse(body, headers(body, secret=b"wrong"))
    assert isinstance(result, Rejection) and result.status == 401


def test_the_core_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_clock() -> float:
        raise AssertionError("the core read the clock")

    monkeypatch.setattr(time, "time", no_clock)
    monkeypatch.setattr(time, "monotonic", no_clock)
    assert isinstance(parse(BODY, headers(BODY)), Delivery)


header_names = st.sampled_from(
    ["x-chatwoot-signature", "x-chatwoot-timestamp", "x-chatwoot-delivery", "content-type", "x"]
)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=2048),
    head=st.dictionaries(header_names, st.text(max_size=80), max_size=5),
    now=st.floats(min_value=0, max_value=2e10, allow_nan=False),
)
def test_any_unsigned_input_is_refused_and_never_raises(
    body: bytes, head: dict[str, str], now: float
) -> None:
    result = parse(body, head, now=now)
    assert isinstance(result, Rejection)
    assert result.status == 401


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=15), json_values, max_size=8))
def test_any_signed_json_object_is_a_delivery(payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    result = parse(body, headers(body))
    assert isinstance(result, Delivery)
    assert result.decision.status in ("accepted", "ignored")
    assert parse(body, headers(body)) == result  # pure: same input, same answer


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=512))
def test_any_signed_bytes_are_a_delivery_or_400(body: bytes) -> None:
    result = parse(body, headers(body))
    assert isinstance(result, Delivery) or (isinstance(result, Rejection) and result.status == 400)


# ─── before the body: the signature headers alone ────────────────────────────────────────────


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        ({}, "missing"),
        ({"x-chatwoot-timestamp": str(int(NOW))}, "missing"),
        (
            {"x-chatwoot-timestamp": "soon", "x-chatwoot-signature": "sha256=" + "0" * 64},
            "malformed",
        ),
        (
            {"x-chatwoot-timestamp": str(int(NOW)), "x-chatwoot-signature": "sha1=" + "0" * 40},
            "malformed",
        ),
        (
            {"x-chatwoot-timestamp": str(int(NOW)), "x-chatwoot-signature": "sha256=" + "g" * 64},
            "malformed",
        ),
        (
            {
                "x-chatwoot-timestamp": str(int(NOW) - 301),
                "x-chatwoot-signature": "sha256=" + "0" * 64,
            },
            "stale",
        ),
    ],
)
def test_precheck_refuses_unusable_signature_headers(head: dict[str, str], reason: str) -> None:
    rejection = precheck(head, NOW)
    assert rejection is not None
    assert (rejection.status, rejection.message) == (401, f"signature {reason}")
    assert rejection == parse(BODY, head)  # what the full check says once the body is read


def test_precheck_passes_well_formed_fresh_headers_whatever_the_body() -> None:
    assert precheck(headers(BODY), NOW) is None
    assert precheck(headers(b"another body", secret=b"another secret"), NOW) is None


# ─── at most max_attachments per message ─────────────────────────────────────────────────────


def many_attachments(count: int) -> bytes:
    payload = json.loads(BODY)
    [first] = payload["attachments"]
    payload["attachments"] = [{**first, "id": 1000 + n} for n in range(count)]
    return json.dumps(payload).encode()


def test_a_message_queues_at_most_max_attachments(caplog: pytest.LogCaptureFixture) -> None:
    body = many_attachments(100)
    result = parse_webhook(3, headers(body), body, (SECRET,), NOW, max_attachments=15)
    assert isinstance(result, Delivery)
    assert [a.attachment_id for a in result.decision.attachments] == list(range(1000, 1015))
    assert "100 audio attachments" in caplog.text
    assert "1015, 1016" in caplog.text and "1099" in caplog.text
    uncapped = parse_webhook(3, headers(body), body, (SECRET,), NOW)
    assert isinstance(uncapped, Delivery)
    assert len(uncapped.decision.attachments) == 100


def test_a_message_at_the_cap_is_untouched(caplog: pytest.LogCaptureFixture) -> None:
    body = many_attachments(15)
    result = parse_webhook(3, headers(body), body, (SECRET,), NOW, max_attachments=15)
    assert isinstance(result, Delivery)
    assert len(result.decision.attachments) == 15
    assert caplog.text == ""
