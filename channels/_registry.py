"""The registry: Chatwoot's ``conversation.channel`` value → the channel module's ``Channel``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from channels import (
    api,
    email,
    facebook,
    fallback,
    instagram,
    line,
    sms,
    telegram,
    web_widget,
    whatsapp,
)
from channels._channel import Channel
from channels._payload import mapping

#: every known channel, in the order the docs list them; the fallback last
CHANNELS: tuple[Channel, ...] = (
    whatsapp.CHANNEL,
    email.CHANNEL,
    web_widget.CHANNEL,
    telegram.CHANNEL,
    api.CHANNEL,
    sms.CHANNEL,
    facebook.CHANNEL,
    instagram.CHANNEL,
    line.CHANNEL,
    fallback.CHANNEL,
)

_BY_CHATWOOT_TYPE: Mapping[str, Channel] = MappingProxyType(
    {chatwoot_type: channel for channel in CHANNELS for chatwoot_type in channel.chatwoot_types}
)


def channel_for(chatwoot_channel_type: str | None) -> Channel:
    """The channel for a Chatwoot channel class name (``"Channel::Whatsapp"``), else the fallback.

    Exact match only: the names are Ruby class names and Chatwoot sends them verbatim.
    """
    if not isinstance(chatwoot_channel_type, str):
        return fallback.CHANNEL
    return _BY_CHATWOOT_TYPE.get(chatwoot_channel_type, fallback.CHANNEL)


def channel_for_conversation(conversation: object) -> Channel:
    """The channel of a webhook's ``conversation`` object, with the two inbox-sharing cases.

    - ``Channel::TwilioSms`` whose contact ``source_id`` starts with ``whatsapp:`` is WhatsApp.
    - ``Channel::FacebookPage`` whose ``additional_attributes.type`` is
      ``instagram_direct_message`` is Instagram.
    """
    data = mapping(conversation)
    if data is None:
        return fallback.CHANNEL
    chatwoot_type = data.get("channel")
    channel = channel_for(chatwoot_type if isinstance(chatwoot_type, str) else None)
    if chatwoot_type == "Channel::TwilioSms":
        contact_inbox = mapping(data.get("contact_inbox"))
        source_id = contact_inbox.get("source_id") if contact_inbox is not None else None
        if isinstance(source_id, str) and source_id.startswith(
            whatsapp.TWILIO_WHATSAPP_SOURCE_PREFIX
        ):
            return whatsapp.CHANNEL
    if channel is facebook.CHANNEL:
        attributes = mapping(data.get("additional_attributes"))
        kind = attributes.get("type") if attributes is not None else None
        if kind == instagram.FACEBOOK_INSTAGRAM_CONVERSATION_TYPE:
            return instagram.CHANNEL
    return channel
