"""``transcriber demo``: the whole pipeline, offline, against the stand-in Chatwoot.

A temporary SQLite database, the in-process broker, the local engine, a bundled voice note
served by the stand-in Chatwoot on 127.0.0.1 (``adapter.standins``) — then a signed webhook goes
through the real receiver, real worker threads transcribe it, and the private note they post is
printed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import dramatiq
from cryptography.fernet import Fernet
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import QueueJoinTimeout
from dramatiq.rate_limits.backends import StubBackend
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.jobs.broker import QUEUES, middleware
from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.single_box import start_worker
from adapter.standins import ChatwootStandIn
from adapter.store import State, migrate
from adapter.web.app import create_app
from adapter.web.signing import sign
from adapter.wiring import build_runtime

SAMPLE = "voice_note.oga"
ACCOUNT_ID = 1
CONVERSATION_ID = 42
MESSAGE_ID = 1001
ATTACHMENT_ID = 5001
API_TOKEN = "demo-agent-bot-token"  # noqa: S105 - the demo's own throw-away stand-in
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - likewise
#: the local engine assembles its model on the first run: give it time
TRANSCRIBE_TIMEOUT_MS = 600_000


def webhook_payload(data_url: str) -> dict[str, Any]:
    """A Telegram voice note as Chatwoot posts it (trimmed to what matters)."""
    attachment = {
        "id": ATTACHMENT_ID,
        "message_id": MESSAGE_ID,
        "file_type": "audio",
        "account_id": ACCOUNT_ID,
        "extension": "oga",
        "content_type": "audio/opus",
        "data_url": data_url,
        "file_size": 0,
    }
    return {
        "event": "message_created",
        "id": MESSAGE_ID,
        "message_type": "incoming",
        "private": False,
        "content": None,
        "content_attributes": {},
        "account": {"id": ACCOUNT_ID, "name": "Demo"},
        "inbox": {"id": 1, "name": "Telegram Bot"},
        "conversation": {"id": CONVERSATION_ID, "channel": "Channel::Telegram"},
        "attachments": [attachment],
    }


def demo_settings(work: Path, engine: str) -> Settings:
    """A throw-away database, key and work directory under ``work``."""
    return Settings.model_validate(
        {
            "TRANSCRIBER_DATABASE_URL": f"sqlite:///{work / 'demo.db'}",
            "TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "TRANSCRIBER_DEFAULT_ENGINE": engine,
            "TRANSCRIBER_WORK_DIR": str(work / "work"),
            "TRANSCRIBER_ENV": "development",
        }
    )


def open_helpdesk(helpdesk: ChatwootStandIn) -> str:
    """The conversation and its voice note in the stand-in; the attachment's ``data_url``."""
    helpdesk.add_conversation(
        CONVERSATION_ID, custom_attributes={"order_id": "48213"}, channel="Channel::Telegram"
    )
    audio = resources.files("adapter.samples").joinpath(SAMPLE).read_bytes()
    return helpdesk.add_blob(SAMPLE, audio, content_type="audio/opus")


def add_account(rt: Runtime, helpdesk: ChatwootStandIn, engine: str) -> None:
    changes = {
        "chatwoot_url": helpdesk.base_url,
        "api_token": helpdesk.api_token,
        "webhook_secret": WEBHOOK_SECRET,
        "engine": engine,
    }
    acc.create_account(rt.accounts, rt.keyring, ACCOUNT_ID, acc.parse_changes(changes))


def post_webhook(rt: Runtime, data_url: str) -> int:
    """Send the signed webhook through the real receiver; the transcription's id."""
    body = json.dumps(webhook_payload(data_url)).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Signature": sign(WEBHOOK_SECRET.encode(), stamp, body),
        "X-Chatwoot-Delivery": "demo-delivery-1",
    }
    with TestClient(create_app(rt)) as client:
        response = client.post(f"/webhooks/chatwoot/{ACCOUNT_ID}", content=body, headers=headers)
    print(f"demo: webhook answered {response.status_code} {response.json()}")
    transcription_id: int = response.json()["transcriptions"][0]
    return transcription_id


def settle(broker: StubBroker, worker: dramatiq.Worker) -> None:
    """Until every message on every queue is done (a step may send the next one), or the
    time is up (``report`` then tells what became of the transcription)."""
    deadline = time.monotonic() + TRANSCRIBE_TIMEOUT_MS / 1000
    while True:
        try:
            for queue in QUEUES:
                left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                broker.join(queue, timeout=left_ms, fail_fast=False)
        except QueueJoinTimeout:
            return
        worker.join()
        if all(q.unfinished_tasks == 0 for q in broker.queues.values()):
            return


def report(rt: Runtime, helpdesk: ChatwootStandIn, transcription_id: int) -> int:
    """Print the note the helpdesk received (0), or why there is none (1)."""
    row = rt.ledger.get(transcription_id)
    if row is None or row.state != State.delivered:
        state, error = (row.state, row.error) if row else ("missing", "")
        print(f"demo: transcription ended {state}: {error}")
        return 1
    note = helpdesk.notes(CONVERSATION_ID)[0]
    print("demo: the private note posted to the conversation:\n")
    print(note["content"])
    print("\ndemo: content_attributes:", json.dumps(note["content_attributes"]))
    attributes = helpdesk.conversation(CONVERSATION_ID)["custom_attributes"]
    print("demo: conversation custom attributes:", json.dumps(attributes))
    return 0


def run_pipeline(settings: Settings, engine: str) -> int:
    """Receiver, worker threads and stand-in helpdesk in this process, one voice note through."""
    migrate(settings.database_url)
    broker = StubBroker(middleware=middleware())
    rt = build_runtime(
        settings,
        component="demo",
        broker=(broker, StubBackend()),  # type: ignore[no-untyped-call]
        observability=False,
    )
    worker = start_worker(broker, 2)
    try:
        with ChatwootStandIn(account_id=ACCOUNT_ID, api_token=API_TOKEN) as helpdesk:
            data_url = open_helpdesk(helpdesk)
            add_account(rt, helpdesk, engine)
            transcription_id = post_webhook(rt, data_url)
            print("demo: transcribing with the local engine (first run assembles the model)…")
            settle(broker, worker)
            return report(rt, helpdesk, transcription_id)
    finally:
        worker.stop(timeout=10_000)
        rt.close()


def run_demo(*, engine: str = "local", keep: bool = False) -> int:
    work = Path(tempfile.mkdtemp(prefix="transcriber-demo-"))
    print(f"demo: working in {work}")
    try:
        return run_pipeline(demo_settings(work, engine), engine)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


__all__ = ["run_demo", "webhook_payload"]
