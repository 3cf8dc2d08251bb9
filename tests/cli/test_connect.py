"""``transcriber accounts connect`` against the stand-in Chatwoot: one bot, one webhook, the
attribute, the account stored; idempotent; one line per failure; nothing secret printed; and
a webhook signed with the secret Chatwoot generated reaches a note written with the bot's
token."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dramatiq
import pytest
from starlette.testclient import TestClient

from adapter.accounts import open_secret
from adapter.runtime import Runtime
from adapter.store import AccountStore, get_engine
from tests.cli.connecting import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    PUBLIC,
    SUBSCRIPTIONS,
    connect,
    token_file,
    writes,
)
from tests.cli.helpers import Call, Result, one_line_failure
from tests.helpers import OPENAI_KEY, OpenAIStandIn, drain
from tests.jobs.pipeline import EN1, telegram
from tests.standins.chatwoot_server import ChatwootStandIn, webhook_headers


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    """Account 3 with an administrator's and an agent's tokens, inboxes 1 and 5, and an
    older bot that is not ours."""
    with ChatwootStandIn(account_id=3, user_token=ADMIN_TOKEN, bot_name="Old helper") as server:
        server.add_user_token(AGENT_TOKEN, role="agent", inbox_ids=[1])
        server.add_inbox(5, "WhatsApp")
        yield server


def secrets_of(chatwoot: ChatwootStandIn) -> list[str]:
    values = [ADMIN_TOKEN, AGENT_TOKEN, chatwoot.api_token]
    values += [bot["access_token"] for bot in chatwoot.agent_bots()]
    values += [bot["secret"] for bot in chatwoot.agent_bots()]
    values += [hook["secret"] for hook in chatwoot.webhooks()]
    return values


def assert_nothing_secret(chatwoot: ChatwootStandIn, *texts: str) -> None:
    for secret in secrets_of(chatwoot):
        for text in texts:
            assert secret not in text


def stored(database_url: str, fernet_key: str) -> dict[str, str | None]:
    from adapter.secrets import Keyring

    account = AccountStore(get_engine(database_url)).get(3)
    assert account is not None
    keyring = Keyring.from_keys([fernet_key])
    return {
        "api_token": open_secret(keyring, 3, "api_token", account.api_token_enc),
        "webhook_secret": open_secret(keyring, 3, "webhook_secret", account.webhook_secret_enc),
        "previous": account.webhook_secret_previous_enc,
        "user_token": open_secret(keyring, 3, "user_token", account.user_token_enc or ""),
        "updated_at": account.updated_at.isoformat(),
    }


def test_connect_sets_everything_up_once(
    call: Call,
    chatwoot: ChatwootStandIn,
    database_url: str,
    fernet_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    result = call(connect(chatwoot, "--inbox-id", "5"))
    assert result.returncode == 0, result.stderr
    [hook] = chatwoot.webhooks()
    assert hook["url"] == f"{PUBLIC}/webhooks/chatwoot/3"
    assert sorted(hook["subscriptions"]) == sorted(SUBSCRIPTIONS)
    [bot] = [b for b in chatwoot.agent_bots() if b["name"] == "Transcriber"]
    assert bot["account_id"] == 3
    [definition] = chatwoot.attribute_definitions()
    assert definition["attribute_key"] == "transcript_language"
    assert definition["attribute_model"] == "conversation_attribute"
    assert definition["attribute_display_type"] == "text"
    assert chatwoot.inbox_bot(5) == bot["id"]
    assert chatwoot.violations == []
    saved = stored(database_url, fernet_key)
    assert saved["api_token"] == bot["access_token"]
    assert saved["webhook_secret"] == hook["secret"]
    assert saved["user_token"] == ADMIN_TOKEN
    assert "account 3 added" in result.stdout
    listed = call(["accounts", "list", "--json"])
    assert [a["account_id"] for a in json.loads(listed.stdout)] == [3]
    assert_nothing_secret(chatwoot, result.stdout, result.stderr, listed.stdout, caplog.text)


def test_a_second_connect_changes_nothing(
    call: Call, chatwoot: ChatwootStandIn, database_url: str, fernet_key: str
) -> None:
    assert call(connect(chatwoot, "--inbox-id", "5")).returncode == 0
    before = stored(database_url, fernet_key)
    done = len(writes(chatwoot))
    again = call(connect(chatwoot, "--inbox-id", "5"))
    assert again.returncode == 0, again.stderr
    assert writes(chatwoot)[done:] == []
    assert len(chatwoot.webhooks()) == 1
    assert len([b for b in chatwoot.agent_bots() if b["name"] == "Transcriber"]) == 1
    assert stored(database_url, fernet_key) == before
    assert before["previous"] is None
    assert "account 3 unchanged" in again.stdout
    assert_nothing_secret(chatwoot, again.stdout, again.stderr)


def test_connect_adopts_what_an_admin_made_by_hand(
    call: Call, chatwoot: ChatwootStandIn, database_url: str, fernet_key: str
) -> None:
    """A webhook at the same URL with one event, and a bot named Transcriber: updated and
    reused, never duplicated."""
    made = chatwoot.add_webhook(f"{PUBLIC}/webhooks/chatwoot/3", ["message_created"])
    bot = chatwoot.add_agent_bot("Transcriber")
    chatwoot.add_webhook("https://old.example.test/webhooks/chatwoot/3", ["message_created"])
    result = call(connect(chatwoot))
    assert result.returncode == 0, result.stderr
    hook = next(h for h in chatwoot.webhooks() if h["id"] == made["id"])
    assert sorted(hook["subscriptions"]) == sorted(SUBSCRIPTIONS)
    assert len(chatwoot.webhooks()) == 2
    assert [b["id"] for b in chatwoot.agent_bots() if b["name"] == "Transcriber"] == [bot["id"]]
    assert stored(database_url, fernet_key)["webhook_secret"] == made["secret"]
    assert "old.example.test" in result.stdout  # the stale one is named, not touched
    assert chatwoot.violations == []


def test_dry_run_writes_nothing(call: Call, chatwoot: ChatwootStandIn, database_url: str) -> None:
    result = call(connect(chatwoot, "--inbox-id", "5", "--dry-run"))
    assert result.returncode == 0, result.stderr
    assert writes(chatwoot) == []
    assert AccountStore(get_engine(database_url)).get(3) is None
    assert 'create the agent bot "Transcriber"' in result.stdout
    assert f"create the webhook {PUBLIC}/webhooks/chatwoot/3" in result.stdout
    assert "connect the bot to inbox 5" in result.stdout
    assert_nothing_secret(chatwoot, result.stdout, result.stderr)


def test_an_agents_token_gets_one_line(call: Call, chatwoot: ChatwootStandIn) -> None:
    line = one_line_failure(call(connect(chatwoot, token=AGENT_TOKEN)))
    assert "administrator" in line
    assert "agent" in line
    assert writes(chatwoot) == []


def test_a_bots_token_gets_one_line(call: Call, chatwoot: ChatwootStandIn) -> None:
    line = one_line_failure(call(connect(chatwoot, token=chatwoot.api_token)))
    assert "agent bot's token" in line
    assert chatwoot.api_token not in line


def test_a_revoked_token_gets_one_line(call: Call, chatwoot: ChatwootStandIn) -> None:
    chatwoot.revoke(ADMIN_TOKEN)
    line = one_line_failure(call(connect(chatwoot)))
    assert "no such token" in line


def test_an_old_chatwoot_is_named(call: Call, database_url: str) -> None:
    with ChatwootStandIn(account_id=3, user_token=ADMIN_TOKEN, version="4.10.1") as old:
        line = one_line_failure(call(connect(old)))
        assert "4.11.2" in line
        assert "4.10.1" in line
        assert writes(old) == []


def test_an_old_chatwoot_that_hides_its_version_is_caught_by_the_answer(
    call: Call, database_url: str
) -> None:
    with ChatwootStandIn(
        account_id=3, user_token=ADMIN_TOKEN, version=None, signs_webhooks=False
    ) as old:
        line = one_line_failure(call(connect(old)))
        assert "4.11.2" in line
    assert AccountStore(get_engine(database_url)).get(3) is None


def test_a_wrong_account_id_gets_one_line(call: Call, chatwoot: ChatwootStandIn) -> None:
    args = connect(chatwoot)
    args[args.index("--account-id") + 1] = "4"
    line = one_line_failure(call(args))
    assert "account 4" in line
    assert "--account-id" in line


def test_an_unknown_inbox_gets_one_line(call: Call, chatwoot: ChatwootStandIn) -> None:
    line = one_line_failure(call(connect(chatwoot, "--inbox-id", "77")))
    assert "inbox 77" in line


def test_unreachable_and_tls_failures_get_one_line(call: Call, chatwoot: ChatwootStandIn) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    args = connect(chatwoot)
    args[args.index("--chatwoot-url") + 1] = f"http://127.0.0.1:{closed}"
    assert "could not reach" in one_line_failure(call(args))
    # TLS spoken to a plain HTTP server: the handshake fails
    args[args.index("--chatwoot-url") + 1] = chatwoot.base_url.replace("http://", "https://")
    line = one_line_failure(call(args))
    assert "TLS" in line


class _Hostile(BaseHTTPRequestHandler):
    """Answers every request with ``answer`` (status, content type, body)."""

    answer: tuple[int, str, bytes] = (200, "text/html", b"<html>login</html>")

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status, kind, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ((200, "text/html", b"<html>login</html>"), "not JSON"),
        ((500, "text/html", b"<h1>oops</h1>"), "500"),
        ((200, "application/json", b'{"accounts": "x", "id": "y"}'), "not a member"),
        ((200, "application/json", b"[1, 2, 3]"), "another shape"),
        ((302, "text/html", b""), "redirect"),
        ((200, "application/json", b'{"version": 4}'), "not JSON"),
    ],
)
def test_hostile_answers_get_one_line(
    call: Call, answer: tuple[int, str, bytes], said: str
) -> None:
    handler = type("Handler", (_Hostile,), {"answer": answer})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result: Result = call(
            [
                *("accounts", "connect", "--chatwoot-url", url, "--account-id", "3"),
                *("--user-token", token_file(ADMIN_TOKEN), "--public-url", PUBLIC),
            ]
        )
    finally:
        server.shutdown()
        server.server_close()
    line = one_line_failure(result)
    assert said in line or "not JSON" in line or "shape" in line, line


def test_the_connected_account_transcribes_with_the_bots_token(
    call: Call,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    runtime: Runtime,
    client: TestClient,
) -> None:
    """A webhook signed with the secret Chatwoot generated is accepted, and the note is
    written with the bot's token."""
    result = call(
        [
            *connect(chatwoot),
            *("--engine", "openai", "--openai-api-key", token_file(OPENAI_KEY)),
            *("--base-url", openai_server.base_url),
        ]
    )
    assert result.returncode == 0, result.stderr
    [hook] = chatwoot.webhooks()
    [bot] = [b for b in chatwoot.agent_bots() if b["name"] == "Transcriber"]
    payload = telegram(chatwoot, EN1)
    body = json.dumps(payload).encode()
    response = client.post(
        "/webhooks/chatwoot/3", content=body, headers=webhook_headers(hook["secret"], body)
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    worker = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        drain(runtime.broker, worker, 60)  # type: ignore[arg-type]
    finally:
        worker.stop(timeout=5000)
    [note] = chatwoot.notes(321)
    assert note["private"] is True
    assert note["sender"]["name"] == "Transcriber"
    posted = [r for r in chatwoot.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert {r.headers["api_access_token"] for r in posted} == {bot["access_token"]}
    assert chatwoot.violations == []


def test_a_second_connect_with_controls_changes_nothing(
    call: Call, chatwoot: ChatwootStandIn, database_url: str, fernet_key: str
) -> None:
    controls = ["--inboxes", "1,5", "--min-seconds", "2", "--mode", "on-demand"]
    controls += ["--inbox-language", "5=es", "--language", "en", "--engine", "local"]
    first = call(connect(chatwoot, *controls))
    assert first.returncode == 0, first.stderr
    before = stored(database_url, fernet_key)
    again = call(connect(chatwoot, *controls))
    assert again.returncode == 0, again.stderr
    assert "account 3 unchanged" in again.stdout
    assert stored(database_url, fernet_key) == before
