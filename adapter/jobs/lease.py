"""Leases: a worker's claim on its work, kept alive by a heartbeat while the work runs.

Every claim (a transcription's first step, a chunk, a delivery) holds its row for
``TRANSCRIBER_LEASE_SECONDS`` (60 s). A heartbeat thread renews it every third of that for as
long as the work runs, so a long recording is never taken from a live worker however long it
takes, and a killed worker's work is free one lease after its last beat. The recovery sweep
(``adapter.jobs.recovery``) then sends it again.

The sweep finds lost work by the transcriptions' leases (``Ledger.lost``), and a planned
transcription gave its own lease back when its chunks were planned. So whoever runs a chunk
holds the transcription's lease too, under the attempt that planned it (a planned row is never
claimed again, so that attempt stays put until the work is done), renewed by the chunk's own
heartbeat, the chunk first: the transcription's lease runs out after the chunk's, and the
chunk is free when the sweep comes for it. When the chunk's run ends without finishing the
transcription, :func:`let_go` gives that lease back unless another chunk is held (its holder
renews it). The heartbeat always stops before the step writes its outcome, so a late beat
never re-leases a row just given back.

    claim ──▶ lease_until = now + lease ──(every lease/3 while the work runs)──▶ renewed
      └── the worker dies: no more beats ──▶ lease runs out ──▶ the sweep sends it again
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from adapter.settings import Settings
from adapter.store import ChunkClaim, Claim, Ledger, State

log = logging.getLogger(__name__)

#: how many beats a lease lasts: one or two may fail (a database blip) before it runs out
BEATS_PER_LEASE = 3


def renew_period(settings: Settings) -> float:
    """Seconds between two beats of the heartbeat: a third of the lease."""
    return settings.lease_seconds / BEATS_PER_LEASE


@contextmanager
def heartbeat(renew: Callable[[], object], *, period: float, name: str) -> Iterator[None]:
    """Call ``renew`` every ``period`` seconds in a thread until the block ends; the thread has
    stopped when the block is left."""
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


def renewing(
    ledger: Ledger, claim: Claim, state: State, *, period: float, counter: str = "attempts"
) -> AbstractContextManager[None]:
    """Keep the lease of a held transcription alive while the block runs (``counter``: the
    attempt counter the claim was taken on, ``delivery_attempts`` for a delivery)."""
    return heartbeat(
        lambda: ledger.renew(claim, state, counter),
        period=period,
        name=f"transcription {claim.transcription_id}",
    )


def plan_claim(ledger: Ledger, transcription_id: int) -> Claim | None:
    """The claim under which a planned transcription's chunks run (None: no longer planned)."""
    row = ledger.get(transcription_id)
    if row is None or row.state != State.transcribing or row.chunks_total is None:
        return None
    return Claim(transcription_id, row.attempts)


def renewing_chunk(
    ledger: Ledger, claim: ChunkClaim, plan: Claim | None, *, period: float
) -> AbstractContextManager[None]:
    """Keep the lease of a held chunk, and of its transcription, alive while the block runs."""

    def renew() -> None:
        ledger.renew_chunk(claim)
        if plan is not None:
            ledger.renew(plan, State.transcribing)

    if plan is not None:
        ledger.renew(plan, State.transcribing)  # planning gave it back: take it now
    return heartbeat(renew, period=period, name=f"chunk {claim.chunk_id}")


def let_go(ledger: Ledger, plan: Claim) -> bool:
    """Give back a planned transcription's lease when none of its chunks is held; True if it
    was given back. (The ledger's move ``transcribing → transcribing`` under the planning
    attempt is the only write that clears a lease and keeps the state.)"""
    tid = plan.transcription_id
    row = ledger.get(tid)
    if row is None or row.state != State.transcribing or row.lease_until is None:
        return False
    if ledger.chunks_left(tid) > len(ledger.open_chunks(tid)):
        return False  # a chunk is held: its holder renews the lease
    return ledger.end(plan, State.transcribing, reason=row.reason, error=row.error)


__all__ = [
    "BEATS_PER_LEASE",
    "heartbeat",
    "let_go",
    "plan_claim",
    "renew_period",
    "renewing",
    "renewing_chunk",
]
