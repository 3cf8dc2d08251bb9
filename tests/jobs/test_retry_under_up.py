"""The failure-note story as an admin meets it, in real processes: ``transcriber up`` without
Redis, an account whose OpenAI key is wrong. The voice note gets exactly one failure note (its
reason code, no language); once the key is fixed, ``transcriber retry`` (another process, whose
in-process broker reaches no worker of ``up``) is delivered by ``up``'s next recovery sweep,
and no second failure note comes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from adapter import accounts as acc
from adapter.helpdesk.notes import FAILURE_NOTE_HEADER, NOTE_HEADER
from adapter.secrets import load_keyring
from adapter.standins import MESSAGES_OP
from adapter.store import AccountStore, get_engine
from tests.helpers import OPENAI_KEY, make_settings, signed_headers, wait_until
from tests.jobs.pipeline import EN1, telegram
from tests.processes import Proc, add_account, env_for, processes, row
from tests.scan.test_reconciler_processes import free_port
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import OpenAIStandIn

pytestmark = pytest.mark.slow


def test_retry_under_up_delivers_after_the_key_is_fixed(
    tmp_path: Path, fernet_key: str, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_account(settings, chatwoot, openai_server)
    store, keyring = AccountStore(get_engine(settings.database_url)), load_keyring(settings)
    wrong = acc.parse_changes({"openai_api_key": "sk-wrong-" + "0" * 24})
    acc.update_account(store, keyring, 3, wrong)
    env = env_for(settings, TRANSCRIBER_LOG_LEVEL="INFO")  # sweeps every second (default 30 s)
    port = free_port()
    with processes() as procs:
        box = Proc(["up", "--port", str(port), "--threads", "2"], env, tmp_path / "up.log")
        procs.append(box)
        wait_until(lambda: "Uvicorn running" in box.output(), 60, "`up` to listen", on=box.printed)
        body = json.dumps(telegram(chatwoot, EN1)).encode()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/chatwoot/3",
            content=body,
            headers=signed_headers(body, delivery="voice-1"),
            timeout=10,
        )
        [tid] = answer.json()["transcriptions"]
        wait_until(lambda: chatwoot.notes(321), 30, "the failure note", on=chatwoot.arrived)
        failed = row(settings, tid)
        assert (failed.state, failed.reason) == ("failed", "engine_rejected")

        acc.update_account(store, keyring, 3, acc.parse_changes({"openai_api_key": OPENAI_KEY}))
        retry = subprocess.run(
            [sys.executable, "-m", "adapter", "retry", "--account-id", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert retry.returncode == 0, retry.stderr
        wait_until(
            lambda: len(chatwoot.notes(321)) == 2, 30, "the transcript note", on=chatwoot.arrived
        )
        assert box.term() == 0
    assert row(settings, tid).state == "delivered"
    failure_note, transcript_note = chatwoot.notes(321)  # and no second failure note
    assert failure_note["content"].startswith(FAILURE_NOTE_HEADER)
    assert transcript_note["content"].startswith(NOTE_HEADER + " (")
    name = f"{MESSAGES_OP[0]} {MESSAGES_OP[1]}"
    [failure, _] = [r.json for r in chatwoot.requests if r.operation == name]
    assert failure["content_attributes"]["transcriber"] == {
        "attachment_id": 55123,
        "error": "engine_rejected",
    }
    assert chatwoot.violations == []
