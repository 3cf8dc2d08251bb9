"""What one process is made of: the parts ``adapter.wiring.build_runtime`` builds once.

Everything long-lived is here and handed on explicitly: the Starlette app keeps the runtime in
``app.state``, the worker binds the actors to it when it starts, the CLI builds one per command.
There is no process-global look-up. ``Queue`` is what the pipeline may send (the actors
implement it), so that the steps depend on this module and not on Dramatiq's actor objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import dramatiq

from adapter.helpdesk.chatwoot import ChatwootClient
from adapter.jobs.backoff import Backoff
from adapter.jobs.limiter import AccountLimiter
from adapter.live.parts import LiveParts
from adapter.secrets import Keyring
from adapter.settings import Settings
from adapter.store import AccountStore, Ledger, ScanStore, UsageStore
from adapter.transcribe import ChunkPolicy
from adapter.usage.prices import Prices


class Queue(Protocol):
    """The messages the service sends: ids only, never objects or secrets."""

    def transcribe(self, transcription_id: int, *, delay_ms: int | None = None) -> None: ...

    def transcribe_many(self, transcription_ids: Sequence[int]) -> int: ...

    def chunk(self, chunk_id: int, *, time_limit_ms: int, delay_ms: int | None = None) -> None: ...

    def deliver(self, transcription_id: int, *, delay_ms: int | None = None) -> None: ...

    def failure_note(self, transcription_id: int, *, delay_ms: int | None = None) -> None: ...

    def on_demand(self, account_id: int, conversation_id: int) -> None: ...


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    keyring: Keyring
    ledger: Ledger
    accounts: AccountStore
    broker: dramatiq.Broker
    queue: Queue
    limiter: AccountLimiter
    backoff: Backoff
    chunks: ChunkPolicy
    chatwoot: ChatwootClient
    scans: ScanStore
    usage: UsageStore
    prices: Prices
    #: live transcription's decode pool and stream counts (``adapter.live``)
    live: LiveParts

    def close(self) -> None:
        self.chatwoot.close()
        self.live.close()


__all__ = ["Queue", "Runtime"]
