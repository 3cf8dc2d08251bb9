"""Website live-chat widget: ``Channel::WebWidget``.

How audio arrives
    The widget has **no customer-side recorder**: a visitor's audio is a file uploaded with
    the paper-clip button (``api/v1/widget/messages_controller.rb``). Typical uploads are
    iPhone Voice Memos (``New Recording 12.m4a``, which ActiveStorage labels ``audio/mp4``),
    Android recorder files (``.m4a``, ``.amr``, ``.3gp``) and desktop exports (``.mp3``,
    ``.wav``, ``.webm``).

Quirks
    - ``audio/mp4`` from the widget is an m4a upload: with no extension we name it ``.m4a``.
    - Browser-made ``.webm`` recordings may be labelled ``video/webm`` and stored as
      ``file_type: "video"``; the contract does not treat those as audio, so they are not
      transcribed.
    - ``content_attributes`` is ``{"in_reply_to": null}`` on widget messages.
"""

from __future__ import annotations

from channels._channel import Channel, extension_hints

CHANNEL = Channel(
    name="web_widget",
    chatwoot_types=("Channel::WebWidget",),
    extension_hints=extension_hints({"audio/mp4": "m4a", "audio/x-m4a": "m4a"}),
)
