"""``POST /webhooks/chatwoot/{account_id}`` (``adapter.web.webhooks``): every status code of the
contract over HTTP, dedupe, the shared fixtures' decisions, properties over arbitrary input, and
``process_batch`` keeping each webhook's failure to itself."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import accounts as acc
from adapter.errors import SecretError
from adapter.runtime import Runtime
from adapter.secrets import Keyring, attachment_label
from adapter.store import State, intake
from adapter.web import webhooks
from adapter.web.signing import sign
from adapter.web.webhooks import Webhook, process_batch
from tests.helpers import (
    SECRET,
    Clock,
    Post,
    deliveries,
    queued_ids,
    signed_headers,
    sqlite_only,
    swap_database,
    transcriptions,
)
from tests.web.payloads import ACCOUNT, CHATWOOT, load, lower, voice_note, webhook

#: fixture → (status, attachment ids that get a transcription)
EXPECTED: dict[str, tuple[str, list[int]]] = {
    "whatsapp_voice_note_ogg_opus.json": ("accepted", [55120]),
    "email_mp3_with_text.json": ("accepted", [55121]),
    "webwidget_audio_upload.json": ("accepted", [55122]),
    "telegram_voice.json": ("accepted", [55123]),
    "api_channel_audio.json": ("accepted", [55124]),
    "two_audio_attachments_email.json": ("accepted", [55125, 55126]),
    "outgoing_agent_audio_whatsapp.json": ("ignored", []),
    "text_only_whatsapp.json": ("ignored", []),
}


def test_every_fixture_has_an_expectation() -> None:
    names = {p.name for p in CHATWOOT.glob("*.json")} - {"swagger.json"}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_decisions(name: str, post: Post, runtime: Runtime, account: int) -> None:
    status, attachment_ids = EXPECTED[name]
    response = post(load(name), delivery=str(uuid.uuid4()))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == status
    stored = transcriptions(runtime)
    assert sorted(r.attachment_id for r in stored) == attachment_ids
    assert sorted(body["transcriptions"]) == sorted(r.id for r in stored)
    assert all(r.state == State.queued for r in stored)
    assert len(queued_ids(runtime)) == len(attachment_ids)


def test_actor_message_carries_only_the_row_id(post: Post, runtime: Runtime, account: int) -> None:
    post(load("telegram_voice.json"))
    message = runtime.broker.queues["transcribe"].get_nowait()  # type: ignore[attr-defined]
    decoded = json.loads(message)
    [row] = transcriptions(runtime)
    assert decoded["args"] == [row.id]
    assert decoded["kwargs"] == {}
    assert "chatwoot.example.test" not in message.decode()


def test_stored_row_holds_no_plain_attachment_url(
    post: Post, runtime: Runtime, account: int
) -> None:
    payload = load("whatsapp_voice_note_ogg_opus.json")
    post(payload)
    [row] = transcriptions(runtime)
    assert row.conversation_id == 318
    assert row.message_id == 90817
    assert row.channel == "whatsapp"
    url = payload["attachments"][0]["data_url"]
    assert url not in row.source_url_enc
    label = attachment_label(row.account_id, row.attachment_id)
    assert runtime.keyring.unseal(row.source_url_enc, label=label, what="t") == url
    with pytest.raises(SecretError):  # bound to its account and attachment
        runtime.keyring.unseal(row.source_url_enc, label=label + "0", what="t")


def test_same_delivery_twice_is_duplicate(post: Post, runtime: Runtime, account: int) -> None:
    payload = load("two_audio_attachments_email.json")
    first = post(payload, delivery="7b1e4f0e-55a4-4d39-9a43-000000000001")
    second = post(payload, delivery="7b1e4f0e-55a4-4d39-9a43-000000000001")
    assert first.json()["status"] == "accepted"
    assert second.status_code == 202
    assert second.json() == {
        "status": "duplicate",
        "transcriptions": first.json()["transcriptions"],
    }
    assert len(transcriptions(runtime)) == 2
    assert len(queued_ids(runtime)) == 2


def test_resend_without_delivery_header_dedupes_by_body(
    post: Post, runtime: Runtime, account: int
) -> None:
    payload = load("telegram_voice.json")
    assert post(payload).json()["status"] == "accepted"
    assert post(payload).json()["status"] == "duplicate"
    [delivery] = deliveries(runtime)
    assert delivery.delivery_key.startswith("sha256:")


def test_message_updated_echo_of_seen_attachment_does_nothing(
    post: Post, runtime: Runtime, account: int
) -> None:
    payload = load("whatsapp_voice_note_ogg_opus.json")
    post(payload, delivery="a")
    payload["event"] = "message_updated"
    response = post(payload, delivery="b")
    assert response.json()["status"] == "duplicate"
    assert len(transcriptions(runtime)) == 1
    assert len(queued_ids(runtime)) == 1


def test_ignored_delivery_is_recorded(post: Post, runtime: Runtime, account: int) -> None:
    response = post(load("text_only_whatsapp.json"), delivery="text-1")
    assert response.json() == {"status": "ignored", "transcriptions": []}
    assert post(load("text_only_whatsapp.json"), delivery="text-1").json()["status"] == "duplicate"
    assert len(deliveries(runtime)) == 1


def test_own_note_is_ignored(post: Post, runtime: Runtime, account: int) -> None:
    payload = load("whatsapp_voice_note_ogg_opus.json")
    payload["content_attributes"] = {"transcriber": {"attachment_id": 55120}}
    assert post(payload).json()["status"] == "ignored"


def test_other_events_are_ignored(post: Post, account: int) -> None:
    for event in ("conversation_created", "conversation_status_changed", "webwidget_triggered"):
        payload = load("telegram_voice.json")
        payload["event"] = event
        assert post(payload).json()["status"] == "ignored"


# ─── status codes ──────────────────────────────────────────────────────────────────────────


@sqlite_only
def test_401_bad_signature(client: Any, account: int) -> None:
    body = json.dumps(load("telegram_voice.json")).encode()
    headers = signed_headers(body, secret="not-the-secret")
    assert client.post("/webhooks/chatwoot/3", content=body, headers=headers).status_code == 401


@sqlite_only
def test_401_missing_signature(client: Any, account: int) -> None:
    body = json.dumps(load("telegram_voice.json")).encode()
    assert client.post("/webhooks/chatwoot/3", content=body).status_code == 401


@sqlite_only
def test_401_tampered_body(client: Any, account: int) -> None:
    body = json.dumps(load("telegram_voice.json")).encode()
    headers = signed_headers(body)
    tampered = body.replace(b"55123", b"55124")
    assert client.post("/webhooks/chatwoot/3", content=tampered, headers=headers).status_code == 401


@sqlite_only
@pytest.mark.parametrize("skew", [-301, 301, -7200])
def test_401_stale_timestamp_with_injected_clock(
    client: Any, clock: Clock, account: int, skew: int
) -> None:
    body = json.dumps(load("telegram_voice.json")).encode()
    clock.now = 1_900_000_000.0
    headers = signed_headers(body, timestamp=clock.now + skew)
    assert client.post("/webhooks/chatwoot/3", content=body, headers=headers).status_code == 401
    headers = signed_headers(body, timestamp=clock.now + (299 if skew > 0 else -299))
    assert client.post("/webhooks/chatwoot/3", content=body, headers=headers).status_code == 202


def test_two_secrets_during_rotation(post: Post, runtime: Runtime, account: int) -> None:
    acc.update_account(
        runtime.accounts,
        runtime.keyring,
        3,
        acc.parse_changes({"webhook_secret": "new-secret-xyz"}),
    )
    assert post(load("telegram_voice.json"), secret=SECRET, delivery="old").status_code == 202
    assert (
        post(load("telegram_voice.json"), secret="new-secret-xyz", delivery="new").status_code
        == 202
    )
    acc.update_account(
        runtime.accounts, runtime.keyring, 3, acc.parse_changes({"drop_previous_secret": True})
    )
    assert post(load("telegram_voice.json"), secret=SECRET, delivery="old2").status_code == 401


@sqlite_only
@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/chatwoot/99",
        "/webhooks/chatwoot/0",
        "/webhooks/chatwoot/-1",
        "/webhooks/chatwoot/abc",
        "/webhooks/chatwoot/99999999999999999999999",
    ],
)
def test_404_unknown_account(client: Any, account: int, path: str) -> None:
    body = b"{}"
    assert client.post(path, content=body, headers=signed_headers(body)).status_code == 404


def test_404_disabled_account(post: Post, runtime: Runtime, account: int) -> None:
    acc.set_enabled(runtime.accounts, 3, False)
    assert post(load("telegram_voice.json")).status_code == 404
    acc.set_enabled(runtime.accounts, 3, True)
    assert post(load("telegram_voice.json")).status_code == 202


@sqlite_only
@pytest.mark.parametrize(
    "body", [b"[]", b"null", b"42", b'"text"', b"{not json", b"\xff\xfe", b"", b"[" * 100_000]
)
def test_400_not_a_json_object(post: Post, account: int, body: bytes) -> None:
    assert post(body).status_code == 400


@sqlite_only
def test_413_body_over_limit(client: Any, runtime: Runtime, account: int) -> None:
    body = b'{"pad": "' + b"x" * runtime.settings.max_webhook_bytes + b'"}'
    response = client.post("/webhooks/chatwoot/3", content=body, headers=signed_headers(body))
    assert response.status_code == 413


@sqlite_only
def test_413_streamed_body_without_length(client: Any, runtime: Runtime, account: int) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    response = client.post(
        "/webhooks/chatwoot/3",
        content=chunks(),
        # well-formed fresh headers: anything less is refused (401) before the body is read
        headers=signed_headers(b"{}"),
    )
    assert response.status_code == 413


@sqlite_only
def test_503_when_database_cannot_be_written(post: Post, runtime: Runtime, account: int) -> None:
    swap_database(runtime, None)
    response = post(load("telegram_voice.json"))
    assert response.status_code == 503
    assert "error" in response.json()


def test_503_when_insert_fails_midway(
    post: Post, runtime: Runtime, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(intake, "_insert", broken)
    assert post(load("telegram_voice.json")).status_code == 503
    assert transcriptions(runtime) == []


def test_health_and_ready(client: Any) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


@sqlite_only
def test_ready_is_503_without_database(client: Any, runtime: Runtime, tmp_path: Path) -> None:
    swap_database(runtime, None)
    assert client.get("/readyz").status_code == 503


# ─── properties: whatever arrives, the receiver never answers 5xx ─────────────────────────────

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
TWO_AUDIO = load("two_audio_attachments_email.json")
KEYS = [
    "event",
    "message_type",
    "private",
    "id",
    "conversation",
    "attachments",
    "content_attributes",
]
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def mutate(payload: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(payload))
    out[key] = value
    return out


def stamped(body: bytes) -> dict[str, str]:
    """Signed, without a Content-Type or delivery header."""
    stamp = str(int(time.time()))
    return {
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Signature": sign(SECRET.encode(), stamp, body),
    }


@sqlite_only
@PROPERTY
@given(
    body=st.binary(max_size=2048),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "X-Chatwoot-Signature",
                "X-Chatwoot-Timestamp",
                "X-Chatwoot-Delivery",
                "Content-Type",
                "Content-Length",
            ]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
        max_size=5,
    ),
)
def test_random_bytes_and_headers(
    client: Any, account: int, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post("/webhooks/chatwoot/3", content=body, headers=headers)
    assert response.status_code in (202, 400, 401, 404, 413)


@sqlite_only
@PROPERTY
@given(payload=json_values)
def test_signed_arbitrary_json(client: Any, account: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/chatwoot/3", content=body, headers=stamped(body))
    assert response.status_code == (202 if isinstance(payload, dict) else 400)


@sqlite_only
@PROPERTY
@given(key=st.sampled_from(KEYS), value=json_values, delivery=st.text(max_size=300))
def test_signed_mutated_fixture(
    client: Any, account: int, key: str, value: Any, delivery: str
) -> None:
    body = json.dumps(mutate(TWO_AUDIO, key, value)).encode()
    headers = stamped(body)
    if delivery.isprintable() and delivery.isascii():
        headers["X-Chatwoot-Delivery"] = delivery
    response = client.post("/webhooks/chatwoot/3", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] in ("accepted", "duplicate", "ignored")


# ─── process_batch: each webhook's failure stays its own ─────────────────────────────────────


def test_rejections_inside_a_batch_keep_their_own_status(runtime: Runtime, account: int) -> None:
    acc.create_account(
        runtime.accounts,
        runtime.keyring,
        4,
        acc.parse_changes(
            {
                "chatwoot_url": "https://other.example.test",
                "api_token": "cw-api-token-other",
                "webhook_secret": "whsec-other-0123456789",
            }
        ),
    )
    acc.set_enabled(runtime.accounts, 4, False)
    stale = webhook(voice_note(6), delivery="stale")
    batch = [
        webhook(voice_note(1), delivery="ok"),
        webhook(voice_note(2), delivery="bad-signature", secret="not-the-secret"),
        webhook(voice_note(3), delivery="unknown", account_id=99),
        webhook(voice_note(4), delivery="disabled", account_id=4, secret="whsec-other-0123456789"),
        Webhook(
            ACCOUNT, b"[1, 2]", lower(signed_headers(b"[1, 2]", delivery="not-json")), time.time()
        ),
        Webhook(ACCOUNT, stale.body, stale.headers, stale.now + 3600),  # an hour after signing
    ]
    outcomes = process_batch(runtime, batch)
    assert [o.status for o in outcomes] == [202, 401, 404, 404, 400, 401]
    assert [d.delivery_key for d in deliveries(runtime)] == ["id:ok"]
    assert len(queued_ids(runtime)) == 1


def test_a_poisoned_row_fails_alone_inside_one_batch(
    runtime: Runtime, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_seal = Keyring.seal_url

    def seal_url(self: Keyring, url: str, label: str) -> str:
        if url.endswith("/voice/2.ogg?sig=2"):
            raise ValueError("an unexpected bug on one attachment")
        return real_seal(self, url, label)

    monkeypatch.setattr(Keyring, "seal_url", seal_url)
    outcomes = process_batch(runtime, [webhook(voice_note(n), delivery=f"b-{n}") for n in range(5)])
    assert [o.status for o in outcomes] == [202, 202, 503, 202, 202]
    assert "error" in outcomes[2].body
    assert sorted(r.attachment_id for r in transcriptions(runtime)) == [
        900_000,
        900_001,
        900_003,
        900_004,
    ]
    assert len(queued_ids(runtime)) == 4
    assert len(deliveries(runtime)) == 4  # the failed one left nothing behind: it may come again


@sqlite_only
def test_database_down_fails_the_whole_batch_without_retrying_each(
    runtime: Runtime, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = webhooks._try_record

    def counted(rt: Runtime, group: Sequence[Any]) -> Any:
        calls.append(len(group))
        return real(rt, group)

    monkeypatch.setattr(webhooks, "_try_record", counted)
    swap_database(runtime, None)
    try:
        outcomes = process_batch(runtime, [webhook(voice_note(n)) for n in range(6)])
    finally:
        swap_database(runtime, runtime.settings.database_url)
    assert [o.status for o in outcomes] == [503] * 6
    assert calls == []  # no connection: nothing ran, and no one-by-one retries
    assert process_batch(runtime, [webhook(voice_note(1))])[0].status == 202


# ─── at most TRANSCRIBER_MAX_ATTACHMENTS per message ─────────────────────────────────────────


@sqlite_only
def test_one_webhook_queues_at_most_max_attachments(
    post: Post, runtime: Runtime, account: int
) -> None:
    payload = voice_note(1)
    [first] = payload["attachments"]
    payload["attachments"] = [{**first, "id": 5000 + n} for n in range(100)]
    answer = post(payload)
    assert answer.status_code == 202
    assert len(answer.json()["transcriptions"]) == runtime.settings.max_attachments == 15
    assert sorted(t.attachment_id for t in transcriptions(runtime)) == list(range(5000, 5015))
