"""Instagram direct messages: ``Channel::Instagram`` and Instagram through a Facebook page.

How audio arrives
    Instagram voice messages arrive like Messenger's: attachments of type ``audio`` that
    Chatwoot stores as ``file_type: "audio"``, MP4 containers with AAC audio whose content
    type may be ``audio/mp4``, ``audio/aac`` or ``video/mp4``.

Quirks
    - Two kinds of inbox deliver Instagram: ``Channel::Instagram`` (Instagram login) and a
      ``Channel::FacebookPage`` with an Instagram account attached, recognised by the
      conversation's ``additional_attributes.type == "instagram_direct_message"``.
    - Story mentions and replies are images or videos and are not transcribed.
    - With no extension, ``audio/mp4`` is named ``.mp4``.
"""

from __future__ import annotations

from channels._channel import Channel, extension_hints

#: ``conversation.additional_attributes.type`` of Instagram DMs in a Facebook page inbox
FACEBOOK_INSTAGRAM_CONVERSATION_TYPE = "instagram_direct_message"

CHANNEL = Channel(
    name="instagram",
    chatwoot_types=("Channel::Instagram",),
    extension_hints=extension_hints(
        {"audio/mp4": "mp4", "video/mp4": "mp4", "audio/aac": "aac", "audio/x-aac": "aac"}
    ),
)
