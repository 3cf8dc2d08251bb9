"""Persistence: the only package that opens a session or builds a query.

- ``ledger``: transcriptions and their chunks: intake, claims, every state change, queries;
- ``accounts``: helpdesk account rows;
- ``usage``: usage grouped per key, engine and model; webhook-to-note timings; budget alerts;
- ``sessions``: console sessions ended by signing out;
- ``search``: full-text search over transcripts (PostgreSQL text search, SQLite FTS5);
- ``scans``: the reconciler's and backfill's watermarks, leases and scanned conversations;
- ``states``: the states and the allowed moves between them, as data;
- ``models``: the tables; ``intake``: the batched insert behind ``Ledger.record``;
- ``db``: engines, transactions, migrations (``transcriber migrate``).
"""

from adapter.store.accounts import (
    AccountExists,
    AccountMissing,
    AccountStore,
    StreamTokenTaken,
    WebhookSecrets,
)
from adapter.store.db import (
    UNAVAILABLE,
    StoreUnavailable,
    dispose_engines,
    get_engine,
    make_engine,
    migrate,
    ping,
)
from adapter.store.intake import Delivery, FoundResult, IntakeResult, Source
from adapter.store.ledger import (
    STREAM,
    ChunkClaim,
    ChunkWork,
    Claim,
    ExtrasMade,
    Ledger,
    NotRetryable,
    Plan,
    PlannedChunk,
    StreamRecord,
    Translation,
)
from adapter.store.models import (
    Account,
    AccountScan,
    BudgetAlert,
    TranscriptChunk,
    Transcription,
    WebhookDelivery,
    utcnow,
)
from adapter.store.scans import Covered, ScanLease, ScanStore
from adapter.store.sessions import SessionStore
from adapter.store.states import (
    ACTIVE_STATES,
    FINAL_STATES,
    TRANSITIONS,
    ChunkState,
    FailureNote,
    IllegalTransition,
    State,
)
from adapter.store.usage import Timings, UsageCell, UsageStore

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "STREAM",
    "TRANSITIONS",
    "UNAVAILABLE",
    "Account",
    "AccountExists",
    "AccountMissing",
    "AccountScan",
    "AccountStore",
    "BudgetAlert",
    "ChunkClaim",
    "ChunkState",
    "ChunkWork",
    "Claim",
    "Covered",
    "Delivery",
    "ExtrasMade",
    "FailureNote",
    "FoundResult",
    "IllegalTransition",
    "IntakeResult",
    "Ledger",
    "NotRetryable",
    "Plan",
    "PlannedChunk",
    "ScanLease",
    "ScanStore",
    "SessionStore",
    "Source",
    "State",
    "StoreUnavailable",
    "StreamRecord",
    "StreamTokenTaken",
    "Timings",
    "TranscriptChunk",
    "Transcription",
    "Translation",
    "UsageCell",
    "UsageStore",
    "WebhookDelivery",
    "WebhookSecrets",
    "dispose_engines",
    "get_engine",
    "make_engine",
    "migrate",
    "ping",
    "utcnow",
]
