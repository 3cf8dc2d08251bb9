"""Types shared by the channel modules and the receiver (sans-I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class AudioAttachment:
    """One attachment the receiver should transcribe."""

    attachment_id: int
    url: str  # Chatwoot's data_url (an ActiveStorage redirect); never logged
    filename: str | None  # last path segment of the URL, percent-decoded, if any
    content_type: str | None
    extension: str | None  # lower case, no dot; from the payload or the filename
    file_size: int | None


@dataclass(frozen=True)
class Decision:
    """What to do with one webhook body."""

    status: Literal["accepted", "ignored"]
    reason: str  # why: "audio", "not_incoming", "private", "own_note", "no_audio", "event", ...
    event: str | None
    channel: str  # short channel name: "whatsapp", "email", "web_widget", "telegram", "api", ...
    conversation_id: int | None  # the display id, the one the REST API takes
    message_id: int | None
    attachments: tuple[AudioAttachment, ...] = ()
    inbox_id: int | None = None
