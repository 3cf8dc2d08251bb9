"""Chatwoot inbox channels and the decision "which attachments to transcribe" (sans-I/O).

One module per Chatwoot inbox channel says how that channel delivers audio and what is
special about it (``whatsapp``, ``email``, ``web_widget``, ``telegram``, ``api``, ``sms``,
``facebook``, ``instagram``, ``line``; ``fallback`` for the rest). The receiver asks only
two things::

    from channels import decide
    decision = decide(payload)          # after signature check and JSON parsing
    decision.status, decision.reason    # "accepted"/"ignored", "audio"/"private"/...
    decision.attachments                # one AudioAttachment per audio attachment

and ``channel_for("Channel::Whatsapp").name == "whatsapp"`` when it needs a channel's name.
The reconciler and backfill read messages from Chatwoot's API instead of webhooks; they ask
``decide_listed(message, conversation)``, which puts them in a webhook's shape and applies the
same rules.
"""

from __future__ import annotations

from channels._channel import Channel
from channels._decide import decide, decide_listed
from channels._registry import CHANNELS, channel_for, channel_for_conversation
from channels.base import AudioAttachment, Decision

__all__ = [
    "CHANNELS",
    "AudioAttachment",
    "Channel",
    "Decision",
    "channel_for",
    "channel_for_conversation",
    "decide",
    "decide_listed",
]
