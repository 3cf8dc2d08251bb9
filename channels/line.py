"""LINE: ``Channel::Line``.

How audio arrives
    LINE ``audio`` messages are m4a (AAC in MP4) recordings. Chatwoot downloads them from the
    LINE content API and stores them as ``file_type: "audio"``; their content type is
    ``audio/x-m4a`` or ``audio/mp4`` depending on the detector.

Quirks
    - The stored name is built from LINE's message id and **may lack an extension**; with
      an m4a content type we name the file ``.m4a``.
    - Audio sent as a LINE *file* message is ``file_type: "file"`` and is recognised by its
      content type or extension.
"""

from __future__ import annotations

from channels._channel import Channel, extension_hints

CHANNEL = Channel(
    name="line",
    chatwoot_types=("Channel::Line",),
    extension_hints=extension_hints({"audio/mp4": "m4a", "audio/x-m4a": "m4a"}),
)
