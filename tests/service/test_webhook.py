"""The receiver, end to end over HTTP: every status code of the contract, dedupe, fixtures."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from adapter.runtime import Runtime
from adapter.store import State, Transcription, WebhookDelivery
from tests.conftest import FIXTURES
from tests.service.conftest import SECRET, Clock, Post, signed_headers, swap_database

CHATWOOT = FIXTURES / "chatwoot"

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


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CHATWOOT / name).read_text())
    return data


def rows(rt: Runtime) -> list[Transcription]:
    with Session(rt.ledger.engine) as session:
        return list(session.exec(select(Transcription).order_by(Transcription.id)))  # type: ignore[arg-type]


def queued_messages(rt: Runtime) -> int:
    return int(rt.broker.queues["transcribe"].qsize())  # type: ignore[attr-defined]


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
    stored = rows(runtime)
    assert sorted(r.attachment_id for r in stored) == attachment_ids
    assert sorted(body["transcriptions"]) == sorted(r.id for r in stored)
    assert all(r.state == State.queued for r in stored)
    assert queued_messages(runtime) == len(attachment_ids)


def test_actor_message_carries_only_the_row_id(post: Post, runtime: Runtime, account: int) -> None:
    post(load("telegram_voice.json"))
    message = runtime.broker.queues["transcribe"].get_nowait()  # type: ignore[attr-defined]
    decoded = json.loads(message)
    [row] = rows(runtime)
    assert decoded["args"] == [row.id]
    assert decoded["kwargs"] == {}
    assert "chatwoot.example.test" not in message.decode()


def test_stored_row_holds_no_plain_attachment_url(
    post: Post, runtime: Runtime, account: int
) -> None:
    payload = load("whatsapp_voice_note_ogg_opus.json")
    post(payload)
    [row] = rows(runtime)
    assert row.conversation_id == 318
    assert row.message_id == 90817
    assert row.channel == "whatsapp"
    url = payload["attachments"][0]["data_url"]
    assert url not in row.source_url_enc
    assert runtime.keyring.decrypt(row.source_url_enc, what="t") == url


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
    assert len(rows(runtime)) == 2
    assert queued_messages(runtime) == 2


def test_resend_without_delivery_header_dedupes_by_body(
    post: Post, runtime: Runtime, account: int
) -> None:
    payload = load("telegram_voice.json")
    assert post(payload).json()["status"] == "accepted"
    assert post(payload).json()["status"] == "duplicate"
    with Session(runtime.ledger.engine) as session:
        [delivery] = session.exec(select(WebhookDelivery)).all()
    assert delivery.delivery_key.startswith("sha256:")


def test_message_updated_echo_of_seen_attachment_does_nothing(
    post: Post, runtime: Runtime, account: int
) -> None:
    payload = load("whatsapp_voice_note_ogg_opus.json")
    post(payload, delivery="a")
    payload["event"] = "message_updated"
    response = post(payload, delivery="b")
    assert response.json()["status"] == "duplicate"
    assert len(rows(runtime)) == 1
    assert queued_messages(runtime) == 1


def test_ignored_delivery_is_recorded(post: Post, runtime: Runtime, account: int) -> None:
    response = post(load("text_only_whatsapp.json"), delivery="text-1")
    assert response.json() == {"status": "ignored", "transcriptions": []}
    assert post(load("text_only_whatsapp.json"), delivery="text-1").json()["status"] == "duplicate"
    with Session(runtime.ledger.engine) as session:
        assert len(session.exec(select(WebhookDelivery)).all()) == 1


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


def test_401_bad_signature(client: Any, account: int) -> None:
    body = json.dumps(load("telegram_voice.json")).encode()
    headers = signed_headers(body, secret="not-the-secret")
    assert client.post("/webhooks/chatwoot/3", content=body, headers=headers).status_code == 401


def test_401_missing_signature(client: Any, account: int) -> None:
    body = json.dumps(load("telegram_voice.json")).encode()
    assert client.post("/webhooks/chatwoot/3", content=body).status_code == 401


def test_401_tampered_body(client: Any, account: int) -> None:
    body = json.dumps(load("telegram_voice.json")).encode()
    headers = signed_headers(body)
    tampered = body.replace(b"55123", b"55124")
    assert client.post("/webhooks/chatwoot/3", content=tampered, headers=headers).status_code == 401


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
    from adapter import accounts as acc

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
    from adapter import accounts as acc

    acc.set_enabled(runtime.accounts, 3, False)
    assert post(load("telegram_voice.json")).status_code == 404
    acc.set_enabled(runtime.accounts, 3, True)
    assert post(load("telegram_voice.json")).status_code == 202


@pytest.mark.parametrize(
    "body", [b"[]", b"null", b"42", b'"text"', b"{not json", b"\xff\xfe", b"", b"[" * 100_000]
)
def test_400_not_a_json_object(post: Post, account: int, body: bytes) -> None:
    assert post(body).status_code == 400


def test_413_body_over_limit(client: Any, runtime: Runtime, account: int) -> None:
    body = b'{"pad": "' + b"x" * runtime.settings.max_webhook_bytes + b'"}'
    response = client.post("/webhooks/chatwoot/3", content=body, headers=signed_headers(body))
    assert response.status_code == 413


def test_413_streamed_body_without_length(client: Any, runtime: Runtime, account: int) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    response = client.post(
        "/webhooks/chatwoot/3",
        content=chunks(),
        headers={"X-Chatwoot-Timestamp": "1", "X-Chatwoot-Signature": "sha256=" + "0" * 64},
    )
    assert response.status_code == 413


def test_503_when_database_cannot_be_written(post: Post, runtime: Runtime, account: int) -> None:
    swap_database(runtime, None)
    response = post(load("telegram_voice.json"))
    assert response.status_code == 503
    assert "error" in response.json()


def test_503_when_insert_fails_midway(
    post: Post, runtime: Runtime, account: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from adapter.store import intake

    def broken(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(intake, "_insert", broken)
    assert post(load("telegram_voice.json")).status_code == 503
    assert rows(runtime) == []


def test_health_and_ready(client: Any) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_ready_is_503_without_database(client: Any, runtime: Runtime, tmp_path: Path) -> None:
    swap_database(runtime, None)
    assert client.get("/readyz").status_code == 503
