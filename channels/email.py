"""Email: ``Channel::Email`` (IMAP, forwarding address, Microsoft/Google OAuth mailboxes).

How audio arrives
    Every MIME attachment of an inbound email becomes a Chatwoot attachment
    (``mailbox_helper.rb#process_regular_attachments``); ``file_type`` follows the content
    type, so voicemail forwards (``audio/mpeg``, ``audio/wav``), call recordings and
    dictations are ``file_type: "audio"``. One email can carry several audio files next to
    PDFs and images: each audio attachment is transcribed on its own, the rest is ignored.

Quirks
    - Mailers often send ``application/octet-stream`` for ``.m4a``, ``.amr`` or ``.wav``;
      Chatwoot then stores ``file_type: "file"`` and only the extension tells us it is audio.
    - File names are whatever the sender's client wrote, percent-encoded in the URL
      (``part-1.mp3``); they can contain spaces and non-ASCII letters.
    - The message's ``content_type`` is ``"incoming_email"`` and ``content_attributes``
      holds the whole ``email`` block; neither matters to the decision.
"""

from __future__ import annotations

from channels._channel import Channel

CHANNEL = Channel(name="email", chatwoot_types=("Channel::Email",))
