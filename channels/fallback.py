"""Any other inbox: unknown or future ``Channel::…`` classes, or no channel at all.

How audio arrives
    We cannot know; the contract's rule applies as for every channel (``file_type: "audio"``,
    an ``audio/…`` content type, or an audio extension on a ``file_type: "file"``
    attachment), and only the common media-type table names files without an extension.

Quirks
    - The name is always ``other``: ``conversation.channel`` is free text from the payload,
      and copying it would let a body choose metric names and database values.
"""

from __future__ import annotations

from channels._channel import Channel

CHANNEL = Channel(name="other", chatwoot_types=())
