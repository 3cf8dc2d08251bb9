"""Persistence: models, engine/session helpers, migrations."""

from adapter.store.db import (
    dispose_engines,
    get_engine,
    make_engine,
    migrate,
    ping,
    session_scope,
)
from adapter.store.models import (
    ACTIVE_STATES,
    Account,
    State,
    TranscriptChunk,
    Transcription,
    WebhookDelivery,
    utcnow,
)

__all__ = [
    "ACTIVE_STATES",
    "Account",
    "State",
    "TranscriptChunk",
    "Transcription",
    "WebhookDelivery",
    "dispose_engines",
    "get_engine",
    "make_engine",
    "migrate",
    "ping",
    "session_scope",
    "utcnow",
]
