"""Driving the pipeline in tests: send a webhook, let the worker finish, read the rows.

``Pipeline`` (the ``pipeline`` fixture of ``tests/jobs/conftest.py``) is one process's
pipeline: the receiver's test client, the runtime, worker threads on the in-process broker and
account 3 on the Chatwoot and OpenAI stand-ins. The module's functions do the same for tests
that assemble their own (real processes, observability).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import dramatiq
from starlette.testclient import TestClient

from adapter.runtime import Runtime
from adapter.store import Transcription
from tests.fixtures import FIXTURES
from tests.helpers import OpenAIStandIn, drain, reconfigure, signed_headers
from tests.standins.chatwoot_server import ChatwootStandIn, fixture_payload

AUDIO = FIXTURES / "audio"
EN1 = (AUDIO / "en1.ogg").read_bytes()


def send(client: TestClient, payload: dict[str, Any], delivery: str | None = None) -> list[int]:
    """Post a signed webhook for account 3; the ids of the transcriptions it queued."""
    body = json.dumps(payload).encode()
    response = client.post(
        "/webhooks/chatwoot/3",
        content=body,
        headers=signed_headers(body, delivery=delivery or str(uuid.uuid4())),
    )
    assert response.status_code == 202, response.text
    ids: list[int] = response.json()["transcriptions"]
    return ids


def telegram(chatwoot: ChatwootStandIn, audio: bytes, name: str = "file_37.oga") -> dict[str, Any]:
    """A Telegram voice note in conversation 321 whose attachment is ``audio``."""
    chatwoot.add_conversation(
        321, custom_attributes={"order": "48213"}, channel="Channel::Telegram"
    )
    url = chatwoot.add_blob(name, audio, content_type="audio/opus")
    return fixture_payload("telegram_voice.json", attachment_urls={55123: url})


def transcription_calls(server: OpenAIStandIn) -> int:
    return len([r for r in server.requests if r.path.endswith("/audio/transcriptions")])


@dataclass
class Pipeline:
    client: TestClient
    runtime: Runtime
    worker: dramatiq.Worker
    chatwoot: ChatwootStandIn
    openai: OpenAIStandIn

    def voice_note(self, audio: bytes = EN1) -> dict[str, Any]:
        """A Telegram voice note (``en1.ogg`` unless told) in conversation 321."""
        return telegram(self.chatwoot, audio)

    def send(self, payload: dict[str, Any], delivery: str | None = None) -> list[int]:
        return send(self.client, payload, delivery)

    def finished(self, ids: list[int], timeout: float = 60) -> list[Transcription]:
        """The rows once the worker has nothing left to do: every step, retry and delivery."""
        drain(self.runtime.broker, self.worker, timeout)  # type: ignore[arg-type]
        rows = [self.runtime.ledger.get(i) for i in ids]
        assert None not in rows, f"rows missing among {ids}"
        return [row for row in rows if row is not None]

    def transcribe(self, payload: dict[str, Any]) -> Transcription:
        """Send a webhook with one attachment; its row once everything is done."""
        [row] = self.finished(self.send(payload))
        return row

    def engine_calls(self) -> int:
        return transcription_calls(self.openai)

    def reconfigure(self, **changes: Any) -> None:
        """Change settings of the running pipeline (the actors and the app see them)."""
        self.runtime = reconfigure(self.runtime, self.client, **changes)
