"""API channel: ``Channel::Api`` (custom integrations posting through Chatwoot's API).

How audio arrives
    The integration itself creates the *incoming* message (``message_builder.rb`` allows
    ``incoming`` only for ``Channel::Api``) and uploads files as multipart ``attachments[]``.
    ``file_type`` follows the content type the integration sent, so anything is possible:
    IVR or call-centre recordings (``.mp3``, ``.wav``), bridged voice notes from other
    messengers (``.ogg``, ``.opus``) or files typed ``application/octet-stream``.

Quirks
    - The content type is whatever the client declared; an audio file declared as
      ``application/octet-stream`` is still audio when its extension says so.
    - ``source_id`` is supplied by the client and may be anything.
    - An API inbox can also receive our own note back through its ``webhook_url``; it is
      outgoing and private, so it is ignored like on every other channel.
"""

from __future__ import annotations

from channels._channel import Channel

CHANNEL = Channel(name="api", chatwoot_types=("Channel::Api",))
