"""How many audio attachments one message may queue (pure; the cap is the caller's).

Chatwoot accepts at most 15 attachments on a message; a webhook or a listing claiming more is
not what Chatwoot sends, and each attachment may become a paid transcription. The receiver
(``adapter.web.sansio.parse_webhook``) and the scans (``adapter.scan.sift``) keep the first
``TRANSCRIBER_MAX_ATTACHMENTS`` of a message, in its order, and log the rest.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from channels.base import Decision

log = logging.getLogger(__name__)


def cap_attachments(decision: Decision, limit: int | None) -> Decision:
    """``decision`` with at most ``limit`` attachments (the first ones, in the message's
    order); the rest are logged and dropped. None: no cap."""
    if limit is None or len(decision.attachments) <= limit:
        return decision
    dropped = decision.attachments[limit:]
    log.warning(
        "message %s of conversation %s has %d audio attachments: the first %d are "
        "transcribed, attachments %s are not (TRANSCRIBER_MAX_ATTACHMENTS)",
        decision.message_id,
        decision.conversation_id,
        len(decision.attachments),
        limit,
        ", ".join(str(a.attachment_id) for a in dropped),
    )
    return replace(decision, attachments=decision.attachments[:limit])


__all__ = ["cap_attachments"]
