"""Telegram: ``Channel::Telegram`` (a bot token connected to an inbox).

How audio arrives
    Voice messages (Telegram ``voice``) are Ogg/Opus files named by the Bot API's file path,
    e.g. ``file_37.oga``, stored as ``file_type: "audio"`` with content type ``audio/opus``
    (``telegram/incoming_message_service.rb``). Music sent as Telegram ``audio`` keeps its
    real name (``.mp3``, ``.m4a``) and is ``file_type: "audio"`` too.

Quirks
    - ``.oga`` is Ogg audio; it is in the contract's extension list. With no extension and
      an Ogg/Opus content type we name the file ``.oga``, as Telegram does.
    - An audio file sent as a *document* is ``file_type: "file"`` and is recognised by its
      content type or extension.
    - Round video notes (``video_note``) are ``file_type: "video"`` and are not audio.
    - The message's ``source_id`` is Telegram's ``message_id``.
"""

from __future__ import annotations

from channels._channel import Channel, extension_hints

CHANNEL = Channel(
    name="telegram",
    chatwoot_types=("Channel::Telegram",),
    extension_hints=extension_hints({"audio/opus": "oga", "audio/ogg": "oga"}),
)
