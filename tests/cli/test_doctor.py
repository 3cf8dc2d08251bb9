"""``transcriber doctor`` and ``adapter.doctor.run_checks``: all well after ``accounts connect``;
each broken part named on its own line with the fix; nothing written, nothing spent (the
engine key is checked with ``GET /v1/models``, never a transcription)."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapter import doctor
from adapter.runtime import Runtime
from adapter.web.app import create_app
from tests.cli.connecting import ADMIN_TOKEN, connect, token_file, writes
from tests.cli.helpers import Call, one_line_failure
from tests.console.connected import NAMES, healthz
from tests.helpers import OPENAI_KEY, OpenAIStandIn
from tests.standins.chatwoot_server import ChatwootStandIn


@pytest.fixture
def public_url() -> Iterator[str]:
    with healthz() as url:
        yield url


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=3, user_token=ADMIN_TOKEN, bot_name="Old helper") as server:
        yield server


@pytest.fixture
def connected(
    call: Call,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    public_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> ChatwootStandIn:
    """Account 3 connected with its webhook at ``public_url``, on the OpenAI stand-in."""
    args = connect(chatwoot)
    args[args.index("--public-url") + 1] = public_url
    args += ["--engine", "openai", "--openai-api-key", token_file(OPENAI_KEY)]
    args += ["--base-url", openai_server.base_url]
    result = call(args)
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("TRANSCRIBER_PUBLIC_URL", public_url)
    return chatwoot


def lines_of(output: str) -> dict[str, str]:
    """Each check's line by its name (``ok   account 3 webhook: …`` → ``webhook``)."""
    found = {}
    for line in output.splitlines():
        head = line.split(":", 1)[0].split()
        name = " ".join(head[3:] if len(head) > 2 and head[1] == "account" else head[1:])
        found[name] = line
    return found


