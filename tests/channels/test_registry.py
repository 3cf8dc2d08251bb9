"""The registry: Chatwoot channel class names → channel modules."""

from __future__ import annotations

import importlib

import pytest

import channels
from channels import CHANNELS, Channel, channel_for, channel_for_conversation


@pytest.mark.parametrize(
    ("chatwoot_type", "name"),
    [
        ("Channel::Whatsapp", "whatsapp"),
        ("Channel::Email", "email"),
        ("Channel::WebWidget", "web_widget"),
        ("Channel::Telegram", "telegram"),
        ("Channel::Api", "api"),
        ("Channel::Sms", "sms"),
        ("Channel::TwilioSms", "sms"),
        ("Channel::FacebookPage", "facebook"),
        ("Channel::Instagram", "instagram"),
        ("Channel::Line", "line"),
        ("Channel::TwitterProfile", "other"),
        ("channel::whatsapp", "other"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_channel_for(chatwoot_type: str | None, name: str) -> None:
    channel = channel_for(chatwoot_type)
    assert isinstance(channel, Channel)
    assert channel.name == name


def test_names_are_unique_and_types_claimed_once() -> None:
    names = [c.name for c in CHANNELS]
    assert len(names) == len(set(names))
    types = [t for c in CHANNELS for t in c.chatwoot_types]
    assert len(types) == len(set(types))


@pytest.mark.parametrize(
    "module",
    [
        "whatsapp",
        "email",
        "web_widget",
        "telegram",
        "api",
        "sms",
        "facebook",
        "instagram",
        "line",
        "fallback",
    ],
)
def test_each_channel_module_documents_audio_and_quirks(module: str) -> None:
    mod = importlib.import_module(f"channels.{module}")
    doc = mod.__doc__ or ""
    assert "How audio arrives" in doc
    assert "Quirks" in doc
    assert mod.CHANNEL in CHANNELS


def test_twilio_whatsapp_is_whatsapp() -> None:
    conversation = {
        "channel": "Channel::TwilioSms",
        "contact_inbox": {"source_id": "whatsapp:+5511987654321"},
    }
    assert channel_for_conversation(conversation).name == "whatsapp"
    conversation["contact_inbox"] = {"source_id": "+5511987654321"}
    assert channel_for_conversation(conversation).name == "sms"


def test_instagram_through_a_facebook_page_is_instagram() -> None:
    conversation = {
        "channel": "Channel::FacebookPage",
        "additional_attributes": {"type": "instagram_direct_message"},
    }
    assert channel_for_conversation(conversation).name == "instagram"
    conversation["additional_attributes"] = {}
    assert channel_for_conversation(conversation).name == "facebook"


@pytest.mark.parametrize("conversation", [None, "Channel::Whatsapp", [], 3, {"channel": 7}])
def test_channel_for_conversation_odd_shapes(conversation: object) -> None:
    assert channel_for_conversation(conversation).name == "other"


def test_public_surface() -> None:
    for name in channels.__all__:
        assert hasattr(channels, name)
