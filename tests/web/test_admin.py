"""The admin API (``adapter.web.admin``): bearer auth, accounts CRUD with write-only secrets,
transcriptions, retry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session

from adapter.runtime import Runtime
from adapter.store import State, Transcription
from tests.helpers import ADMIN, Post, reconfigure, sqlite_only
from tests.web.payloads import load

AUTH = {"Authorization": f"Bearer {ADMIN}"}
NEW = {
    "account_id": 21,
    "chatwoot_url": "https://desk.example.test/",
    "api_token": "cw-token-" + "a1" * 12,
    "webhook_secret": "whsec-" + "b2" * 12,
    "openai_api_key": "sk-test-" + "c3" * 16,
    "language": "ES",
}


def secrets_absent(text: str) -> None:
    for key in ("api_token", "webhook_secret", "openai_api_key"):
        assert NEW[key] not in text  # type: ignore[operator]


@sqlite_only
def test_requires_bearer_token(client: Any) -> None:
    assert client.get("/api/v1/accounts").status_code == 401
    assert (
        client.get("/api/v1/accounts", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    assert client.get("/api/v1/accounts", headers={"Authorization": ADMIN}).status_code == 401
    assert client.get("/api/v1/accounts", headers=AUTH).status_code == 200


@sqlite_only
def test_disabled_without_admin_token(client: Any, runtime: Runtime) -> None:
    reconfigure(runtime, client, admin_token=None)
    assert client.get("/api/v1/accounts", headers=AUTH).status_code == 404
    assert client.get("/api/v1/transcriptions", headers=AUTH).status_code == 404


def test_account_crud_never_returns_secrets(client: Any) -> None:
    created = client.post("/api/v1/accounts", json=NEW, headers=AUTH)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["account_id"] == 21
    assert view["chatwoot_url"] == "https://desk.example.test"
    assert view["language"] == "es"
    assert view["key_source"] == "account"
    secrets_absent(created.text)
    assert client.post("/api/v1/accounts", json=NEW, headers=AUTH).status_code == 409
    got = client.get("/api/v1/accounts/21", headers=AUTH)
    assert got.status_code == 200
    secrets_absent(got.text)
    patched = client.patch(
        "/api/v1/accounts/21", json={"enabled": False, "engine": "local"}, headers=AUTH
    )
    assert patched.status_code == 200
    assert (patched.json()["enabled"], patched.json()["engine"]) == (False, "local")
    listing = client.get("/api/v1/accounts", headers=AUTH)
    assert [a["account_id"] for a in listing.json()["accounts"]] == [21]
    secrets_absent(listing.text)
    assert client.delete("/api/v1/accounts/21", headers=AUTH).status_code == 204
    assert client.get("/api/v1/accounts/21", headers=AUTH).status_code == 404


@sqlite_only
@pytest.mark.parametrize(
    "body",
    [
        {**NEW, "account_id": "21"},
        {**NEW, "account_id": -1},
        {**NEW, "account_id": True},
        {**NEW, "chatwoot_url": "javascript:alert(1)"},
        {**NEW, "chatwoot_url": "https://user:pw@desk.test"},
        {**NEW, "chatwoot_url": "https://desk.test/app/accounts/3/dashboard"},
        {**NEW, "chatwoot_url": "https://desk.test/api/v1/accounts/3"},
        {**NEW, "engine": "whisper"},
        {**NEW, "language": "english"},
        {**NEW, "unknown_field": 1},
        {k: v for k, v in NEW.items() if k != "api_token"},
        {**NEW, "api_token": ""},
        {**NEW, "api_token": 12345},
    ],
)
def test_bad_account_input_is_422(client: Any, body: dict[str, Any]) -> None:
    response = client.post("/api/v1/accounts", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert "error" in response.json()
    secrets_absent(response.text)


@sqlite_only
@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b"\xff", b'"x"'])
def test_bad_json_is_400(client: Any, raw: bytes) -> None:
    assert client.post("/api/v1/accounts", content=raw, headers=AUTH).status_code == 400


@sqlite_only
def test_oversized_body_is_413(client: Any) -> None:
    body = json.dumps({**NEW, "model": "x" * 100_000})
    assert client.post("/api/v1/accounts", content=body, headers=AUTH).status_code == 413


def test_transcriptions_list_get_and_retry(
    client: Any, post: Post, runtime: Runtime, account: int
) -> None:
    ids = post(load("two_audio_attachments_email.json")).json()["transcriptions"]
    listing = client.get("/api/v1/transcriptions?account_id=3&state=queued&limit=1", headers=AUTH)
    assert listing.status_code == 200
    [item] = listing.json()["transcriptions"]
    expected_keys = {
        "id",
        "account_id",
        "conversation_id",
        "message_id",
        "attachment_id",
        "channel",
        "state",
        "attempts",
        "language",
        "duration_seconds",
        "text",
        "error",
        "created_at",
        "updated_at",
    }
    assert expected_keys <= set(item)
    one = client.get(f"/api/v1/transcriptions/{ids[0]}", headers=AUTH).json()
    assert one["state"] == "queued" and one["channel"] == "email"
    assert "source_url_enc" not in one and "chatwoot.example.test" not in json.dumps(one)
    assert client.post(f"/api/v1/transcriptions/{ids[0]}/retry", headers=AUTH).status_code == 409
    with Session(runtime.ledger.engine) as session:
        row = session.get(Transcription, ids[0])
        assert row is not None
        row.state = State.failed.value
        row.error = "boom"
        session.add(row)
        session.commit()
    retried = client.post(f"/api/v1/transcriptions/{ids[0]}/retry", headers=AUTH)
    assert retried.status_code == 202
    assert retried.json()["state"] == "queued" and retried.json()["error"] is None
    assert client.get("/api/v1/transcriptions/999999", headers=AUTH).status_code == 404
    assert client.post("/api/v1/transcriptions/999999/retry", headers=AUTH).status_code == 404


@sqlite_only
@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "limit=100000",
        "account_id=-3",
        "state=lost",
        "account_id=1e3",
        "source=cron",
        "source=WEBHOOK",
    ],
)
def test_bad_query_is_400(client: Any, query: str) -> None:
    assert client.get(f"/api/v1/transcriptions?{query}", headers=AUTH).status_code == 400


@sqlite_only
def test_bad_ids_in_paths(client: Any) -> None:
    assert client.get("/api/v1/transcriptions/abc", headers=AUTH).status_code == 400
    assert client.get("/api/v1/accounts/0", headers=AUTH).status_code == 400


def test_the_user_token_is_write_only_and_the_account_shows_its_reconciliation(
    client: Any, runtime: Runtime
) -> None:
    user_token = "cw-user-token-" + "d4" * 10
    created = client.post("/api/v1/accounts", json=NEW, headers=AUTH)
    assert created.json()["user_token"] is False
    assert created.json()["reconcile"]["status"] == "no_user_token"
    patched = client.patch("/api/v1/accounts/21", json={"user_token": user_token}, headers=AUTH)
    assert patched.status_code == 200
    assert patched.json()["user_token"] is True
    assert user_token not in patched.text
    assert client.get("/api/v1/accounts/21", headers=AUTH).json()["reconcile"]["status"] == (
        "waiting"
    )
    lease = runtime.scans.claim(21, "a-worker")
    assert lease is not None
    assert client.get("/api/v1/accounts/21", headers=AUTH).json()["reconcile"]["scanning"]
    runtime.scans.finish(
        lease, status="ok", error=None, counts={"queued": 2, "audio": 3}, watermark=None, found=2
    )
    listing = client.get("/api/v1/accounts", headers=AUTH).json()["accounts"]
    (view,) = [a["reconcile"] for a in listing if a["account_id"] == 21]
    assert view["status"] == "ok" and not view["scanning"]
    assert view["last_counts"] == {"queued": 2, "audio": 3} and view["found_total"] == 2
    assert view["last_finished_at"] is not None
    cleared = client.patch("/api/v1/accounts/21", json={"clear_user_token": True}, headers=AUTH)
    assert cleared.json()["user_token"] is False
    for body in ({**NEW, "account_id": 22, "user_token": ""}, {**NEW, "user_token": 5}):
        assert client.post("/api/v1/accounts", json=body, headers=AUTH).status_code == 422


def test_transcriptions_carry_their_source_and_filter_on_it(
    client: Any, post: Post, account: int
) -> None:
    [tid] = post(load("whatsapp_voice_note_ogg_opus.json")).json()["transcriptions"]
    view = client.get(f"/api/v1/transcriptions/{tid}", headers=AUTH).json()
    assert view["source"] == "webhook"
    assert view["inbox_id"] is not None
    by_source = client.get("/api/v1/transcriptions?source=webhook", headers=AUTH).json()
    assert [t["id"] for t in by_source["transcriptions"]] == [tid]
    other = client.get("/api/v1/transcriptions?source=reconcile", headers=AUTH).json()
    assert other["transcriptions"] == []


def test_failure_notes_are_on_by_default_and_an_account_turns_them_off(client: Any) -> None:
    created = client.post("/api/v1/accounts", json=NEW, headers=AUTH)
    assert created.json()["failure_notes"] is True
    patched = client.patch("/api/v1/accounts/21", json={"failure_notes": False}, headers=AUTH)
    assert patched.status_code == 200
    assert patched.json()["failure_notes"] is False
    other = client.patch("/api/v1/accounts/21", json={"language": "pt"}, headers=AUTH)
    assert other.json()["failure_notes"] is False  # an update without it leaves it
    off = {**NEW, "account_id": 22, "failure_notes": False}
    assert client.post("/api/v1/accounts", json=off, headers=AUTH).json()["failure_notes"] is False
    for bad in ("sometimes", 2, None):
        body = {**NEW, "account_id": 23, "failure_notes": bad}
        response = client.post("/api/v1/accounts", json=body, headers=AUTH)
        assert response.status_code == (201 if bad is None else 422), response.text


def test_a_model_the_engine_cannot_have_is_refused_and_a_missing_key_warned(
    client: Any,
) -> None:
    bad = client.post(
        "/api/v1/accounts", json={**NEW, "engine": "local", "model": "huge"}, headers=AUTH
    )
    assert bad.status_code == 422 and "no model 'huge'" in bad.text
    keyless = {k: v for k, v in NEW.items() if k != "openai_api_key"}
    created = client.post("/api/v1/accounts", json={**keyless, "engine": "openai"}, headers=AUTH)
    assert created.status_code == 201
    assert "no OpenAI key" in created.json()["warnings"][0]
    patched = client.patch("/api/v1/accounts/21", json={"model": "whisper-9"}, headers=AUTH)
    assert patched.status_code == 422


def test_the_note_extras_are_set_shown_cleared_and_checked(client: Any) -> None:
    extras = {
        "summary_min_seconds": 90,
        "chat_base_url": "http://llm.internal:11434/v1",
        "chat_model": "llama3.1:8b",
        "translate_to": "EN",
        "redact": "phone,cards",
        "phone_region": "gb",
        "speakers": "Agent,Customer",
    }
    created = client.post("/api/v1/accounts", json={**NEW, **extras}, headers=AUTH)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert (shown["translate_to"], shown["redact"], shown["phone_region"]) == (
        "en",
        ["cards", "phone"],
        "GB",
    )
    assert shown["speakers"] == ["Agent", "Customer"] and shown["summary_min_seconds"] == 90
    cleared = client.patch(
        "/api/v1/accounts/21",
        json={"translate_to": "off", "redact": "", "speakers": "off", "chat_model": "off"},
        headers=AUTH,
    ).json()
    assert (cleared["translate_to"], cleared["redact"], cleared["speakers"]) == (None, [], None)
    assert cleared["chat_model"] == "off" and cleared["chat_base_url"] == extras["chat_base_url"]
    for bad in (
        {"redact": "cards;drop table"},
        {"redact": ["cards"]},
        {"translate_to": "xx-yy"},
        {"phone_region": "ZZ"},
        {"speakers": "one"},
        {"speakers": "A,\u0000B"},
        {"summary_min_seconds": -1},
        {"summary_min_seconds": "soon"},
        {"chat_base_url": "http://[fd00::1]:notaport/v1"},
        {"chat_base_url": "http://169.254.169.254/latest"},
    ):
        response = client.patch("/api/v1/accounts/21", json=bad, headers=AUTH)
        assert response.status_code == 422, (bad, response.text)
        assert "error" in response.json()
    assert client.get("/api/v1/accounts/21", headers=AUTH).json() == cleared
