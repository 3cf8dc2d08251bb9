"""``GET /api/v1/accounts/{id}/doctor``: ``transcriber doctor --account-id N`` as JSON, against
the stand-in Chatwoot and OpenAI. It only reads: the stand-ins see no write and no
transcription, and the answer holds no secret."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.connect import webhook_url
from adapter.runtime import Runtime
from tests.cli.connecting import ADMIN_TOKEN, SUBSCRIPTIONS, writes
from tests.helpers import ADMIN, OPENAI_KEY, OpenAIStandIn, reconfigure, sqlite_only
from tests.standins.chatwoot_server import ChatwootStandIn

AUTH = {"Authorization": f"Bearer {ADMIN}"}
BOT_TOKEN = "cw-bot-token-" + "d4" * 10
NAMES = [
    "database",
    "broker",
    "encryption keys",
    "engine",
    "chatwoot",
    "API token",
    "user token",
    "webhook",
    "public URL",
]


class _Health(BaseHTTPRequestHandler):
    """This service's ``/healthz`` as the public URL reaches it."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def public_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class Connected:
    chatwoot: ChatwootStandIn
    openai: OpenAIStandIn
    secrets: tuple[str, ...]


@pytest.fixture
def connected(
    runtime: Runtime,
    client: TestClient,
    openai_server: OpenAIStandIn,
    public_url: str,
) -> Iterator[Connected]:
    """Account 3 as ``accounts connect`` leaves it: the bot's token, the webhook at the public
    URL with its secret, an administrator's user token, on the OpenAI stand-in."""
    with ChatwootStandIn(account_id=3, api_token=BOT_TOKEN, user_token=ADMIN_TOKEN) as chatwoot:
        rt = reconfigure(runtime, client, public_url=public_url)
        hook = chatwoot.add_webhook(webhook_url(public_url, 3), SUBSCRIPTIONS, "Transcriber")
        changes = {
            "chatwoot_url": chatwoot.base_url,
            "api_token": BOT_TOKEN,
            "webhook_secret": hook["secret"],
            "user_token": ADMIN_TOKEN,
            "engine": "openai",
            "model": "whisper-1",
            "openai_api_key": OPENAI_KEY,
            "base_url": openai_server.base_url,
        }
        acc.create_account(rt.accounts, rt.keyring, 3, acc.parse_changes(changes))
        before = len(writes(chatwoot))
        yield Connected(
            chatwoot, openai_server, (BOT_TOKEN, ADMIN_TOKEN, OPENAI_KEY, hook["secret"])
        )
        assert writes(chatwoot)[before:] == []  # doctor wrote nothing into Chatwoot
        assert {r.path for r in openai_server.requests} <= {"/v1/models"}  # nothing transcribed


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
    assert [r.path for r in connected.chatwoot.requests] == []  # nothing was checked


@sqlite_only
def test_off_without_an_admin_token(
    client: TestClient, runtime: Runtime, connected: Connected
) -> None:
    reconfigure(runtime, client, admin_token=None)
    assert doctor(client).status_code == 404
    assert connected.chatwoot.requests == []
