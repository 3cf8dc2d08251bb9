"""WhatsApp: ``Channel::Whatsapp`` (WhatsApp Cloud API, 360dialog) and Twilio WhatsApp.

How audio arrives
    A customer's push-to-talk voice note is a WhatsApp ``audio`` message (``voice: true``).
    Chatwoot downloads the media from Meta and stores it with ``file_type: "audio"``. The
    bytes are Ogg/Opus, which ActiveStorage (Marcel) labels ``audio/opus``, not ``audio/ogg``
    (Chatwoot's ``whatsapp_cloud_service.rb`` says as much). Forwarded music and audio files
    sent with the attach button arrive the same way as ``audio/mpeg``, ``audio/mp4``,
    ``audio/aac`` or ``audio/amr``.

Quirks
    - The file name comes from Meta's media download (``voice_note.ogg`` in our fixture, not
      checked against live traffic); it may be some other name or have **no extension**.
      With no extension and ``audio/opus`` we name the file ``.ogg``.
    - An audio file sent as a WhatsApp *document* is stored with ``file_type: "file"``; it
      is audio when its content type is ``audio/…`` (e.g. ``audio/ogg``) or its extension
      is an audio one (``.mp3`` labelled ``application/octet-stream``).
    - Twilio WhatsApp is a ``Channel::TwilioSms`` inbox with the WhatsApp medium; its
      conversations are recognised by the contact's ``source_id`` starting with
      ``whatsapp:``. Twilio's media names are media SIDs without an extension and the
      content type is usually ``audio/ogg``.
    - The agent's own recorded replies (``message_type: "outgoing"``, uuid ``.ogg`` names)
      are never transcribed.
"""

from __future__ import annotations

from channels._channel import Channel, extension_hints

#: ``contact_inbox.source_id`` prefix of a Twilio WhatsApp conversation
TWILIO_WHATSAPP_SOURCE_PREFIX = "whatsapp:"

CHANNEL = Channel(
    name="whatsapp",
    chatwoot_types=("Channel::Whatsapp",),
    extension_hints=extension_hints({"audio/opus": "ogg", "audio/ogg": "ogg"}),
)
