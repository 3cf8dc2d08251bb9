"""``transcriber demo``: the whole pipeline, offline, against a built-in stand-in helpdesk.

A temporary SQLite database, the in-process broker, the local engine, a bundled voice note
served by a tiny fake Chatwoot on 127.0.0.1 — then a signed webhook goes through the real
receiver, a real worker thread transcribes it, and the private note it posts is printed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

SAMPLE = "voice_note.oga"
ACCOUNT_ID = 1
CONVERSATION_ID = 42
MESSAGE_ID = 1001
ATTACHMENT_ID = 5001


class StandInHelpdesk:
    """Just enough of Chatwoot: an ActiveStorage redirect, the blob, notes, custom attributes."""

    def __init__(self, audio: bytes) -> None:
        self.audio = audio
        self.notes: list[dict[str, Any]] = []
        self.attributes: dict[str, Any] = {"order_id": "48213"}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.startswith("/rails/active_storage/blobs/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", "/storage/blob/voice_note")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/storage/blob/voice_note":
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/opus")
                    self.send_header("Content-Length", str(len(outer.audio)))
                    self.end_headers()
                    self.wfile.write(outer.audio)
                elif self.path.endswith(f"/conversations/{CONVERSATION_ID}"):
                    self._json(200, {"id": CONVERSATION_ID, "custom_attributes": outer.attributes})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.endswith("/messages"):
                    outer.notes.append(body)
                    self._json(200, {"id": 9000 + len(outer.notes), **body})
                elif self.path.endswith("/custom_attributes"):
                    outer.attributes = body.get("custom_attributes", {})
                    self._json(200, {"custom_attributes": outer.attributes})
                else:
                    self._json(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StandInHelpdesk:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook_payload(base_url: str) -> dict[str, Any]:
    """A Telegram voice note as Chatwoot posts it (trimmed to what matters)."""
    attachment = {
        "id": ATTACHMENT_ID,
        "message_id": MESSAGE_ID,
        "file_type": "audio",
        "account_id": ACCOUNT_ID,
        "extension": "oga",
        "content_type": "audio/opus",
        "data_url": (
            f"{base_url}/rails/active_storage/blobs/redirect/demo--0a1b2c/{SAMPLE}"
            "?disposition=inline"
        ),
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


def run_demo(*, engine: str = "local", keep: bool = False) -> int:
    from cryptography.fernet import Fernet
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.rate_limits.backends import StubBackend
    from starlette.testclient import TestClient

    from adapter import accounts as acc
    from adapter.jobs.broker import middleware
    from adapter.settings import Settings
    from adapter.single_box import start_worker
    from adapter.store import State, Transcription, migrate
    from adapter.web.app import create_app
    from adapter.web.signing import sign
    from adapter.wiring import build_runtime

    audio = resources.files("adapter.samples").joinpath(SAMPLE).read_bytes()
    tmp = Path(tempfile.mkdtemp(prefix="transcriber-demo-"))
    settings = Settings.model_validate(
        {
            "TRANSCRIBER_DATABASE_URL": f"sqlite:///{tmp / 'demo.db'}",
            "TRANSCRIBER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "TRANSCRIBER_DEFAULT_ENGINE": engine,
            "TRANSCRIBER_WORK_DIR": str(tmp / "work"),
            "TRANSCRIBER_ENV": "development",
        }
    )
    secret = "demo-webhook-secret"  # noqa: S105 - the demo's own throw-away stand-in
    print(f"demo: working in {tmp}")
    try:
        migrate(settings.database_url)
        stub = StubBroker(middleware=middleware())
        rt = build_runtime(
            settings,
            component="demo",
            broker=(stub, StubBackend()),  # type: ignore[no-untyped-call]
            observability=False,
        )
        worker = start_worker(stub, 2)
        try:
            with StandInHelpdesk(audio) as helpdesk:
                acc.create_account(
                    rt.accounts,
                    rt.keyring,
                    ACCOUNT_ID,
                    acc.parse_changes(
                        {
                            "chatwoot_url": helpdesk.url,
                            "api_token": "demo-agent-bot-token",
                            "webhook_secret": secret,
                            "engine": engine,
                        }
                    ),
                )
                body = json.dumps(webhook_payload(helpdesk.url)).encode()
                stamp = str(int(time.time()))
                with TestClient(create_app(rt)) as client:
                    response = client.post(
                        f"/webhooks/chatwoot/{ACCOUNT_ID}",
                        content=body,
                        headers={
                            "Content-Type": "application/json",
                            "X-Chatwoot-Timestamp": stamp,
                            "X-Chatwoot-Signature": sign(secret.encode(), stamp, body),
                            "X-Chatwoot-Delivery": "demo-delivery-1",
                        },
                    )
                print(f"demo: webhook answered {response.status_code} {response.json()}")
                print("demo: transcribing with the local engine (first run assembles the model)…")
                deadline = time.monotonic() + 600
                row: Transcription | None = None
                while time.monotonic() < deadline:
                    row = rt.ledger.get(response.json()["transcriptions"][0])
                    if row is not None and row.state in (
                        State.delivered,
                        State.failed,
                        State.skipped,
                    ):
                        break
                    time.sleep(0.25)
                if row is None or row.state != State.delivered:
                    state = row.state if row else "missing"
                    error = row.error if row else ""
                    print(f"demo: transcription ended {state}: {error}")
                    return 1
                note = helpdesk.notes[0]
                print("demo: the private note posted to the conversation:\n")
                print(note["content"])
                print("\ndemo: content_attributes:", json.dumps(note["content_attributes"]))
                print("demo: conversation custom attributes:", json.dumps(helpdesk.attributes))
        finally:
            worker.stop(timeout=10_000)
            rt.close()
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


__all__ = ["StandInHelpdesk", "run_demo", "webhook_payload"]
