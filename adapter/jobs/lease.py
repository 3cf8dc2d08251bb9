"""Keep a claim's lease alive while its work runs (a heartbeat thread).

Leases are short (``TRANSCRIBER_STUCK_AFTER_SECONDS``) so that a killed worker's work is
taken back soon; the heartbeat renews them every third of that while the holder lives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from adapter.store import ChunkClaim, Claim, Ledger, State

log = logging.getLogger(__name__)


@contextmanager
def heartbeat(renew: Callable[[], object], *, period: float, name: str) -> Iterator[None]:
    """Call ``renew`` every ``period`` seconds in a thread until the block ends."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(period):
            try:
                renew()
            except Exception:
                log.warning("could not renew the lease of %s", name)

    thread = threading.Thread(target=run, name=f"lease-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def renewing(ledger: Ledger, claim: Claim, state: State, *, period: float) -> Any:
    """Keep the lease of a held transcription alive while the block runs."""
    return heartbeat(
        lambda: ledger.renew(claim, state),
        period=period,
        name=f"transcription {claim.transcription_id}",
    )


def renewing_chunk(ledger: Ledger, claim: ChunkClaim, *, period: float) -> Any:
    """Keep the lease of a held chunk alive while its engine call runs."""
    return heartbeat(
        lambda: ledger.renew_chunk(claim), period=period, name=f"chunk {claim.chunk_id}"
    )


__all__ = ["heartbeat", "renewing", "renewing_chunk"]