def test_doctor_passes_when_all_is_well(
    call: Call, connected: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    before = len(writes(connected))
    result = call(["doctor"])
    assert result.returncode == 0, result.stdout + result.stderr
    checks = lines_of(result.stdout)
    assert list(checks) == NAMES
    assert all(line.startswith("ok") for line in checks.values()), result.stdout
    assert writes(connected)[before:] == []
    paths = [r.path for r in openai_server.requests]
    assert paths == ["/v1/models"]  # the key checked, nothing transcribed
    for secret in (ADMIN_TOKEN, OPENAI_KEY, *(h["secret"] for h in connected.webhooks())):
        assert secret not in result.stdout + result.stderr


def test_doctor_json_and_one_account(call: Call, connected: ChatwootStandIn) -> None:
    result = call(["doctor", "--account-id", "3", "--json"])
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == NAMES
    assert {c["account_id"] for c in report["checks"] if c["name"] == "webhook"} == {3}
    missing = call(["doctor", "--account-id", "9"])
    assert missing.returncode == 1
    assert "FAIL account: account 9 does not exist" in missing.stdout


def test_doctor_names_the_revoked_api_token(call: Call, connected: ChatwootStandIn) -> None:
    [bot] = [b for b in connected.agent_bots() if b["name"] == "Transcriber"]
    connected.revoke(bot["access_token"])
    result = call(["doctor"])
    assert result.returncode == 1
    line = lines_of(result.stdout)["API token"]
    assert line.startswith("FAIL account 3 API token: Chatwoot rejects the API token")
    assert "Invalid Access Token" in line
    assert "accounts connect" in line
    failed = [x for x in result.stdout.splitlines() if x.startswith("FAIL")]
    assert failed == [line]


def test_doctor_names_the_revoked_user_token(call: Call, connected: ChatwootStandIn) -> None:
    connected.revoke(ADMIN_TOKEN)
    result = call(["doctor"])
    assert result.returncode == 1
    line = lines_of(result.stdout)["user token"]
    assert line.startswith("FAIL account 3 user token")
    assert "--user-token" in line


def test_doctor_names_a_refused_openai_key(
    call: Call, connected: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    openai_server.api_key = "sk-another-" + "x" * 20
    result = call(["doctor"])
    assert result.returncode == 1
    line = lines_of(result.stdout)["engine"]
    assert "refuses the OpenAI key" in line
    assert OPENAI_KEY not in result.stdout
    assert [r.path for r in openai_server.requests] == ["/v1/models"]


def test_doctor_checks_the_chat_model_of_an_account_with_summaries(
    call: Call, connected: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    assert "chat model" not in lines_of(call(["doctor"]).stdout)  # no summaries: not checked
    assert call(["accounts", "update", "3", "--summary-min-seconds", "60"]).returncode == 0
    line = lines_of(call(["doctor"]).stdout)["chat model"]
    assert line.startswith("ok   account 3 chat model") and "'gpt-4o-mini' listed" in line

    assert call(["accounts", "update", "3", "--chat-model", "llama-9"]).returncode == 0
    result = call(["doctor"])
    assert result.returncode == 1
    line = lines_of(result.stdout)["chat model"]
    assert "lists no model 'llama-9'" in line and "--chat-model" in line

    assert call(["accounts", "update", "3", "--chat-model", "off"]).returncode == 0
    line = lines_of(call(["doctor"]).stdout)["chat model"]
    assert line.startswith("FAIL") and "--chat-base-url" in line
    update = ["accounts", "update", "3", "--summary-min-seconds", "0", "--translate-to", "en"]
    assert call(update).returncode == 0
    line = lines_of(call(["doctor"]).stdout)["chat model"]
    assert line.startswith("ok") and "English translations come from the engine" in line
    assert OPENAI_KEY not in call(["doctor"]).stdout


def test_doctor_names_a_webhook_changed_in_chatwoot(
    call: Call, connected: ChatwootStandIn, public_url: str
) -> None:
    [hook] = connected.webhooks()
    connected.add_webhook(f"{public_url}/other", ["message_created"])  # unrelated: ignored
    with connected._lock:
        connected._settings.hooks[hook["id"]].subscriptions = ["message_created"]
    line = lines_of(call(["doctor"]).stdout)["webhook"]
    assert "not subscribed to message_updated, conversation_updated" in line
    with connected._lock:
        connected._settings.hooks[hook["id"]].subscriptions = list(hook["subscriptions"])
        connected._settings.hooks[hook["id"]].secret = "regenerated-" + "s" * 20
    line = lines_of(call(["doctor"]).stdout)["webhook"]
    assert "secret is not the one stored" in line


def test_doctor_names_the_public_url_and_redis(
    call: Call, connected: ChatwootStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("TRANSCRIBER_REDIS_URL", f"redis://127.0.0.1:{closed}/0")
    monkeypatch.setenv("TRANSCRIBER_PUBLIC_URL", f"http://127.0.0.1:{closed}")
    result = call(["doctor"])
    assert result.returncode == 1
    checks = lines_of(result.stdout)
    assert checks["broker"].startswith("FAIL broker: Redis at redis://127.0.0.1")
    assert checks["public URL"].startswith("FAIL public URL")
    assert "no webhook at" in checks["webhook"]  # the webhook points at the old public URL


def test_doctor_on_a_missing_database_is_one_line(
    call: Call, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("TRANSCRIBER_DATABASE_URL", "sqlite:///./nowhere.db")
    result = call(["doctor"])
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL database:")
    assert len(result.stdout.splitlines()) == 1


def test_run_checks_serves_the_api_view(
    call: Call,
    connected: ChatwootStandIn,
    runtime: Runtime,
    public_url: str,
    openai_server: OpenAIStandIn,
) -> None:
    """What the admin API can serve: the checks of one account, as JSON, against this very
    app's /healthz."""
    rt = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"public_url": public_url})
    )
    checks = doctor.run_checks(rt, 3, http=lambda: TestClient(create_app(rt)))
    view = doctor.report(checks)
    assert view["ok"] is True, [c.line() for c in checks]
    assert [c["name"] for c in view["checks"]] == NAMES
    assert {c["status"] for c in view["checks"]} == {"ok"}
    json.dumps(view)


def test_connect_refuses_the_options_it_sets_itself(call: Call, chatwoot: ChatwootStandIn) -> None:
    line = one_line_failure(call([*connect(chatwoot), "--api-token", token_file("x" * 20)]))
    assert "--api-token" in line
