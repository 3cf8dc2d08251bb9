"""``decide``: which attachments of one webhook body to transcribe (sans-I/O).

The receiver calls it after verifying the signature and parsing the JSON. The rules are the
contract's ("What gets transcribed"), checked in this order, the first that fails naming
the reason of an ``ignored`` decision:

- ``malformed``: the body is not a JSON object (checked first), or a message with audio
  lacks a usable conversation or message id (checked last: nothing could be written back);
- ``event``: ``event`` is not ``message_created`` / ``message_updated``;
- ``own_note``: ``content_attributes.transcriber`` is present (one of our notes);
- ``not_incoming``: ``message_type`` is not ``"incoming"`` (nor ``0``, the integer form);
- ``private``: ``private`` is anything but ``false``/absent (fails closed);
- ``no_audio``: no attachment is audio, or none has a usable id and http(s) URL;

otherwise ``accepted`` with reason ``audio`` and one ``AudioAttachment`` per audio
attachment, in payload order, deduplicated by id.

Our own notes are checked before the message type so that they are reported as what they
are; in practice they are also outgoing and private. Chatwoot's message builder keeps only
known ``content_attributes`` keys (``in_reply_to``, ``items``…), so the echo of a note may
come back *without* ``transcriber``: the outgoing/private rules are what reliably stop it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from channels._channel import Channel
from channels._payload import attachment_facts, items, mapping, positive_id, short_text
from channels._registry import channel_for_conversation
from channels.base import AudioAttachment, Decision

logger = logging.getLogger(__name__)

EVENTS = frozenset({"message_created", "message_updated"})
OWN_NOTE_KEY = "transcriber"

#: ``message_type`` of an incoming message: the webhook's string, or the integer enum value
#: Chatwoot uses inside ``conversation.messages``
_INCOMING = "incoming"
_INCOMING_INT = 0


def decide(payload: Mapping[str, object]) -> Decision:
    """What to do with one authenticated, parsed webhook body. Never raises.

    ``decide_strict`` does the work; this wrapper turns a bug into an ``ignored`` decision
    (reason ``malformed``) and logs it, so that the receiver never answers 500 because of a
    body. The property tests run ``decide_strict`` so that such a bug fails them.
    """
    try:
        return decide_strict(payload)
    except Exception:  # a bug here must not become a 500; the tests run decide_strict
        logger.exception("channels.decide failed on a webhook body; ignoring it")
        return Decision("ignored", "malformed", None, "other", None, None)


def decide_strict(payload: object) -> Decision:
    """``decide`` without the safety net (for tests)."""
    body = mapping(payload)
    if body is None:
        return Decision("ignored", "malformed", None, "other", None, None)

    event = short_text(body.get("event"))
    conversation = mapping(body.get("conversation"))
    channel = channel_for_conversation(conversation)
    conversation_id = positive_id(conversation.get("id")) if conversation is not None else None
    message_id = positive_id(body.get("id"))
    source_message = _conversation_message(conversation, message_id)

    def ignored(reason: str) -> Decision:
        return Decision("ignored", reason, event, channel.name, conversation_id, message_id)

    if event not in EVENTS:
        return ignored("event")
    if _is_own_note(body, source_message):
        return ignored("own_note")
    if not _is_incoming(body.get("message_type")):
        return ignored("not_incoming")
    if _is_private(body.get("private")):
        return ignored("private")

    attachments = _audio_attachments(channel, body, source_message)
    if not attachments:
        return ignored("no_audio")
    if conversation_id is None or message_id is None:
        return ignored("malformed")
    return Decision(
        "accepted",
        "audio",
        event,
        channel.name,
        conversation_id,
        message_id,
        attachments,
        _inbox_id(body, conversation),
    )


def decide_listed(message: Mapping[str, object], conversation: Mapping[str, object]) -> Decision:
    """The same decision for a message read from Chatwoot's API instead of a webhook.

    ``message`` is an entry of ``GET …/conversations/{id}/messages`` (``message_type`` an
    integer there), ``conversation`` the conversation's entry of ``GET …/conversations`` (its
    channel under ``meta.channel``). They are put in a webhook's shape, a ``message_created``,
    so that every path goes through the same rules. Never raises.
    """
    meta = mapping(conversation.get("meta"))
    as_webhook = {
        **message,
        "event": "message_created",
        "conversation": {
            **conversation,
            "channel": conversation.get("channel") or (meta.get("channel") if meta else None),
        },
    }
    return decide(as_webhook)


def _inbox_id(
    body: Mapping[object, object], conversation: Mapping[object, object] | None
) -> int | None:
    inbox = positive_id(body.get("inbox_id"))
    if inbox is None and conversation is not None:
        inbox = positive_id(conversation.get("inbox_id"))
    return inbox


def _is_incoming(message_type: object) -> bool:
    if isinstance(message_type, bool):
        return False
    return message_type == _INCOMING or (
        isinstance(message_type, int) and message_type == _INCOMING_INT
    )


def _is_private(private: object) -> bool:
    # Absent/null/false is a public message. ``true`` is private, and so is anything we do
    # not understand ("yes", 1, {}): failing closed costs one missed transcript at worst.
    return not (private is None or private is False)


def _is_own_note(
    body: Mapping[object, object], source_message: Mapping[object, object] | None
) -> bool:
    for holder in (body, source_message):
        if holder is None:
            continue
        attributes = mapping(holder.get("content_attributes"))
        if attributes is not None and OWN_NOTE_KEY in attributes:
            return True
    return False


def _conversation_message(
    conversation: Mapping[object, object] | None, message_id: int | None
) -> Mapping[object, object] | None:
    """The entry of ``conversation.messages`` that is this message, if any."""
    if conversation is None or message_id is None:
        return None
    for raw in items(conversation.get("messages")):
        message = mapping(raw)
        if message is not None and positive_id(message.get("id")) == message_id:
            return message
    return None


def _audio_attachments(
    channel: Channel,
    body: Mapping[object, object],
    source_message: Mapping[object, object] | None,
) -> tuple[AudioAttachment, ...]:
    """Audio attachments from the top level, else from the same message in the conversation."""
    facts = [f for f in map(attachment_facts, items(body.get("attachments"))) if f is not None]
    if not facts and source_message is not None:
        facts = [
            f
            for f in map(attachment_facts, items(source_message.get("attachments")))
            if f is not None
        ]
    seen: set[int] = set()
    audio: list[AudioAttachment] = []
    for fact in facts:
        if fact.attachment_id in seen or not channel.is_audio(fact):
            continue
        seen.add(fact.attachment_id)
        audio.append(channel.audio_attachment(fact))
    return tuple(audio)
