"""``GET /api/v1/accounts/{id}/doctor``: ``transcriber doctor --account-id N`` as JSON, against
the stand-in Chatwoot and OpenAI. It only reads: the stand-ins see no write and no
transcription, and the answer holds no secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapter.runtime import Runtime
from tests.console.connected import (
    ADMIN_TOKEN,
    BOT_TOKEN,
    NAMES,
    Connected,
    connect_account,
    healthz,
    stand_in_chatwoot,
)
from tests.helpers import ADMIN, OpenAIStandIn, reconfigure, sqlite_only

AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def connected(
    runtime: Runtime, client: TestClient, openai_server: OpenAIStandIn
) -> Iterator[Connected]:
    """Account 3 connected to the stand-ins; after the test, Chatwoot saw no write and OpenAI
    no transcription."""
    with healthz() as public_url, stand_in_chatwoot() as chatwoot:
        rt = reconfigure(runtime, client, public_url=public_url)
        found = connect_account(rt, chatwoot, openai_server)
        before = len(found.writes())
        yield found
        assert found.writes()[before:] == []
        assert not found.transcribed()


def doctor(client: TestClient, account_id: int = 3) -> Any:
    return client.get(f"/api/v1/accounts/{account_id}/doctor", headers=AUTH)


def no_secret_in(text: str, found: Connected) -> None:
    for secret in (*found.secrets, ADMIN):
        assert secret not in text


def test_all_well_is_ok(client: TestClient, connected: Connected) -> None:
    answer = doctor(client)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["ok"] is True, report
    assert [c["name"] for c in report["checks"]] == NAMES
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert {c["account_id"] for c in report["checks"][3:-1]} == {3}
    assert [r.path for r in connected.openai.requests] == ["/v1/models"]
    no_secret_in(answer.text, connected)


def test_a_revoked_api_token_is_named(client: TestClient, connected: Connected) -> None:
    connected.chatwoot.revoke(BOT_TOKEN)
    answer = doctor(client)
    assert answer.status_code == 200  # the checks ran: the JSON says they failed
    report = answer.json()
    assert report["ok"] is False
    [failed] = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed["name"] == "API token"
    assert failed["account_id"] == 3
    assert "rejects the API token" in failed["detail"]
    assert "accounts connect" in failed["fix"]
    no_secret_in(answer.text, connected)


def test_a_revoked_user_token_is_named(client: TestClient, connected: Connected) -> None:
    connected.chatwoot.revoke(ADMIN_TOKEN)
    report = doctor(client).json()
    assert report["ok"] is False
    [failed] = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed["name"] == "user token"
    assert "--user-token" in failed["fix"]


@sqlite_only
def test_unknown_account_bad_id_and_auth(client: TestClient, connected: Connected) -> None:
    missing = doctor(client, 9)
    assert missing.status_code == 404
    assert missing.json() == {"error": "account not found"}
    assert client.get("/api/v1/accounts/abc/doctor", headers=AUTH).status_code == 400
    assert client.get("/api/v1/accounts/3/doctor").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/api/v1/accounts/3/doctor", headers=wrong).status_code == 401
    assert client.post("/api/v1/accounts/3/doctor", headers=AUTH).status_code == 405
    assert connected.chatwoot.requests == []  # nothing was checked


@sqlite_only
def test_off_without_an_admin_token(
    client: TestClient, runtime: Runtime, connected: Connected
) -> None:
    reconfigure(runtime, client, admin_token=None)
    assert doctor(client).status_code == 404
    assert connected.chatwoot.requests == []
