"""The reconciler in real processes: voice notes whose webhooks never arrived get one correct
note each, marked ``source: reconcile`` (under ``transcriber up`` on SQLite, and under
``transcriber worker`` on PostgreSQL + Redis); a ``transcriber reconcile`` killed with SIGKILL
in the middle of its scan leaves nothing behind that the next pass doesn't finish."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.scan.reconciler import reconcile
from adapter.secrets import load_keyring
from adapter.settings import Settings
from adapter.store import AccountStore, Ledger, get_engine, migrate
from tests.fixtures import AUDIO
from tests.helpers import OPENAI_KEY, SECRET, make_settings, signed_headers, wait_until
from tests.processes import Proc, env_for, processes
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import OpenAIStandIn
from tests.web.payloads import VOICE_NOTE

pytestmark = pytest.mark.slow

INTERVAL = 5  # seconds between scans: notes are due within two intervals


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_reading_account(
    settings: Settings, chatwoot: ChatwootStandIn, openai: OpenAIStandIn
) -> None:
    migrate(settings.database_url)
    changes = acc.parse_changes(
        {
            "chatwoot_url": chatwoot.base_url,
            "api_token": chatwoot.api_token,
            "webhook_secret": SECRET,
            "user_token": chatwoot.user_token,
            "openai_api_key": OPENAI_KEY,
            "engine": "openai",
            "model": "whisper-1",
            "base_url": openai.base_url,
        }
    )
    store = AccountStore(get_engine(settings.database_url))
    acc.create_account(store, load_keyring(settings), 3, changes)


def lost_voice_notes(chatwoot: ChatwootStandIn) -> list[dict[str, Any]]:
    """Two voice notes no webhook announced, beside messages that must give nothing."""
    chatwoot.add_conversation(321, channel="Channel::Whatsapp")
    audio = (AUDIO / "en1.ogg").read_bytes()
    notes = []
    for n in range(2):
        url = chatwoot.add_blob(f"voice_{n}.oga", audio, content_type="audio/ogg")
        attachment = {
            "file_type": "audio",
            "content_type": "audio/ogg",
            "data_url": url,
            "file_size": len(audio),
        }
        notes.append(chatwoot.add_message(321, attachments=[attachment]))
        chatwoot.add_message(321, message_type=1, attachments=[attachment | {}])  # outgoing
        chatwoot.add_message(321, private=True, attachments=[attachment | {}])
    chatwoot.add_message(321, content="just text")
    return notes


def ledger(settings: Settings) -> Ledger:
    return Ledger(get_engine(settings.database_url), lease_seconds=3)


def late_webhook(port: int, message: dict[str, Any]) -> httpx.Response:
    payload = json.loads(json.dumps(VOICE_NOTE))
    payload["id"] = message["id"]
    payload["conversation"]["id"] = 321
    payload["attachments"] = message["attachments"]
    payload["conversation"]["messages"] = []
    body = json.dumps(payload).encode()
    return httpx.post(
        f"http://127.0.0.1:{port}/webhooks/chatwoot/3",
        content=body,
        headers=signed_headers(body, delivery="late-1"),
        timeout=10,
    )


def check_found(settings: Settings, chatwoot: ChatwootStandIn, notes: list[dict]) -> None:
    rows = ledger(settings).recent()
    assert {r.attachment_id for r in rows} == {n["attachments"][0]["id"] for n in notes}
    assert {(r.source, r.state) for r in rows} == {("reconcile", "delivered")}
    posted = chatwoot.notes(321)
    assert len(posted) == 2
    assert all("This is the stand-in transcript." in n["content"] for n in posted)
    assert sorted(n["content_attributes"]["in_reply_to"] for n in posted) == sorted(
        n["id"] for n in notes
    )
    assert chatwoot.violations == []


def test_up_finds_lost_voice_notes_within_two_intervals(
    tmp_path: Path, fernet_key: str, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_reading_account(settings, chatwoot, openai_server)
    port = free_port()
    env = env_for(
        settings,
        TRANSCRIBER_RECONCILE_INTERVAL_SECONDS=str(INTERVAL),
        TRANSCRIBER_LOG_LEVEL="INFO",
    )
    with processes() as procs:
        box = Proc(["up", "--port", str(port), "--threads", "2"], env, tmp_path / "up.log")
        procs.append(box)
        wait_until(
            lambda: "Uvicorn running on" in box.output(), 60, "`up` to listen", on=box.printed
        )
        notes = lost_voice_notes(chatwoot)
        wait_until(
            lambda: len(chatwoot.notes(321)) >= 2,
            2 * INTERVAL,
            "two notes from the reconciler",
            on=chatwoot.arrived,
        )
        response = late_webhook(port, notes[0])
        assert response.status_code == 202 and response.json()["status"] == "duplicate"
        assert box.term() == 0
    check_found(settings, chatwoot, notes)
    assert "webhooks never arrived" in box.output()
    assert chatwoot.user_token not in box.output()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_worker_on_postgres_and_redis_finds_lost_voice_notes(
    tmp_path: Path,
    fernet_key: str,
    redis_url: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    database_url: str,
) -> None:
    settings = make_settings(database_url, tmp_path, fernet_key)
    add_reading_account(settings, chatwoot, openai_server)
    env = env_for(
        settings,
        TRANSCRIBER_REDIS_URL=redis_url,
        TRANSCRIBER_RECONCILE_INTERVAL_SECONDS=str(INTERVAL),
    )
    with processes() as procs:
        notes = lost_voice_notes(chatwoot)
        worker = Proc(["worker", "--processes", "1", "--threads", "2"], env, tmp_path / "w.log")
        procs.append(worker)
        wait_until(
            lambda: len(chatwoot.notes(321)) >= 2,
            2 * INTERVAL,
            "two notes from the reconciler",
            on=chatwoot.arrived,
        )
        assert worker.term() == 0  # SIGTERM: the worker finishes what it holds
    check_found(settings, chatwoot, notes)


def test_a_reconcile_killed_mid_scan_is_finished_by_the_next_pass(
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    runtime: Runtime,
) -> None:
    settings = runtime.settings
    add_reading_account(settings, chatwoot, openai_server)
    notes = lost_voice_notes(chatwoot)
    # the scan cannot finish before it is killed (if it is killed before asking, the next pass
    # waits these 2 s instead)
    chatwoot.hang(2, times=1, path="/api/v1/accounts/3/conversations/321/messages")
    env = env_for(settings)
    with processes() as procs:
        scan = Proc(["reconcile", "--json"], env, tmp_path / "reconcile.log")
        procs.append(scan)
        wait_until(
            lambda: any(r.path == "/api/v1/accounts/3/conversations" for r in chatwoot.requests),
            30,
            "the scan to list the conversations",
            on=chatwoot.arrived,
        )
        scan.kill9()  # holding the account's lease, its messages request hanging
    (busy,) = reconcile(runtime)
    assert busy.status == "busy"  # the dead process's lease still holds for up to 3 s...
    passes: list[str] = []

    def finished() -> bool:
        (result,) = reconcile(runtime)
        passes.append(result.status)
        return result.status == "ok" and result.counts.queued == 2

    # ... then a pass takes it over and finishes the window (the condition is never notified:
    # ``wait_for`` tries again when the lease has run out)
    lease_runs_out = threading.Condition()
    with lease_runs_out:
        assert lease_runs_out.wait_for(finished, 4.0), passes
    rows = runtime.ledger.recent()
    assert {r.attachment_id for r in rows} == {n["attachments"][0]["id"] for n in notes}
