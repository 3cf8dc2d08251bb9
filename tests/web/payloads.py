"""Webhooks as the tests send them: the shared Chatwoot fixtures, a voice note numbered ``n``,
and a signed ``Webhook`` as the receiver hands it to the writer."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from adapter.web.webhooks import Webhook
from tests.fixtures import FIXTURES
from tests.helpers import signed_headers

CHATWOOT = FIXTURES / "chatwoot"
ACCOUNT = 3


def load(name: str) -> dict[str, Any]:
    """A shared Chatwoot fixture, e.g. ``load("telegram_voice.json")``."""
    data: dict[str, Any] = json.loads((CHATWOOT / name).read_text())
    return data


VOICE_NOTE = load("whatsapp_voice_note_ogg_opus.json")


def voice_note(n: int, *, event: str = "message_created") -> dict[str, Any]:
    """The WhatsApp voice note as message ``n``: its own message id, attachment id and URL."""
    payload: dict[str, Any] = copy.deepcopy(VOICE_NOTE)
    payload["event"] = event
    message_id, attachment_id = 700_000 + n, 900_000 + n
    payload["id"] = message_id
    for message in [payload, *payload["conversation"].get("messages", [])]:
        message["id"] = message_id
        for attachment in message.get("attachments", []):
            attachment["id"] = attachment_id
            attachment["message_id"] = message_id
            attachment["data_url"] = f"https://chatwoot.example.test/voice/{n}.ogg?sig={n}"
    return payload


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def lower(headers: dict[str, str]) -> dict[str, str]:
    """Header names as the receiver looks them up (Starlette's headers are case-blind)."""
    return {name.lower(): value for name, value in headers.items()}


def webhook(
    payload: dict[str, Any],
    *,
    delivery: str | None = None,
    account_id: int = ACCOUNT,
    secret: str | None = None,
) -> Webhook:
    """A signed webhook as the receiver hands it to the writer."""
    body = body_of(payload)
    headers = (
        signed_headers(body, delivery=delivery)
        if secret is None
        else signed_headers(body, delivery=delivery, secret=secret)
    )
    return Webhook(account_id, body, lower(headers), time.time())
