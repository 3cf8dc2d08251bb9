"""Chatwoot webhook payloads for the channel tests: the shared fixtures, and builders of variants.

    load("telegram_voice.json")        # one shared fixture, parsed
    PAYLOADS                           # every shared fixture, parsed
    payload(attachment(700, content_type="audio/amr"), channel="Channel::Sms", private=True)
    summary(body)                      # (status, reason, [(attachment_id, extension)])

``payload`` starts from the WhatsApp voice-note fixture and puts the attachments both at the
top level and in the conversation's copy of the message, as Chatwoot does.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from channels import decide
from tests.fixtures import CHATWOOT

FIXTURES = CHATWOOT
#: the fixture files that are webhook payloads (the directory also holds the API spec)
NAMES = sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "swagger.json")
REDIRECT = "https://chatwoot.example.test/rails/active_storage/blobs/redirect/abc--def/"


def load(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


PAYLOADS = [load(name) for name in NAMES]
BASE = load("whatsapp_voice_note_ogg_opus.json")


def attachment(
    attachment_id: int = 700,
    *,
    file_type: Any = "audio",
    content_type: Any = "audio/opus",
    extension: Any = None,
    filename: str = "voice_note",
    data_url: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": attachment_id,
        "message_id": BASE["id"],
        "file_type": file_type,
        "account_id": 3,
        "extension": extension,
        "content_type": content_type,
        "data_url": data_url if data_url is not None else REDIRECT + filename,
        "thumb_url": "",
        "file_size": 1234,
        **extra,
    }


def payload(
    *attachments: dict[str, Any], channel: str = "Channel::Whatsapp", **top: Any
) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    body["conversation"]["channel"] = channel
    body["attachments"] = list(attachments)
    body["conversation"]["messages"][0]["attachments"] = list(attachments)
    body.update(top)
    return body


def summary(body: Any) -> tuple[str, str, list[tuple[int, str | None]]]:
    decision = decide(body)
    return (
        decision.status,
        decision.reason,
        [(a.attachment_id, a.extension) for a in decision.attachments],
    )
