"""Facebook Messenger: ``Channel::FacebookPage``.

How audio arrives
    Messenger voice clips arrive as attachments of type ``audio``; Chatwoot stores them with
    ``file_type: "audio"`` from the Messenger attachment type, not from the bytes. The clips
    are MP4 files with an AAC track (``audioclip-1700000000000-1234.mp4``), so their content
    type is ``audio/mp4``, ``audio/aac`` or even ``video/mp4``: ``file_type`` is what makes
    them audio.

Quirks
    - ``video/mp4`` with ``file_type: "audio"`` is audio (a voice clip); ``video/mp4`` with
      ``file_type: "video"`` is a video and is not transcribed.
    - With no extension, ``audio/mp4`` is named ``.mp4`` (what Messenger sends) rather than
      ``.m4a``.
    - Instagram direct messages of a page connected through Facebook are also
      ``Channel::FacebookPage`` inboxes; their conversations carry
      ``additional_attributes.type == "instagram_direct_message"`` and are reported as
      ``instagram`` (see ``channels.instagram``).
"""

from __future__ import annotations

from channels._channel import Channel, extension_hints

CHANNEL = Channel(
    name="facebook",
    chatwoot_types=("Channel::FacebookPage",),
    extension_hints=extension_hints(
        {"audio/mp4": "mp4", "video/mp4": "mp4", "audio/aac": "aac", "audio/x-aac": "aac"}
    ),
)
