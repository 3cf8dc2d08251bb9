"""SMS/MMS: ``Channel::Sms`` (Bandwidth) and ``Channel::TwilioSms`` (Twilio SMS).

How audio arrives
    Voice memos sent by MMS. Phones encode them as AMR-NB (``audio/amr``, ``.amr``) or as
    3GPP containers (``audio/3gpp``, ``.3gp``); iPhones sometimes send ``.m4a`` or ``.caf``.
    Chatwoot fetches the media from the carrier API and stores it with a ``file_type``
    derived from the content type.

Quirks
    - Twilio media are named by their SID (``ME0123…``) with **no extension**, so the
      content type is the only clue; we name ``audio/amr`` ``.amr`` and ``audio/3gpp``
      ``.3gp``.
    - A 3GP memo labelled ``video/3gpp`` is stored as ``file_type: "video"``; the contract
      does not count it as audio.
    - A ``Channel::TwilioSms`` inbox with the WhatsApp medium is WhatsApp, not SMS: see
      ``channels.whatsapp`` (the registry tells them apart by the contact's ``source_id``).
"""

from __future__ import annotations

from channels._channel import Channel, extension_hints

CHANNEL = Channel(
    name="sms",
    chatwoot_types=("Channel::Sms", "Channel::TwilioSms"),
    extension_hints=extension_hints(
        {"audio/amr": "amr", "audio/amr-wb": "amr", "audio/3gpp": "3gp", "audio/3gpp2": "3gp"}
    ),
)
